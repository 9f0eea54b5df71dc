//! The processing side of the store: the refresh queue, provider roots,
//! writing processing results, stitching final entities and orphan cleanup.

use std::collections::{BTreeSet, HashMap, HashSet};

use greenroom_model::entity::{self, ANNOTATION_ORPHAN};
use greenroom_model::hash::stable_hash;
use greenroom_model::relations::Relation;
use greenroom_model::search::search_rows;
use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction};

use crate::dialect::max_params;
use crate::sql::Sql;
use crate::{ErrorItem, Store, StoreError, now_ms};

/// An entity handed to the catalog by a provider (configured or registered locations).
#[derive(Debug, Clone)]
pub struct ProviderEntity {
    pub entity: Value,
    pub entity_ref: String,
    pub location_key: String,
}

/// A child entity emitted while processing a parent (for example a Location's targets).
#[derive(Debug, Clone)]
pub struct DeferredEntity {
    pub entity: Value,
    pub entity_ref: String,
    pub location_key: String,
}

/// A row of the refresh queue, claimed for processing.
#[derive(Debug, Clone)]
pub struct ProcessingItem {
    pub entity_id: String,
    pub entity_ref: String,
    pub unprocessed: Value,
    pub location_key: Option<String>,
    pub result_hash: Option<String>,
    /// When the item became due (ms since the epoch), for lag metrics.
    pub due_at: i64,
}

/// What processing one item produced.
#[derive(Debug, Clone)]
pub struct ProcessingResult {
    pub entity_id: String,
    pub entity_ref: String,
    /// Hash over everything below; an unchanged hash skips the write.
    pub result_hash: String,
    /// `None` when the entity itself failed: the last good version stays.
    pub processed: Option<Value>,
    pub relations: Vec<Relation>,
    pub children: Vec<DeferredEntity>,
    pub errors: Vec<ErrorItem>,
    /// Set when some targets could not be read: children emitted earlier
    /// stay referenced so that a broken file orphans nothing.
    pub keep_previous_children: bool,
}

/// An entity with processing errors, for the errors listing.
#[derive(Debug, Clone)]
pub struct ProcessingErrorRow {
    pub entity_ref: String,
    pub location_key: Option<String>,
    pub errors: Vec<ErrorItem>,
    /// False for an entity that never processed successfully (so has no final entity).
    pub has_final_entity: bool,
}

fn parse_json(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn parse_errors(text: &str) -> Vec<ErrorItem> {
    serde_json::from_str(text).unwrap_or_default()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Rows per multi-row INSERT, given how many parameters each row binds.
fn rows_per_insert(store: &Store, params_per_row: usize) -> usize {
    (max_params(store.dialect) / params_per_row).clamp(1, 2000)
}

impl Store {
    /// Replaces everything a provider (`source_key`) contributes: new entities
    /// are queued, changed ones re-queued, and ones it no longer emits lose
    /// their reference (and become orphans).
    pub async fn replace_provider_entities(
        &self,
        source_key: &str,
        entities: &[ProviderEntity],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let old_targets: Vec<String> = sqlx::query(
            "SELECT target_entity_ref FROM refresh_state_references WHERE source_key = $1",
        )
        .bind(source_key)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        for e in entities {
            upsert_unprocessed(
                &mut tx,
                &e.entity_ref,
                &e.entity,
                &e.location_key,
                None,
                now,
            )
            .await?;
        }
        sqlx::query("DELETE FROM refresh_state_references WHERE source_key = $1")
            .bind(source_key)
            .execute(&mut *tx)
            .await?;
        for e in entities {
            sqlx::query(
                "INSERT INTO refresh_state_references (source_key, target_entity_ref) VALUES ($1, $2)",
            )
            .bind(source_key)
            .bind(&e.entity_ref)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // Entities that lost their provider reference need their orphan mark.
        let new: HashSet<&String> = entities.iter().map(|e| &e.entity_ref).collect();
        let dropped: Vec<String> = old_targets
            .into_iter()
            .filter(|t| !new.contains(t))
            .collect();
        self.stitch(&dropped).await
    }

    /// Claims up to `limit` due items and pushes their next update by `lease_ms`,
    /// so a crash mid-pass only delays them.
    pub async fn claim_due(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ProcessingItem>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT entity_id, entity_ref, unprocessed_entity, location_key, result_hash, next_update_at
             FROM refresh_state WHERE next_update_at <= $1 ORDER BY next_update_at LIMIT $2",
        )
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let entity_id: String = row.try_get(0)?;
            items.push(ProcessingItem {
                unprocessed: parse_json(&row.try_get::<String, _>(2)?, "unprocessed_entity")?,
                entity_id,
                entity_ref: row.try_get(1)?,
                location_key: row.try_get(3)?,
                result_hash: row.try_get(4)?,
                due_at: row.try_get(5)?,
            });
        }
        for chunk in items.chunks(500) {
            let mut sql = Sql::new("UPDATE refresh_state SET next_update_at = ");
            sql.bind_int(now + lease_ms).push(" WHERE entity_id IN ");
            sql.bind_list(chunk.iter().map(|i| &i.entity_id));
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(items)
    }

    /// Sets when each processed item is next due (the processing interval).
    pub async fn schedule(&self, entity_ids: &[(String, i64)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, at) in entity_ids {
            sqlx::query("UPDATE refresh_state SET next_update_at = $1 WHERE entity_id = $2")
                .bind(*at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes a batch of processing results in one transaction, then stitches
    /// every entity whose final form may have changed.
    pub async fn apply_results(&self, results: &[ProcessingResult]) -> Result<usize, StoreError> {
        let now = now_ms();
        let mut to_stitch: BTreeSet<String> = BTreeSet::new();
        let mut written = 0;
        let mut tx = self.pool.begin().await?;
        for result in results {
            // A row deleted meanwhile (orphan cleanup, API delete) stays deleted.
            let current = sqlx::query("SELECT result_hash FROM refresh_state WHERE entity_id = $1")
                .bind(&result.entity_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(current) = current else { continue };
            let previous_hash: Option<String> = current.try_get(0)?;
            if previous_hash.as_deref() == Some(result.result_hash.as_str()) {
                continue;
            }
            written += 1;
            let errors = serde_json::to_string(&result.errors).unwrap_or_else(|_| "[]".into());
            to_stitch.insert(result.entity_ref.clone());
            let Some(processed) = &result.processed else {
                sqlx::query(
                    "UPDATE refresh_state SET errors = $1, result_hash = $2 WHERE entity_id = $3",
                )
                .bind(&errors)
                .bind(&result.result_hash)
                .bind(&result.entity_id)
                .execute(&mut *tx)
                .await?;
                // A never-processed entity shows its errors on its parents.
                for parent in parents(&mut tx, &result.entity_ref).await? {
                    to_stitch.insert(parent);
                }
                continue;
            };
            sqlx::query(
                "UPDATE refresh_state SET processed_entity = $1, errors = $2, result_hash = $3 WHERE entity_id = $4",
            )
            .bind(processed.to_string())
            .bind(&errors)
            .bind(&result.result_hash)
            .bind(&result.entity_id)
            .execute(&mut *tx)
            .await?;

            // Relations: every source that gained or lost one is re-stitched.
            let old_sources = sqlx::query(
                "SELECT DISTINCT source_entity_ref FROM relations WHERE originating_entity_id = $1",
            )
            .bind(&result.entity_id)
            .fetch_all(&mut *tx)
            .await?;
            for row in old_sources {
                to_stitch.insert(row.try_get(0)?);
            }
            sqlx::query("DELETE FROM relations WHERE originating_entity_id = $1")
                .bind(&result.entity_id)
                .execute(&mut *tx)
                .await?;
            for chunk in result.relations.chunks(rows_per_insert(self, 4)) {
                let mut sql = Sql::new(
                    "INSERT INTO relations (originating_entity_id, source_entity_ref, type, target_entity_ref) VALUES ",
                );
                for (i, r) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push("(")
                        .bind(result.entity_id.clone())
                        .push(", ")
                        .bind(r.source.clone());
                    sql.push(", ")
                        .bind(r.kind.clone())
                        .push(", ")
                        .bind(r.target.clone())
                        .push(")");
                    to_stitch.insert(r.source.clone());
                }
                sql.query().execute(&mut *tx).await?;
            }

            // Children: queue them and point references at them.
            let old_children: Vec<String> = sqlx::query(
                "SELECT target_entity_ref FROM refresh_state_references WHERE source_entity_ref = $1",
            )
            .bind(&result.entity_ref)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
            for child in &result.children {
                upsert_unprocessed(
                    &mut tx,
                    &child.entity_ref,
                    &child.entity,
                    &child.location_key,
                    Some(&result.entity_ref),
                    now,
                )
                .await?;
            }
            let mut new_children: BTreeSet<String> = result
                .children
                .iter()
                .map(|c| c.entity_ref.clone())
                .collect();
            if result.keep_previous_children {
                new_children.extend(old_children.iter().cloned());
            }
            let old_set: BTreeSet<String> = old_children.into_iter().collect();
            if old_set != new_children {
                sqlx::query("DELETE FROM refresh_state_references WHERE source_entity_ref = $1")
                    .bind(&result.entity_ref)
                    .execute(&mut *tx)
                    .await?;
                let list: Vec<&String> = new_children.iter().collect();
                for chunk in list.chunks(rows_per_insert(self, 2)) {
                    let mut sql = Sql::new(
                        "INSERT INTO refresh_state_references (source_entity_ref, target_entity_ref) VALUES ",
                    );
                    for (i, child) in chunk.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.push("(")
                            .bind(result.entity_ref.clone())
                            .push(", ")
                            .bind((*child).clone())
                            .push(")");
                    }
                    sql.query().execute(&mut *tx).await?;
                }
                // Orphan marks change on both sides of the difference.
                to_stitch.extend(old_set.symmetric_difference(&new_children).cloned());
            }
        }
        tx.commit().await?;
        let list: Vec<String> = to_stitch.into_iter().collect();
        self.stitch(&list).await?;
        Ok(written)
    }

    /// Builds the final entities of `refs` (relations, orphan mark, status
    /// items, uid, etag) and rewrites their search rows when they changed.
    pub async fn stitch(&self, refs: &[String]) -> Result<(), StoreError> {
        for chunk in refs.chunks(400) {
            self.stitch_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn stitch_chunk(&self, refs: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let owned: Vec<String> = refs.to_vec();

        let mut sql = Sql::new(
            "SELECT entity_id, entity_ref, processed_entity, errors FROM refresh_state WHERE entity_ref IN ",
        );
        sql.bind_list(owned.iter());
        let states = sql.query().fetch_all(&mut *tx).await?;

        let mut sql = Sql::new(
            "SELECT DISTINCT source_entity_ref, type, target_entity_ref FROM relations WHERE source_entity_ref IN ",
        );
        sql.bind_list(owned.iter());
        let mut relations: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for row in sql.query().fetch_all(&mut *tx).await? {
            relations
                .entry(row.try_get(0)?)
                .or_default()
                .push((row.try_get(1)?, row.try_get(2)?));
        }

        let mut sql = Sql::new(
            "SELECT DISTINCT target_entity_ref FROM refresh_state_references WHERE target_entity_ref IN ",
        );
        sql.bind_list(owned.iter());
        let referenced: HashSet<String> = sql
            .query()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;

        // Errors of children that never processed, shown on their parents.
        let mut sql = Sql::new(
            "SELECT r.source_entity_ref, rs.errors FROM refresh_state_references r
             JOIN refresh_state rs ON rs.entity_ref = r.target_entity_ref
             WHERE rs.processed_entity IS NULL AND rs.errors <> '[]' AND r.source_entity_ref IN ",
        );
        sql.bind_list(owned.iter());
        let mut child_errors: HashMap<String, Vec<ErrorItem>> = HashMap::new();
        for row in sql.query().fetch_all(&mut *tx).await? {
            child_errors
                .entry(row.try_get(0)?)
                .or_default()
                .extend(parse_errors(&row.try_get::<String, _>(1)?));
        }

        let mut sql = Sql::new("SELECT entity_ref, hash FROM final_entities WHERE entity_ref IN ");
        sql.bind_list(owned.iter());
        let mut old_hashes: HashMap<String, String> = HashMap::new();
        for row in sql.query().fetch_all(&mut *tx).await? {
            old_hashes.insert(row.try_get(0)?, row.try_get(1)?);
        }

        let mut changed: Vec<(String, String, Value, String)> = Vec::new();
        for row in &states {
            let entity_id: String = row.try_get(0)?;
            let entity_ref: String = row.try_get(1)?;
            let Some(processed) = row.try_get::<Option<String>, _>(2)? else {
                continue;
            };
            let mut final_entity = parse_json(&processed, "processed_entity")?;
            let mut rels = relations.remove(&entity_ref).unwrap_or_default();
            rels.sort();
            rels.dedup();
            if let Some(obj) = final_entity.as_object_mut() {
                obj.insert(
                    "relations".into(),
                    Value::Array(
                        rels.into_iter()
                            .map(|(t, target)| json!({"type": t, "targetRef": target}))
                            .collect(),
                    ),
                );
            }
            if !referenced.contains(&entity_ref) {
                entity::set_annotation(&mut final_entity, ANNOTATION_ORPHAN, "true");
            }
            let mut items: Vec<Value> = parse_errors(&row.try_get::<String, _>(3)?)
                .iter()
                .chain(child_errors.get(&entity_ref).into_iter().flatten())
                .map(|e| entity::processing_status_item(&e.name, &e.message))
                .collect();
            items.dedup();
            if !items.is_empty()
                && let Some(obj) = final_entity.as_object_mut()
            {
                obj.insert("status".into(), json!({ "items": items }));
            }
            let hash = stable_hash(&final_entity);
            if old_hashes.get(&entity_ref) == Some(&hash) {
                continue;
            }
            if let Some(meta) = entity::metadata_mut(&mut final_entity) {
                meta.insert("uid".into(), Value::String(entity_id.clone()));
                if !meta.contains_key("etag") {
                    meta.insert("etag".into(), Value::String(hash.clone()));
                }
            }
            changed.push((entity_id, entity_ref, final_entity, hash));
        }

        for (entity_id, entity_ref, final_entity, hash) in &changed {
            sqlx::query(
                "INSERT INTO final_entities (entity_id, entity_ref, final_entity, hash, last_updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (entity_id) DO UPDATE SET final_entity = excluded.final_entity,
                   hash = excluded.hash, last_updated_at = excluded.last_updated_at",
            )
            .bind(entity_id)
            .bind(entity_ref)
            .bind(final_entity.to_string())
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !changed.is_empty() {
            let ids: Vec<String> = changed.iter().map(|c| c.0.clone()).collect();
            let mut sql = Sql::new("DELETE FROM search WHERE entity_id IN ");
            sql.bind_list(ids.iter());
            sql.query().execute(&mut *tx).await?;
            let mut rows: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
            for (entity_id, _, final_entity, _) in &changed {
                for r in search_rows(final_entity) {
                    rows.push((entity_id.clone(), r.key, r.value, r.original_value));
                }
            }
            for chunk in rows.chunks(rows_per_insert(self, 4)) {
                let mut sql =
                    Sql::new("INSERT INTO search (entity_id, key, value, original_value) VALUES ");
                for (i, (id, key, value, original)) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push("(")
                        .bind(id.clone())
                        .push(", ")
                        .bind(key.clone())
                        .push(", ");
                    match value {
                        Some(v) => sql.bind(v.clone()),
                        None => sql.push("NULL"),
                    };
                    sql.push(", ");
                    match original {
                        Some(v) => sql.bind(v.clone()),
                        None => sql.push("NULL"),
                    };
                    sql.push(")");
                }
                sql.query().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes entities nothing references any more, round after round (their
    /// children become orphans next). Returns how many were deleted.
    pub async fn delete_orphans(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let rows = sqlx::query(
                "SELECT rs.entity_id, rs.entity_ref FROM refresh_state rs
                 WHERE NOT EXISTS (SELECT 1 FROM refresh_state_references r WHERE r.target_entity_ref = rs.entity_ref)
                 LIMIT 1000",
            )
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let mut ids = Vec::new();
            for row in &rows {
                ids.push((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
            }
            total += ids.len();
            let affected = self.delete_entities(&ids).await?;
            self.stitch(&affected).await?;
        }
    }

    /// Removes entities and everything hanging on them; returns the refs whose
    /// final form must be rebuilt (relation peers, children).
    async fn delete_entities(&self, ids: &[(String, String)]) -> Result<Vec<String>, StoreError> {
        let entity_ids: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
        let refs: Vec<String> = ids.iter().map(|(_, r)| r.clone()).collect();
        let mut tx = self.pool.begin().await?;
        let mut affected = BTreeSet::new();
        let mut sql = Sql::new(
            "SELECT DISTINCT source_entity_ref FROM relations WHERE originating_entity_id IN ",
        );
        sql.bind_list(entity_ids.iter());
        for row in sql.query().fetch_all(&mut *tx).await? {
            affected.insert(row.try_get::<String, _>(0)?);
        }
        let mut sql = Sql::new(
            "SELECT target_entity_ref FROM refresh_state_references WHERE source_entity_ref IN ",
        );
        sql.bind_list(refs.iter());
        for row in sql.query().fetch_all(&mut *tx).await? {
            affected.insert(row.try_get::<String, _>(0)?);
        }
        for (table, column, values) in [
            ("relations", "originating_entity_id", &entity_ids),
            ("search", "entity_id", &entity_ids),
            ("final_entities", "entity_id", &entity_ids),
            ("refresh_state", "entity_id", &entity_ids),
            ("refresh_state_references", "source_entity_ref", &refs),
        ] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE {column} IN "));
            sql.bind_list(values.iter());
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        for r in &refs {
            affected.remove(r);
        }
        Ok(affected.into_iter().collect())
    }

    /// Deletes one entity by uid (API). Its parents forget their result hash so
    /// that an entity still present in its source comes back on their next pass.
    pub async fn delete_entity_by_uid(&self, uid: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT entity_ref FROM refresh_state WHERE entity_id = $1")
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let entity_ref: String = row.try_get(0)?;
        let parent_refs = {
            let mut tx = self.pool.begin().await?;
            let p = parents(&mut tx, &entity_ref).await?;
            tx.commit().await?;
            p
        };
        let mut sql = Sql::new(
            "UPDATE refresh_state SET result_hash = 'child-was-deleted' WHERE entity_ref IN ",
        );
        sql.bind_list(parent_refs.iter());
        sql.query().execute(&self.pool).await?;
        let affected = self
            .delete_entities(&[(uid.to_string(), entity_ref)])
            .await?;
        self.stitch(&affected).await?;
        Ok(true)
    }

    /// Makes an entity and all its ancestors due now. False if unknown.
    pub async fn schedule_refresh(&self, entity_ref: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM refresh_state WHERE entity_ref = $1")
            .bind(entity_ref)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        let mut seen = BTreeSet::from([entity_ref.to_string()]);
        let mut frontier = vec![entity_ref.to_string()];
        while let Some(current) = frontier.pop() {
            for parent in parents(&mut tx, &current).await? {
                if seen.insert(parent.clone()) {
                    frontier.push(parent);
                }
            }
        }
        let list: Vec<String> = seen.into_iter().collect();
        let mut sql = Sql::new(
            "UPDATE refresh_state SET next_update_at = 0, result_hash = NULL WHERE entity_ref IN ",
        );
        sql.bind_list(list.iter());
        sql.query().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Makes every entity due now (used at start-up and by tests).
    pub async fn schedule_all_now(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE refresh_state SET next_update_at = 0")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The parents (emitters) of an entity, and whether it has a provider root.
    pub async fn parent_refs(&self, entity_ref: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let p = parents(&mut tx, entity_ref).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Every entity with processing errors, including ones that never made it
    /// into the catalog (their final entity does not exist).
    pub async fn processing_errors(&self) -> Result<Vec<ProcessingErrorRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT rs.entity_ref, rs.location_key, rs.errors,
                    CASE WHEN fe.entity_id IS NULL THEN 0 ELSE 1 END
             FROM refresh_state rs LEFT JOIN final_entities fe ON fe.entity_id = rs.entity_id
             WHERE rs.errors <> '[]' ORDER BY rs.entity_ref",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProcessingErrorRow {
                    entity_ref: r.try_get(0)?,
                    location_key: r.try_get(1)?,
                    errors: parse_errors(&r.try_get::<String, _>(2)?),
                    has_final_entity: r.try_get::<i64, _>(3)? == 1,
                })
            })
            .collect()
    }

    /// How many items are due now (the processing backlog).
    pub async fn due_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM refresh_state WHERE next_update_at <= $1")
                .bind(now_ms())
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }
}

async fn parents(
    tx: &mut Transaction<'_, Any>,
    entity_ref: &str,
) -> Result<Vec<String>, StoreError> {
    sqlx::query(
        "SELECT DISTINCT source_entity_ref FROM refresh_state_references
         WHERE target_entity_ref = $1 AND source_entity_ref IS NOT NULL",
    )
    .bind(entity_ref)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
    .collect()
}

/// Queues an emitted entity. The first location to emit a ref owns it: a
/// different location key leaves the row alone (a conflict, logged) until no
/// other parent references the entity any more, when the new emitter takes over.
async fn upsert_unprocessed(
    tx: &mut Transaction<'_, Any>,
    entity_ref: &str,
    entity: &Value,
    location_key: &str,
    emitter: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let text = entity.to_string();
    let existing = sqlx::query(
        "SELECT unprocessed_entity, location_key FROM refresh_state WHERE entity_ref = $1",
    )
    .bind(entity_ref)
    .fetch_optional(&mut **tx)
    .await?;
    match existing {
        None => {
            sqlx::query(
                "INSERT INTO refresh_state (entity_id, entity_ref, unprocessed_entity, errors, location_key, next_update_at, last_discovery_at)
                 VALUES ($1, $2, $3, '[]', $4, $5, $5)",
            )
            .bind(new_id())
            .bind(entity_ref)
            .bind(&text)
            .bind(location_key)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Some(row) => {
            let old_text: String = row.try_get(0)?;
            let owner: Option<String> = row.try_get(1)?;
            let other_parents: i64 = sqlx::query(
                "SELECT COUNT(*) FROM refresh_state_references WHERE target_entity_ref = $1
                 AND (source_entity_ref IS NULL OR source_entity_ref <> $2)",
            )
            .bind(entity_ref)
            .bind(emitter.unwrap_or_default())
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
            if owner.as_deref().is_some_and(|o| o != location_key) && other_parents > 0 {
                tracing::warn!(
                    entity_ref,
                    existing = owner.as_deref().unwrap_or_default(),
                    new = location_key,
                    "Detected conflicting entityRef {entity_ref} already referenced by {} and now also {location_key}",
                    owner.as_deref().unwrap_or_default()
                );
                return Ok(());
            }
            if old_text != text {
                sqlx::query(
                    "UPDATE refresh_state SET unprocessed_entity = $1, location_key = $2, next_update_at = $3,
                       last_discovery_at = $3, result_hash = NULL WHERE entity_ref = $4",
                )
                .bind(&text)
                .bind(location_key)
                .bind(now)
                .bind(entity_ref)
                .execute(&mut **tx)
                .await?;
            } else {
                sqlx::query(
                    "UPDATE refresh_state SET last_discovery_at = $1 WHERE entity_ref = $2",
                )
                .bind(now)
                .bind(entity_ref)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}
