//! The processing side of the store: the refresh queue, provider roots,
//! writing processing results, stitching final entities and orphan cleanup.

use std::collections::{BTreeSet, HashMap, HashSet};

use greenroom_model::entity::{self, ANNOTATION_ORPHAN};
use greenroom_model::hash::stable_hash;
use greenroom_model::relations::Relation;
use greenroom_model::search::search_rows;
use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction};

use crate::dialect::{
    bulk_insert_ignore_sql, bulk_insert_sql, bulk_update_sql, bulk_upsert_sql, select_in_json_sql,
};
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
/// Kept as JSON text: a Location may emit 100k of them, and text is several
/// times smaller in memory than a parsed tree.
#[derive(Debug, Clone)]
pub struct DeferredEntity {
    pub entity_json: String,
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

/// One row of the search table: (key, value, entity_id, original_value).
type SearchInsert = (String, String, String, Option<String>);

/// Stored in place of values too long to index: they exist but equal nothing.
pub(crate) const TOO_LONG: &str = "\u{1}";

fn parse_json(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn parse_errors(text: &str) -> Vec<ErrorItem> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Entity ids are UUIDv7: time-ordered, so new rows land at the end of the
/// id indexes instead of on random pages (much less write amplification).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
        let mut tx = self.write_tx().await?;
        let old_targets: Vec<String> = sqlx::query(
            "SELECT target_entity_ref FROM refresh_state_references WHERE source_key = $1",
        )
        .bind(source_key)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        let texts: Vec<String> = entities.iter().map(|e| e.entity.to_string()).collect();
        let items: Vec<(&str, &str, &str)> = entities
            .iter()
            .zip(&texts)
            .map(|(e, text)| {
                (
                    e.entity_ref.as_str(),
                    text.as_str(),
                    e.location_key.as_str(),
                )
            })
            .collect();
        upsert_unprocessed_many(&mut tx, self.dialect, &items, None, now).await?;
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
        let mut tx = self.write_tx().await?;
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
        let mut tx = self.write_tx().await?;
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

    /// Writes a batch of processing results in one transaction and queues
    /// every entity whose final form may have changed for stitching. The work is set-based (a few statements per
    /// batch, not per entity) so large ingestions stay fast.
    pub async fn apply_results(&self, results: &[ProcessingResult]) -> Result<usize, StoreError> {
        let now = now_ms();
        let json = |v: &dyn erased::Json| v.to_json();
        let mut to_stitch: BTreeSet<String> = BTreeSet::new();
        let mut deferred: BTreeSet<String> = BTreeSet::new();
        let mut tx = self.write_tx().await?;

        // Skip results whose hash did not change, and rows deleted meanwhile.
        let ids: Vec<&String> = results.iter().map(|r| &r.entity_id).collect();
        let mut current: HashMap<String, Option<String>> = HashMap::new();
        for chunk in ids.chunks(5000) {
            let rows = sqlx::query(select_in_json_sql(
                self.dialect,
                "SELECT entity_id, result_hash FROM refresh_state WHERE entity_id IN",
            ))
            .bind(json(&chunk.to_vec())?)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                current.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        let changed: Vec<&ProcessingResult> = results
            .iter()
            .filter(|r| {
                current
                    .get(&r.entity_id)
                    .is_some_and(|h| h.as_deref() != Some(r.result_hash.as_str()))
            })
            .collect();
        if changed.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let (ok, failed): (Vec<&ProcessingResult>, Vec<&ProcessingResult>) =
            changed.iter().partition(|r| r.processed.is_some());

        // Failed entities keep their last good version; only errors change.
        let rows: Vec<(&String, String, &String)> = failed
            .iter()
            .map(|r| {
                (
                    &r.entity_id,
                    serde_json::to_string(&r.errors).unwrap_or_else(|_| "[]".into()),
                    &r.result_hash,
                )
            })
            .collect();
        for chunk in rows.chunks(2000) {
            sqlx::query(bulk_update_sql(
                self.dialect,
                "refresh_state",
                "entity_id",
                &["errors", "result_hash"],
            ))
            .bind(json(&chunk.to_vec())?)
            .execute(&mut *tx)
            .await?;
        }
        for r in &failed {
            to_stitch.insert(r.entity_ref.clone());
            // A never-processed entity shows its errors on its parents.
            to_stitch.extend(parents(&mut tx, &r.entity_ref).await?);
        }

        let rows: Vec<(&String, String, String, &String)> = ok
            .iter()
            .map(|r| {
                (
                    &r.entity_id,
                    r.processed
                        .as_ref()
                        .map(Value::to_string)
                        .unwrap_or_default(),
                    serde_json::to_string(&r.errors).unwrap_or_else(|_| "[]".into()),
                    &r.result_hash,
                )
            })
            .collect();
        for chunk in rows.chunks(1000) {
            sqlx::query(bulk_update_sql(
                self.dialect,
                "refresh_state",
                "entity_id",
                &["processed_entity", "errors", "result_hash"],
            ))
            .bind(json(&chunk.to_vec())?)
            .execute(&mut *tx)
            .await?;
        }
        to_stitch.extend(ok.iter().map(|r| r.entity_ref.clone()));

        // Relations: every source that gained or lost one is re-stitched.
        let ok_ids: Vec<&String> = ok.iter().map(|r| &r.entity_id).collect();
        for chunk in ok_ids.chunks(5000) {
            let payload = json(&chunk.to_vec())?;
            let rows = sqlx::query(select_in_json_sql(
                self.dialect,
                "SELECT DISTINCT source_entity_ref FROM relations WHERE originating_entity_id IN",
            ))
            .bind(payload.clone())
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                deferred.insert(row.try_get(0)?);
            }
            sqlx::query(select_in_json_sql(
                self.dialect,
                "DELETE FROM relations WHERE originating_entity_id IN",
            ))
            .bind(payload)
            .execute(&mut *tx)
            .await?;
        }
        let mut relations: Vec<(&String, &String, &String, &String)> = ok
            .iter()
            .flat_map(|r| {
                r.relations
                    .iter()
                    .map(move |rel| (&r.entity_id, &rel.source, &rel.kind, &rel.target))
            })
            .collect();
        // In index order (by source), for the same reason as the search rows.
        relations.sort_by(|a, b| a.1.cmp(b.1));
        for chunk in relations.chunks(5000) {
            sqlx::query(bulk_insert_sql(
                self.dialect,
                "relations",
                &[
                    "originating_entity_id",
                    "source_entity_ref",
                    "type",
                    "target_entity_ref",
                ],
            ))
            .bind(json(&chunk.to_vec())?)
            .execute(&mut *tx)
            .await?;
            deferred.extend(chunk.iter().map(|r| r.1.clone()));
        }

        // Children: queue them and point references at them.
        let ok_refs: Vec<&String> = ok.iter().map(|r| &r.entity_ref).collect();
        let mut old_children: HashMap<String, BTreeSet<String>> = HashMap::new();
        for chunk in ok_refs.chunks(5000) {
            let rows = sqlx::query(select_in_json_sql(
                self.dialect,
                "SELECT source_entity_ref, target_entity_ref FROM refresh_state_references WHERE source_entity_ref IN",
            ))
            .bind(json(&chunk.to_vec())?)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                old_children
                    .entry(row.try_get(0)?)
                    .or_default()
                    .insert(row.try_get(1)?);
            }
        }
        for result in &ok {
            let old_set = old_children.remove(&result.entity_ref).unwrap_or_default();
            if result.children.is_empty() && old_set.is_empty() {
                continue;
            }
            let items: Vec<(&str, &str, &str)> = result
                .children
                .iter()
                .map(|c| {
                    (
                        c.entity_ref.as_str(),
                        c.entity_json.as_str(),
                        c.location_key.as_str(),
                    )
                })
                .collect();
            upsert_unprocessed_many(&mut tx, self.dialect, &items, Some(&result.entity_ref), now)
                .await?;
            let mut new_children: BTreeSet<String> = result
                .children
                .iter()
                .map(|c| c.entity_ref.clone())
                .collect();
            if result.keep_previous_children {
                new_children.extend(old_set.iter().cloned());
            }
            if old_set != new_children {
                sqlx::query("DELETE FROM refresh_state_references WHERE source_entity_ref = $1")
                    .bind(&result.entity_ref)
                    .execute(&mut *tx)
                    .await?;
                let list: Vec<(&String, &String)> = new_children
                    .iter()
                    .map(|c| (&result.entity_ref, c))
                    .collect();
                for chunk in list.chunks(5000) {
                    sqlx::query(bulk_insert_sql(
                        self.dialect,
                        "refresh_state_references",
                        &["source_entity_ref", "target_entity_ref"],
                    ))
                    .bind(json(&chunk.to_vec())?)
                    .execute(&mut *tx)
                    .await?;
                }
                // Orphan marks change on both sides of the difference. A child
                // seen for the first time has no final entity yet (it is stitched
                // after its own processing), so only existing ones are queued:
                // on a first ingestion that skips 100k pointless stitches.
                deferred.extend(old_set.difference(&new_children).cloned());
                let added: Vec<&String> = new_children.difference(&old_set).collect();
                for chunk in added.chunks(5000) {
                    let rows = sqlx::query(select_in_json_sql(
                        self.dialect,
                        "SELECT entity_ref FROM final_entities WHERE entity_ref IN",
                    ))
                    .bind(json(&chunk.to_vec())?)
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in rows {
                        deferred.insert(row.try_get(0)?);
                    }
                }
            }
        }

        // Everything is stitched from the queue: during a large ingestion an
        // entity and its peers are then built once per drain, not per batch.
        deferred.extend(to_stitch);
        let deferred: Vec<(String, i64)> = deferred.into_iter().map(|r| (r, now)).collect();
        for chunk in deferred.chunks(5000) {
            sqlx::query(bulk_insert_ignore_sql(
                self.dialect,
                "stitch_queue",
                &["entity_ref", "queued_at"],
                "entity_ref",
            ))
            .bind(json(&chunk.to_vec())?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed.len())
    }

    /// Builds the final entities of `refs` (relations, orphan mark, status
    /// items, uid, etag) and rewrites their search rows when they changed.
    pub async fn stitch(&self, refs: &[String]) -> Result<(), StoreError> {
        for chunk in refs.chunks(1000) {
            self.stitch_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn stitch_chunk(&self, refs: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        let d = self.dialect;
        let mut tx = self.write_tx().await?;
        let payload = erased::Json::to_json(&refs)?;

        let states = sqlx::query(select_in_json_sql(
            d,
            "SELECT entity_id, entity_ref, processed_entity, errors FROM refresh_state WHERE entity_ref IN",
        ))
        .bind(payload.clone())
        .fetch_all(&mut *tx)
        .await?;

        let mut relations: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for row in sqlx::query(select_in_json_sql(
            d,
            "SELECT DISTINCT source_entity_ref, type, target_entity_ref FROM relations WHERE source_entity_ref IN",
        ))
        .bind(payload.clone())
        .fetch_all(&mut *tx)
        .await?
        {
            relations.entry(row.try_get(0)?).or_default().push((row.try_get(1)?, row.try_get(2)?));
        }

        let referenced: HashSet<String> = sqlx::query(select_in_json_sql(
            d,
            "SELECT DISTINCT target_entity_ref FROM refresh_state_references WHERE target_entity_ref IN",
        ))
        .bind(payload.clone())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;

        // Errors of children that never processed, shown on their parents.
        // Only Locations emit children, so only their refs are looked up.
        let mut child_errors: HashMap<String, Vec<ErrorItem>> = HashMap::new();
        let locations: Vec<&String> = refs.iter().filter(|r| r.starts_with("location:")).collect();
        let child_error_rows = if locations.is_empty() {
            Vec::new()
        } else {
            sqlx::query(select_in_json_sql(
                d,
                "SELECT r.source_entity_ref, rs.errors FROM refresh_state_references r
                 JOIN refresh_state rs ON rs.entity_ref = r.target_entity_ref
                 WHERE rs.processed_entity IS NULL AND rs.errors <> '[]' AND r.source_entity_ref IN",
            ))
            .bind(erased::Json::to_json(&locations)?)
            .fetch_all(&mut *tx)
            .await?
        };
        for row in child_error_rows {
            child_errors
                .entry(row.try_get(0)?)
                .or_default()
                .extend(parse_errors(&row.try_get::<String, _>(1)?));
        }

        let mut old_hashes: HashMap<String, String> = HashMap::new();
        for row in sqlx::query(select_in_json_sql(
            d,
            "SELECT entity_ref, hash FROM final_entities WHERE entity_ref IN",
        ))
        .bind(payload)
        .fetch_all(&mut *tx)
        .await?
        {
            old_hashes.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let mut finals: Vec<(String, String, String, String, i64)> = Vec::new();
        let mut search: Vec<SearchInsert> = Vec::new();
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
            for r in search_rows(&final_entity) {
                let value = r.value.unwrap_or_else(|| TOO_LONG.to_string());
                search.push((r.key, value, entity_id.clone(), r.original_value));
            }
            finals.push((entity_id, entity_ref, final_entity.to_string(), hash, now));
        }
        if !finals.is_empty() {
            // One JSON parameter per statement: far cheaper than thousands of
            // bound values, and the SQL text stays constant.
            for chunk in finals.chunks(500) {
                sqlx::query(bulk_upsert_sql(
                    d,
                    "final_entities",
                    &[
                        "entity_id",
                        "entity_ref",
                        "final_entity",
                        "hash",
                        "last_updated_at",
                    ],
                    "entity_id",
                ))
                .bind(erased::Json::to_json(&chunk)?)
                .execute(&mut *tx)
                .await?;
            }
            // Entities stitched for the first time have no rows to delete.
            let ids: Vec<&String> = finals
                .iter()
                .filter(|f| old_hashes.contains_key(&f.1))
                .map(|f| &f.0)
                .collect();
            if !ids.is_empty() {
                sqlx::query(select_in_json_sql(
                    d,
                    "DELETE FROM search WHERE entity_id IN",
                ))
                .bind(erased::Json::to_json(&ids)?)
                .execute(&mut *tx)
                .await?;
            }
            // Inserting in index order keeps the (key, value) index pages hot:
            // far fewer page reads and writes than random order on a big catalog.
            search.sort();
            for chunk in search.chunks(10_000) {
                sqlx::query(bulk_insert_sql(
                    d,
                    "search",
                    &["key", "value", "entity_id", "original_value"],
                ))
                .bind(erased::Json::to_json(&chunk)?)
                .execute(&mut *tx)
                .await?;
            }
        }
        if !finals.is_empty() {
            bump_generation(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stitches everything in the stitch queue. Returns how many were stitched.
    pub async fn stitch_pending(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let refs: Vec<String> =
                sqlx::query("SELECT entity_ref FROM stitch_queue ORDER BY entity_ref LIMIT 2000")
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>()?;
            if refs.is_empty() {
                return Ok(total);
            }
            self.stitch(&refs).await?;
            // Only after the stitch committed: a crash in between re-stitches.
            for chunk in refs.chunks(1000) {
                let mut sql = Sql::new("DELETE FROM stitch_queue WHERE entity_ref IN ");
                sql.bind_list(chunk.iter());
                sql.query().execute(&self.write_pool).await?;
            }
            total += refs.len();
        }
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
            let affected = self.delete_entities(&ids, true).await?;
            self.stitch(&affected).await?;
        }
    }

    /// Removes entities and everything hanging on them; returns the refs whose
    /// final form must be rebuilt (relation peers, children).
    async fn delete_entities(
        &self,
        ids: &[(String, String)],
        orphans_only: bool,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut ids = ids.to_vec();
        if orphans_only {
            // Re-checked under the write lock: a location registered again
            // between finding orphans and deleting them keeps its entities.
            let candidates: Vec<&String> = ids.iter().map(|(id, _)| id).collect();
            let still: HashSet<String> = sqlx::query(select_in_json_sql(
                self.dialect,
                "SELECT entity_id FROM refresh_state rs WHERE NOT EXISTS
                   (SELECT 1 FROM refresh_state_references r WHERE r.target_entity_ref = rs.entity_ref)
                 AND rs.entity_id IN",
            ))
            .bind(erased::Json::to_json(&candidates)?)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
            ids.retain(|(id, _)| still.contains(id));
        }
        let entity_ids: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
        let refs: Vec<String> = ids.iter().map(|(_, r)| r.clone()).collect();
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
        bump_generation(&mut tx).await?;
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
            let mut tx = self.write_tx().await?;
            let p = parents(&mut tx, &entity_ref).await?;
            tx.commit().await?;
            p
        };
        let mut sql = Sql::new(
            "UPDATE refresh_state SET result_hash = 'child-was-deleted' WHERE entity_ref IN ",
        );
        sql.bind_list(parent_refs.iter());
        sql.query().execute(&self.write_pool).await?;
        let affected = self
            .delete_entities(&[(uid.to_string(), entity_ref)], false)
            .await?;
        self.stitch(&affected).await?;
        Ok(true)
    }

    /// Makes an entity and all its ancestors due now. False if unknown.
    pub async fn schedule_refresh(&self, entity_ref: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
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

    /// The parents (emitters) of an entity, and whether it has a provider root.
    pub async fn parent_refs(&self, entity_ref: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let p = parents(&mut tx, entity_ref).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Every entity with processing errors, including ones that never made it
    /// into the catalog (their final entity does not exist).
    pub async fn processing_errors(&self) -> Result<Vec<ProcessingErrorRow>, StoreError> {
        self.errors_where(None, None).await
    }

    /// The first `limit` entities with processing errors, by ref.
    pub async fn first_processing_errors(
        &self,
        limit: i64,
    ) -> Result<Vec<ProcessingErrorRow>, StoreError> {
        self.errors_where(None, Some(limit)).await
    }

    /// How many entities have processing errors (the partial index's size).
    pub async fn processing_error_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM refresh_state WHERE errors <> '[]'")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// The processing errors of one entity (empty when it has none).
    pub async fn processing_errors_of(
        &self,
        entity_ref: &str,
    ) -> Result<Vec<ProcessingErrorRow>, StoreError> {
        self.errors_where(Some(entity_ref), None).await
    }

    async fn errors_where(
        &self,
        entity_ref: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<ProcessingErrorRow>, StoreError> {
        let mut sql = Sql::new(
            "SELECT rs.entity_ref, rs.location_key, rs.errors,
                    CASE WHEN fe.entity_id IS NULL THEN 0 ELSE 1 END
             FROM refresh_state rs LEFT JOIN final_entities fe ON fe.entity_id = rs.entity_id
             WHERE rs.errors <> '[]'",
        );
        if let Some(r) = entity_ref {
            sql.push(" AND rs.entity_ref = ").bind(r.to_lowercase());
        }
        sql.push(" ORDER BY rs.entity_ref");
        if let Some(n) = limit {
            sql.push(" LIMIT ").bind_int(n);
        }
        let rows = sql.query().fetch_all(&self.pool).await?;
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

/// Marks that what the API serves changed (see `catalog_generation`).
async fn bump_generation(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
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

/// Queues emitted entities. The first location to emit a ref owns it: a
/// different location key leaves the row alone (a conflict, logged) until no
/// other parent references the entity any more, when the new emitter takes over.
async fn upsert_unprocessed_many(
    tx: &mut Transaction<'_, Any>,
    dialect: crate::Dialect,
    items: &[(&str, &str, &str)],
    emitter: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let mut existing: HashMap<String, (String, Option<String>)> = HashMap::new();
    for chunk in items.chunks(5000) {
        let refs: Vec<&str> = chunk.iter().map(|(r, _, _)| *r).collect();
        let payload =
            serde_json::to_string(&refs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT entity_ref, unprocessed_entity, location_key FROM refresh_state
             WHERE entity_ref IN (SELECT value FROM json_each($1))",
        )
        .bind(payload)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            existing.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
    }
    let mut inserts: Vec<(String, &str, String, &str, i64, i64)> = Vec::new();
    for (entity_ref, text, location_key) in items {
        let text = text.to_string();
        let Some((old_text, owner)) = existing.get(*entity_ref) else {
            inserts.push((new_id(), entity_ref, text, location_key, now, now));
            continue;
        };
        if owner.as_deref().is_some_and(|o| o != *location_key) {
            let other_parents: i64 = sqlx::query(
                "SELECT COUNT(*) FROM refresh_state_references WHERE target_entity_ref = $1
                 AND (source_entity_ref IS NULL OR source_entity_ref <> $2)",
            )
            .bind(*entity_ref)
            .bind(emitter.unwrap_or_default())
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
            if other_parents > 0 {
                let owner = owner.as_deref().unwrap_or_default();
                tracing::warn!(
                    entity_ref,
                    existing = owner,
                    new = location_key,
                    "Detected conflicting entityRef {entity_ref} already referenced by {owner} and now also {location_key}"
                );
                continue;
            }
        }
        if *old_text != text || owner.as_deref() != Some(*location_key) {
            sqlx::query(
                "UPDATE refresh_state SET unprocessed_entity = $1, location_key = $2, next_update_at = $3,
                   last_discovery_at = $3, result_hash = NULL WHERE entity_ref = $4",
            )
            .bind(&text)
            .bind(*location_key)
            .bind(now)
            .bind(*entity_ref)
            .execute(&mut **tx)
            .await?;
        }
    }
    for chunk in inserts.chunks(2000) {
        let payload =
            serde_json::to_string(chunk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(bulk_insert_sql(
            dialect,
            "refresh_state",
            &[
                "entity_id",
                "entity_ref",
                "unprocessed_entity",
                "location_key",
                "next_update_at",
                "last_discovery_at",
            ],
        ))
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

mod erased {
    use crate::StoreError;

    /// Serialises a batch into the JSON parameter the bulk statements read.
    pub trait Json {
        fn to_json(&self) -> Result<String, StoreError>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<String, StoreError> {
            serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
    }
}
