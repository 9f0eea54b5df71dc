//! The read side: filters, ordering, cursor pages, full text, facets, lookups.
//! Every filter compiles to SQL over the `search` table.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use greenroom_model::query::{FieldOp, Predicate};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sqlx::Row;

use crate::processing::TOO_LONG;
use crate::sql::Sql;
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderField {
    pub field: String,
    pub order: Order,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullTextFilter {
    pub term: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// What a by-query request selects; carried inside cursors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityQuery {
    pub filter: Option<Predicate>,
    pub full_text: Option<FullTextFilter>,
    /// Only the first field is applied (as Backstage does).
    pub order: Option<OrderField>,
}

/// The opaque by-query cursor (base64 JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    #[serde(default)]
    order_fields: Vec<OrderField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full_text_filter: Option<FullTextFilter>,
    /// `[sortValue, entityId]` of the row the page continues from.
    order_field_values: Vec<Option<String>>,
    is_previous: bool,
    total_items: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        B64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| StoreError::Input("Malformed cursor, could not be decoded".into()))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| StoreError::Input("Malformed cursor, could not be parsed".into()))
    }

    /// The order-field value of the row the page continues from.
    fn sort_value(&self) -> String {
        self.order_field_values
            .first()
            .cloned()
            .flatten()
            .unwrap_or_default()
    }

    /// The entity id of the row the page continues from.
    fn last_id(&self) -> String {
        self.order_field_values
            .last()
            .cloned()
            .flatten()
            .unwrap_or_default()
    }

    pub fn query(&self) -> Result<EntityQuery, StoreError> {
        Ok(EntityQuery {
            filter: match &self.query {
                Some(v) => Some(
                    greenroom_model::query::parse_predicate(v)
                        .map_err(|e| StoreError::Input(e.to_string()))?,
                ),
                None => None,
            },
            full_text: self.full_text_filter.clone(),
            order: self.order_fields.first().cloned(),
        })
    }
}

pub struct EntitiesPage {
    /// Final entities as stored JSON text, passed through without re-parsing.
    pub items: Vec<Box<RawValue>>,
    pub total_items: i64,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

/// Legacy list options (`GET /entities` with pagination).
pub struct ListOptions {
    pub filter: Option<Predicate>,
    pub order: Vec<OrderField>,
    pub offset: i64,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

#[derive(Clone)]
pub struct Facet {
    pub name: String,
    pub values: Vec<FacetCount>,
}

/// Predicate back to its JSON form (stored in cursors).
pub fn predicate_to_json(p: &Predicate) -> Value {
    match p {
        Predicate::All(ps) => json!({"$all": ps.iter().map(predicate_to_json).collect::<Vec<_>>()}),
        Predicate::Any(ps) => json!({"$any": ps.iter().map(predicate_to_json).collect::<Vec<_>>()}),
        Predicate::Not(p) => json!({"$not": predicate_to_json(p)}),
        Predicate::Field { key, op } => {
            let v = match op {
                FieldOp::Eq(v) => json!(v),
                FieldOp::Exists(b) => json!({"$exists": b}),
                FieldOp::In(vs) => json!({"$in": vs}),
                FieldOp::HasPrefix(v) => json!({"$hasPrefix": v}),
            };
            let mut map = serde_json::Map::new();
            map.insert(key.clone(), v);
            Value::Object(map)
        }
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

const ALL_IDS: &str = "SELECT entity_id FROM final_entities";

/// Appends a SELECT yielding the ids of the entities matching `p`, each once.
/// Leaves are range scans of the search table's (key, value, entity_id) key;
/// `$all`/`$any`/`$not` become INTERSECT/UNION/EXCEPT.
fn compile_set(p: &Predicate, sql: &mut Sql) {
    let compound = |ps: &[Predicate], op: &str, sql: &mut Sql| {
        for (i, child) in ps.iter().enumerate() {
            if i > 0 {
                sql.push(op);
            }
            sql.push("SELECT entity_id FROM (");
            compile_set(child, sql);
            sql.push(")");
        }
    };
    match p {
        Predicate::All(ps) if ps.is_empty() => {
            sql.push(ALL_IDS);
        }
        Predicate::Any(ps) if ps.is_empty() => {
            sql.push("SELECT entity_id FROM final_entities WHERE 1 = 0");
        }
        Predicate::All(ps) if ps.len() == 1 => compile_set(&ps[0], sql),
        Predicate::Any(ps) if ps.len() == 1 => compile_set(&ps[0], sql),
        Predicate::All(ps) => compound(ps, " INTERSECT ", sql),
        Predicate::Any(ps) => compound(ps, " UNION ", sql),
        Predicate::Not(inner) => {
            sql.push(ALL_IDS).push(" EXCEPT SELECT entity_id FROM (");
            compile_set(inner, sql);
            sql.push(")");
        }
        Predicate::Field { key, op } => match op {
            FieldOp::Eq(v) => {
                // (key, value, entity_id) is the primary key: ids are unique here.
                sql.push("SELECT entity_id FROM search WHERE key = ")
                    .bind(key.clone());
                sql.push(" AND value = ").bind(v.clone());
            }
            FieldOp::In(vs) => {
                sql.push("SELECT DISTINCT entity_id FROM search WHERE key = ")
                    .bind(key.clone());
                sql.push(" AND value IN ").bind_list(vs.iter());
            }
            FieldOp::HasPrefix(prefix) => {
                sql.push("SELECT DISTINCT entity_id FROM search WHERE key = ")
                    .bind(key.clone());
                sql.push(" AND value >= ").bind(prefix.clone());
                sql.push(" AND value < ")
                    .bind(format!("{prefix}\u{10FFFF}"));
            }
            FieldOp::Exists(true) => {
                sql.push("SELECT DISTINCT entity_id FROM search WHERE key = ")
                    .bind(key.clone());
            }
            FieldOp::Exists(false) => {
                sql.push(ALL_IDS)
                    .push(" EXCEPT SELECT entity_id FROM search WHERE key = ")
                    .bind(key.clone());
            }
        },
    }
}

/// The same predicate as a condition on the row aliased `s`: each leaf is a
/// primary-key lookup for that one entity. Cheap for an ordered walk that
/// stops after a page, where materializing a large id set is not.
fn compile_row(p: &Predicate, sql: &mut Sql) {
    let join = |ps: &[Predicate], op: &str, sql: &mut Sql| {
        sql.push("(");
        for (i, child) in ps.iter().enumerate() {
            if i > 0 {
                sql.push(op);
            }
            compile_row(child, sql);
        }
        sql.push(")");
    };
    match p {
        Predicate::All(ps) if ps.is_empty() => {
            sql.push("1 = 1");
        }
        Predicate::Any(ps) if ps.is_empty() => {
            sql.push("1 = 0");
        }
        Predicate::All(ps) => join(ps, " AND ", sql),
        Predicate::Any(ps) => join(ps, " OR ", sql),
        Predicate::Not(inner) => {
            sql.push("NOT (");
            compile_row(inner, sql);
            sql.push(")");
        }
        Predicate::Field { key, op } => {
            let negated = matches!(op, FieldOp::Exists(false));
            sql.push(if negated { "NOT EXISTS" } else { "EXISTS" })
                .push(" (SELECT 1 FROM search f WHERE f.key = ")
                .bind(key.clone());
            match op {
                FieldOp::Eq(v) => {
                    sql.push(" AND f.value = ").bind(v.clone());
                }
                FieldOp::In(vs) => {
                    sql.push(" AND f.value IN ").bind_list(vs.iter());
                }
                FieldOp::HasPrefix(prefix) => {
                    sql.push(" AND f.value >= ").bind(prefix.clone());
                    sql.push(" AND f.value < ")
                        .bind(format!("{prefix}\u{10FFFF}"));
                }
                FieldOp::Exists(_) => {}
            }
            sql.push(" AND f.entity_id = s.entity_id)");
        }
    }
}

/// A query's full-text term and the fields it looks in (lower-cased).
fn full_text_of(q: &EntityQuery) -> Option<(String, Vec<String>)> {
    q.full_text.as_ref().and_then(|ft| {
        let term = ft.term.trim().to_lowercase();
        (!term.is_empty()).then(|| {
            let fields: Vec<String> = if ft.fields.is_empty() {
                vec![
                    q.order
                        .as_ref()
                        .map_or("metadata.uid".to_string(), |o| o.field.to_lowercase()),
                ]
            } else {
                ft.fields.iter().map(|f| f.to_lowercase()).collect()
            };
            (term, fields)
        })
    })
}

/// `compile_query_set` as a condition on the row aliased `s`.
fn compile_query_row(q: &EntityQuery, sql: &mut Sql) {
    match &q.filter {
        Some(f) => compile_row(f, sql),
        None => {
            sql.push("1 = 1");
        }
    };
    if let Some((term, fields)) = full_text_of(q) {
        sql.push(
            " AND EXISTS (SELECT 1 FROM search f WHERE f.entity_id = s.entity_id AND f.key IN ",
        )
        .bind_list(fields.iter());
        sql.push(" AND f.value LIKE ")
            .bind(format!("%{}%", escape_like(&term)))
            .push(" ESCAPE '\\')");
    }
}

/// Continues a walk after the cursor's row: `value >= v` bounds the index
/// range (an OR alone would scan from the start), the rest breaks ties by id.
fn push_after(sql: &mut Sql, alias: &str, cmp: &str, c: &Cursor) {
    let (v, id) = (c.sort_value(), c.last_id());
    sql.push(&format!(" AND {alias}value {cmp}= "))
        .bind(v.clone());
    sql.push(&format!(" AND ({alias}value {cmp} "))
        .bind(v)
        .push(&format!(" OR {alias}entity_id {cmp} "))
        .bind(id)
        .push(")");
}

/// Candidates an ordered page walks row by row before it falls back to
/// computing the whole id set (a filter matching only a few entities).
const ROW_WALK: i64 = 4000;

/// The id set of a query: its filter intersected with its full-text match.
fn compile_query_set(q: &EntityQuery, sql: &mut Sql) {
    let full_text = full_text_of(q);
    match (&q.filter, &full_text) {
        (None, None) => {
            sql.push(ALL_IDS);
        }
        (Some(f), None) => compile_set(f, sql),
        (filter, Some((term, fields))) => {
            if let Some(f) = filter {
                sql.push("SELECT entity_id FROM (");
                compile_set(f, sql);
                sql.push(") INTERSECT ");
            }
            sql.push("SELECT DISTINCT entity_id FROM search WHERE key IN ")
                .bind_list(fields.iter());
            sql.push(" AND value LIKE ")
                .bind(format!("%{}%", escape_like(term)))
                .push(" ESCAPE '\\'");
        }
    }
}

fn parse_entity(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("final_entity: {e}")))
}

fn raw_entity(text: String) -> Result<Box<RawValue>, StoreError> {
    RawValue::from_string(text).map_err(|e| StoreError::Corrupt(format!("final_entity: {e}")))
}

impl Store {
    pub async fn entity_by_ref(&self, entity_ref: &str) -> Result<Option<Value>, StoreError> {
        self.entity_json_by_ref(entity_ref)
            .await?
            .map(|raw| parse_entity(raw.get()))
            .transpose()
    }

    /// The stored JSON text of an entity, for responses that pass it through.
    pub async fn entity_json_by_ref(
        &self,
        entity_ref: &str,
    ) -> Result<Option<Box<RawValue>>, StoreError> {
        sqlx::query("SELECT final_entity FROM final_entities WHERE entity_ref = $1")
            .bind(entity_ref)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| raw_entity(r.try_get::<String, _>(0)?))
            .transpose()
    }

    pub async fn entity_by_uid(&self, uid: &str) -> Result<Option<Value>, StoreError> {
        sqlx::query("SELECT final_entity FROM final_entities WHERE entity_id = $1")
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| parse_entity(&r.try_get::<String, _>(0)?))
            .transpose()
    }

    /// Entities for `refs` in the same order, `None` for missing or filtered out.
    pub async fn entities_by_refs(
        &self,
        refs: &[String],
        filter: Option<&Predicate>,
    ) -> Result<Vec<Option<Value>>, StoreError> {
        let lowered: Vec<String> = refs.iter().map(|r| r.to_lowercase()).collect();
        let mut found = std::collections::HashMap::new();
        for chunk in lowered.chunks(1000) {
            let mut sql = Sql::new(
                "SELECT fe.entity_ref, fe.final_entity FROM final_entities fe WHERE fe.entity_ref IN ",
            );
            sql.bind_list(chunk.iter());
            if let Some(f) = filter {
                sql.push(" AND fe.entity_id IN (");
                compile_set(f, &mut sql);
                sql.push(")");
            }
            for row in sql.query().fetch_all(&self.pool).await? {
                found.insert(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        lowered
            .iter()
            .map(|r| found.get(r).map(|t| parse_entity(t)).transpose())
            .collect()
    }

    /// How many entities a query matches; cached until the catalog changes
    /// (the first page of every listing asks for it).
    pub async fn count_entities(&self, q: &EntityQuery) -> Result<i64, StoreError> {
        let generation = self.generation().await?;
        let key = format!("{q:?}");
        if let Some(hit) = self.count_cache.get(generation, &key) {
            return Ok(hit);
        }
        let count = self.count_entities_uncached(q).await?;
        self.count_cache.put(generation, key, count);
        Ok(count)
    }

    async fn count_entities_uncached(&self, q: &EntityQuery) -> Result<i64, StoreError> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM (");
        if let Some(order) = &q.order {
            // Ordered queries leave out entities without the order field.
            sql.push("SELECT entity_id FROM (");
            compile_query_set(q, &mut sql);
            sql.push(") INTERSECT SELECT entity_id FROM search WHERE key = ")
                .bind(order.field.to_lowercase());
            sql.push(" AND value <> ").bind(TOO_LONG);
        } else {
            compile_query_set(q, &mut sql);
        }
        sql.push(")");
        Ok(sql.query().fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// One page of a by-query listing. `cursor` (when given) carries the query.
    pub async fn query_entities(
        &self,
        query: Option<&EntityQuery>,
        cursor: Option<&Cursor>,
        limit: i64,
        offset: Option<i64>,
        include_total: bool,
    ) -> Result<EntitiesPage, StoreError> {
        let q = match cursor {
            Some(c) => c.query()?,
            None => query.cloned().unwrap_or_default(),
        };
        let total_items = match cursor {
            Some(c) => c.total_items,
            None if include_total => self.count_entities(&q).await?,
            None => 0,
        };
        let is_previous = cursor.is_some_and(|c| c.is_previous);
        let descending = q.order.as_ref().is_some_and(|o| o.order == Order::Desc);
        // Walking backwards flips the comparison and the sort direction.
        let walk_desc = descending != is_previous;
        let (cmp, dir) = if walk_desc {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };

        let filtered = q.filter.is_some() || q.full_text.is_some();
        let mut sql = Sql::new("");
        let mut rows = Vec::new();
        if let Some(order) = &q.order {
            // Walk the order field's rows in (value, id) order; an entity with
            // several values (an array) is placed at its lowest one. With a
            // filter, the first ROW_WALK candidates are checked row by row;
            // only when they hold less than a page does the walk go on with
            // the filter's whole id set.
            let walk = |bounded: bool, sql: &mut Sql| {
                sql.push("SELECT fe.entity_id, fe.final_entity, s.value FROM ");
                if bounded {
                    sql.push("(SELECT key, value, entity_id FROM search WHERE key = ")
                        .bind(order.field.to_lowercase());
                    sql.push(" AND value <> ").bind(TOO_LONG);
                    if let Some(c) = cursor {
                        push_after(sql, "", cmp, c);
                    }
                    sql.push(&format!(" ORDER BY value {dir}, entity_id {dir} LIMIT "))
                        .bind_int(ROW_WALK)
                        .push(") s");
                } else {
                    sql.push("search s");
                }
                sql.push(" JOIN final_entities fe ON fe.entity_id = s.entity_id WHERE s.key = ")
                    .bind(order.field.to_lowercase());
                sql.push(" AND s.value <> ").bind(TOO_LONG);
                sql.push(" AND NOT EXISTS (SELECT 1 FROM search s2 WHERE s2.entity_id = s.entity_id AND s2.key = s.key AND s2.value < s.value)");
                if bounded {
                    sql.push(" AND ");
                    compile_query_row(&q, sql);
                } else if filtered {
                    sql.push(" AND s.entity_id IN (");
                    compile_query_set(&q, sql);
                    sql.push(")");
                }
                if let Some(c) = cursor.filter(|_| !bounded) {
                    push_after(sql, "s.", cmp, c);
                }
                sql.push(&format!(" ORDER BY s.value {dir}, s.entity_id {dir}"));
                sql.push(" LIMIT ").bind_int(limit + 1);
            };
            if filtered && offset.is_none_or(|o| o <= 0) && !self.has_small_leaf(&q).await? {
                let mut bounded = Sql::new("");
                walk(true, &mut bounded);
                let found = bounded.query().fetch_all(&self.pool).await?;
                if found.len() as i64 > limit {
                    rows = found;
                }
            }
            if rows.is_empty() {
                walk(false, &mut sql);
                if let Some(off) = offset.filter(|o| *o > 0 && cursor.is_none()) {
                    sql.push(" OFFSET ").bind_int(off);
                }
                rows = sql.query().fetch_all(&self.pool).await?;
            }
        } else {
            sql.push("SELECT fe.entity_id, fe.final_entity, NULL FROM (");
            compile_query_set(&q, &mut sql);
            sql.push(") m JOIN final_entities fe ON fe.entity_id = m.entity_id WHERE 1 = 1");
            if let Some(c) = cursor {
                sql.push(&format!(" AND m.entity_id {cmp} "))
                    .bind(c.last_id());
            }
            sql.push(&format!(" ORDER BY m.entity_id {dir}"));
            sql.push(" LIMIT ").bind_int(limit + 1);
            if let Some(off) = offset.filter(|o| *o > 0 && cursor.is_none()) {
                sql.push(" OFFSET ").bind_int(off);
            }
            rows = sql.query().fetch_all(&self.pool).await?;
        }
        let has_more = rows.len() as i64 > limit;
        let mut page: Vec<(String, String, Option<String>)> = Vec::new();
        for row in rows.iter().take(limit.max(0) as usize) {
            page.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
        if is_previous {
            page.reverse();
        }
        let make_cursor = |(id, _, v): &(String, String, Option<String>), previous: bool| {
            Cursor {
                order_fields: q.order.iter().cloned().collect(),
                query: q.filter.as_ref().map(predicate_to_json),
                full_text_filter: q.full_text.clone(),
                order_field_values: if q.order.is_some() {
                    vec![v.clone(), Some(id.clone())]
                } else {
                    vec![Some(id.clone())]
                },
                is_previous: previous,
                total_items,
            }
            .encode()
        };
        let (has_next, has_prev) = if is_previous {
            (true, has_more)
        } else {
            (has_more, cursor.is_some() || offset.is_some_and(|o| o > 0))
        };
        let next_cursor = if has_next {
            page.last().map(|r| make_cursor(r, false))
        } else {
            None
        };
        let prev_cursor = if has_prev {
            page.first().map(|r| make_cursor(r, true))
        } else {
            None
        };
        let items = page
            .into_iter()
            .map(|(_, text, _)| raw_entity(text))
            .collect::<Result<_, _>>()?;
        Ok(EntitiesPage {
            items,
            total_items,
            next_cursor,
            prev_cursor,
        })
    }

    /// Whether the query's filter must hold a leaf that matches fewer than
    /// ROW_WALK rows (`kind=template`): its id set is then cheaper to build
    /// than a row-by-row walk that would not find a page anyway.
    async fn has_small_leaf(&self, q: &EntityQuery) -> Result<bool, StoreError> {
        let leaves: Vec<&Predicate> = match &q.filter {
            Some(Predicate::All(ps)) => ps.iter().collect(),
            Some(leaf @ Predicate::Field { .. }) => vec![leaf],
            _ => Vec::new(),
        };
        for leaf in leaves {
            let Predicate::Field { key, op } = leaf else {
                continue;
            };
            let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM search WHERE key = ");
            sql.bind(key.clone());
            match op {
                FieldOp::Eq(v) => {
                    sql.push(" AND value = ").bind(v.clone());
                }
                FieldOp::In(vs) => {
                    sql.push(" AND value IN ").bind_list(vs.iter());
                }
                FieldOp::Exists(true) => {}
                _ => continue,
            }
            sql.push(" LIMIT ").bind_int(ROW_WALK).push(") n");
            let n: i64 = sql.query().fetch_one(&self.pool).await?.try_get(0)?;
            if n < ROW_WALK {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Legacy `GET /entities` with offset/limit: every order field applies and
    /// entities lacking one sort last.
    pub async fn list_entities(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<Box<RawValue>>, StoreError> {
        let mut sql = Sql::new("SELECT fe.final_entity FROM final_entities fe");
        for (i, order) in opts.order.iter().enumerate() {
            sql.push(" LEFT JOIN (SELECT entity_id, MIN(value) AS v FROM search WHERE key = ")
                .bind(order.field.to_lowercase())
                .push(" AND value <> ")
                .bind(TOO_LONG)
                .push(&format!(
                    " GROUP BY entity_id) o{i} ON o{i}.entity_id = fe.entity_id"
                ));
        }
        if let Some(filter) = &opts.filter {
            sql.push(" WHERE fe.entity_id IN (");
            compile_set(filter, &mut sql);
            sql.push(")");
        }
        sql.push(" ORDER BY ");
        for (i, order) in opts.order.iter().enumerate() {
            let dir = if order.order == Order::Desc {
                "DESC"
            } else {
                "ASC"
            };
            sql.push(&format!("(o{i}.v IS NULL), o{i}.v {dir}, "));
        }
        sql.push("fe.entity_id ASC");
        match opts.limit {
            Some(limit) => sql.push(" LIMIT ").bind_int(limit),
            None => sql.push(" LIMIT -1"),
        };
        sql.push(" OFFSET ").bind_int(opts.offset);
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| raw_entity(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Counts that change whenever what the API serves changes.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT generation FROM catalog_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Value counts per facet (original casing), over entities matching `filter`.
    /// Cached until the catalog changes: facets are read far more than written.
    pub async fn facets(
        &self,
        facets: &[String],
        filter: Option<&Predicate>,
    ) -> Result<Vec<Facet>, StoreError> {
        let generation = self.generation().await?;
        let key = format!("{facets:?}|{:?}", filter.map(predicate_to_json));
        if let Some(hit) = self.facet_cache.get(generation, &key) {
            return Ok(hit);
        }
        // One computation at a time: concurrent misses (a dashboard opening
        // in many browsers at once) wait for the first and then hit the cache.
        let _single_flight = self.facet_lock.lock().await;
        if let Some(hit) = self.facet_cache.get(generation, &key) {
            return Ok(hit);
        }
        let mut out = Vec::new();
        for facet in facets {
            let mut sql =
                Sql::new("SELECT s.original_value, COUNT(*) FROM search s WHERE s.key = ");
            sql.bind(facet.to_lowercase())
                .push(" AND s.original_value IS NOT NULL AND s.value <> ")
                .bind(TOO_LONG);
            if let Some(f) = filter {
                sql.push(" AND s.entity_id IN (");
                compile_set(f, &mut sql);
                sql.push(")");
            }
            // Grouped in the order of the (key, value, …) primary key.
            sql.push(" GROUP BY s.value, s.original_value ORDER BY s.value, s.original_value");
            let values = sql
                .query()
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(FacetCount {
                        value: r.try_get(0)?,
                        count: r.try_get(1)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(Facet {
                name: facet.clone(),
                values,
            });
        }
        self.facet_cache.put(generation, key, out.clone());
        Ok(out)
    }

    /// Counts of final entities per kind (for metrics).
    pub async fn count_by_kind(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query("SELECT original_value, COUNT(*) FROM search WHERE key = 'kind' GROUP BY value, original_value")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// Results that stay valid for one catalog generation.
pub(crate) struct GenerationCache<T> {
    inner: std::sync::Mutex<(i64, std::collections::HashMap<String, T>)>,
}

impl<T> Default for GenerationCache<T> {
    fn default() -> Self {
        Self {
            inner: std::sync::Mutex::new((-1, std::collections::HashMap::new())),
        }
    }
}

impl<T: Clone> GenerationCache<T> {
    fn get(&self, generation: i64, key: &str) -> Option<T> {
        let guard = self.inner.lock().ok()?;
        (guard.0 == generation)
            .then(|| guard.1.get(key).cloned())
            .flatten()
    }

    fn put(&self, generation: i64, key: String, value: T) {
        if let Ok(mut guard) = self.inner.lock() {
            if guard.0 != generation {
                *guard = (generation, std::collections::HashMap::new());
            }
            // Bounded: distinct queries are few in practice, but never unbounded.
            if guard.1.len() < 1024 {
                guard.1.insert(key, value);
            }
        }
    }
}
