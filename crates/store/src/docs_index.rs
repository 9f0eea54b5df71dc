//! The full-text index of built docs (SQLite FTS5), kept per entity and
//! replaced whole when a site's etag changes.

use sqlx::Row;

use crate::{Store, StoreError, now_ms};

/// One indexed page or section.
#[derive(Debug, Clone, PartialEq)]
pub struct DocEntry {
    pub location: String,
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocHit {
    pub entity_ref: String,
    pub location: String,
    pub title: String,
    /// A short extract around the match.
    pub snippet: String,
    /// bm25: lower is better.
    pub score: f64,
}

/// Turns user input into an FTS5 query of quoted prefix terms, so that
/// operators in the input are plain words.
fn fts_query(term: &str) -> Option<String> {
    let words: Vec<String> = term
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

impl Store {
    /// The etag of the site the index holds for an entity.
    pub async fn docs_index_etag(&self, entity_ref: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT etag FROM docs_indexed WHERE entity_ref = $1")
            .bind(entity_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Replaces an entity's indexed docs.
    pub async fn replace_docs_index(
        &self,
        entity_ref: &str,
        etag: &str,
        entries: &[DocEntry],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM docs_fts WHERE entity_ref = $1")
            .bind(entity_ref)
            .execute(&mut *tx)
            .await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO docs_fts (entity_ref, location, title, text) VALUES ($1, $2, $3, $4)",
            )
            .bind(entity_ref)
            .bind(&e.location)
            .bind(&e.title)
            .bind(&e.text)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO docs_indexed (entity_ref, etag, indexed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (entity_ref) DO UPDATE SET etag = excluded.etag, indexed_at = excluded.indexed_at",
        )
        .bind(entity_ref)
        .bind(etag)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pages and sections matching every word of `term` (as prefixes), best first.
    pub async fn search_docs(
        &self,
        term: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DocHit>, i64), StoreError> {
        let Some(q) = fts_query(term) else {
            return Ok((Vec::new(), 0));
        };
        let rows = sqlx::query(
            "SELECT entity_ref, location, title, snippet(docs_fts, 3, '', '', ' … ', 24), bm25(docs_fts, 0.0, 0.0, 5.0, 1.0) AS score \
             FROM docs_fts WHERE docs_fts MATCH $1 ORDER BY score, entity_ref, location LIMIT $2 OFFSET $3",
        )
        .bind(&q)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM docs_fts WHERE docs_fts MATCH $1")
            .bind(&q)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let hits = rows
            .iter()
            .map(|r| {
                Ok(DocHit {
                    entity_ref: r.try_get(0)?,
                    location: r.try_get(1)?,
                    title: r.try_get(2)?,
                    snippet: r.try_get(3)?,
                    score: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((hits, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn indexes_replace_and_match_prefixes() {
        let store = Store::open_sqlite(":memory:").await.unwrap();
        let entries = vec![
            DocEntry {
                location: "".into(),
                title: "Deploying".into(),
                text: "How the service deploys through Argo CD".into(),
            },
            DocEntry {
                location: "ops/".into(),
                title: "Operations".into(),
                text: "Runbooks and alerts".into(),
            },
        ];
        store
            .replace_docs_index("component:default/svc", "e1", &entries)
            .await
            .unwrap();
        let (hits, total) = store.search_docs("argo deplo", 10, 0).await.unwrap();
        assert_eq!((hits.len(), total), (1, 1));
        assert_eq!(hits[0].title, "Deploying");
        assert!(
            store
                .search_docs("\"; DROP", 10, 0)
                .await
                .unwrap()
                .0
                .is_empty()
        );
        store
            .replace_docs_index("component:default/svc", "e2", &entries[1..])
            .await
            .unwrap();
        assert!(store.search_docs("argo", 10, 0).await.unwrap().0.is_empty());
        assert_eq!(
            store
                .docs_index_etag("component:default/svc")
                .await
                .unwrap()
                .as_deref(),
            Some("e2")
        );
    }
}
