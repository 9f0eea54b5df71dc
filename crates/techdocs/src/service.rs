//! Docs as the server runs them: `techdocs.builder: local` builds an
//! entity's site on request (`/sync`) when its source changed, and
//! publishes it; `external` only serves what CI published.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::BuildError;
use crate::publish::{PublishError, Publisher, Triplet};
use crate::site::{BuildOptions, build, source_etag};
use crate::source::{SourceError, resolve_source};

/// An entity is not checked again sooner than this, as in Backstage.
const RECHECK_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("{0}")]
    Internal(String),
}

pub struct DocsService {
    local_builder: bool,
    publisher: Arc<dyn Publisher>,
    scratch: PathBuf,
    checked: Mutex<HashMap<String, Instant>>,
    /// One build at a time: builds are CPU-bound and short.
    build_lock: tokio::sync::Mutex<()>,
}

/// A page or section of a published site's search index.
pub struct IndexedPage {
    pub location: String,
    pub title: String,
    pub text: String,
}

impl DocsService {
    pub fn new(local_builder: bool, publisher: Arc<dyn Publisher>, scratch: PathBuf) -> Self {
        Self {
            local_builder,
            publisher,
            scratch,
            checked: Mutex::new(HashMap::new()),
            build_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn publisher(&self) -> &Arc<dyn Publisher> {
        &self.publisher
    }

    pub fn local_builder(&self) -> bool {
        self.local_builder
    }

    /// Brings the entity's published site up to date with its source.
    /// Returns whether a new site was published. Log lines go to `log`.
    pub async fn sync(
        &self,
        entity: &Json,
        triplet: &Triplet,
        log: mpsc::UnboundedSender<String>,
    ) -> Result<bool, SyncError> {
        if !self.local_builder {
            return Ok(false);
        }
        let key = triplet.entity_ref();
        let recent = self
            .checked
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .is_some_and(|t| t.elapsed() < RECHECK_AFTER);
        let has_docs = self.publisher.has_docs(triplet)?;
        if recent && has_docs {
            return Ok(false);
        }
        let source = resolve_source(entity)?;
        let _guard = self.build_lock.lock().await;
        let publisher = self.publisher.clone();
        let scratch = self.scratch.clone();
        let triplet = triplet.clone();
        let techdocs_ref = entity
            .pointer("/metadata/annotations/backstage.io~1techdocs-ref")
            .and_then(Json::as_str)
            .map(str::to_string);
        let site_name = entity
            .pointer("/metadata/title")
            .or_else(|| entity.pointer("/metadata/name"))
            .and_then(Json::as_str)
            .map(str::to_string);
        let updated = tokio::task::spawn_blocking(move || -> Result<bool, SyncError> {
            std::fs::create_dir_all(&scratch)
                .map_err(|e| SyncError::Internal(format!("{}: {e}", scratch.display())))?;
            let work = tempfile_dir(&scratch)?;
            let input = source.materialize(&work.join("source"))?;
            let etag = source_etag(&input)?;
            let published = publisher.metadata(&triplet)?;
            if published
                .as_ref()
                .and_then(|m| m.get("etag"))
                .and_then(Json::as_str)
                == Some(etag.as_str())
            {
                let _ = log.send("The docs are up to date".into());
                let _ = std::fs::remove_dir_all(&work);
                return Ok(false);
            }
            let output = work.join("site");
            let options = BuildOptions {
                site_name,
                etag: Some(etag),
                techdocs_ref,
            };
            let result = build(&input, &output, &options, &mut |line| {
                let _ = log.send(line.to_string());
            });
            let outcome = result.map_err(SyncError::from).and_then(|_| {
                let files = publisher.publish(&triplet, &output)?;
                let _ = log.send(format!("Published {files} files"));
                Ok(true)
            });
            let _ = std::fs::remove_dir_all(&work);
            outcome
        })
        .await
        .map_err(|e| SyncError::Internal(format!("build task failed: {e}")))??;
        if let Ok(mut m) = self.checked.lock() {
            m.insert(key, Instant::now());
        }
        Ok(updated)
    }

    /// The etag and pages of a published site, for the search index.
    pub fn indexed_pages(
        &self,
        triplet: &Triplet,
    ) -> Result<Option<(String, Vec<IndexedPage>)>, SyncError> {
        let Some(meta) = self.publisher.metadata(triplet)? else {
            return Ok(None);
        };
        let etag = meta
            .get("etag")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(bytes) = self.publisher.read(triplet, "search/search_index.json")? else {
            return Ok(None);
        };
        let index: Json = serde_json::from_slice(&bytes).map_err(|e| {
            SyncError::Internal(format!("search index of {}: {e}", triplet.entity_ref()))
        })?;
        let pages = index
            .get("docs")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|d| IndexedPage {
                location: d
                    .get("location")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                title: d
                    .get("title")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                text: d
                    .get("text")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
        Ok(Some((etag, pages)))
    }
}

/// A fresh folder under `scratch` for one build.
fn tempfile_dir(scratch: &std::path::Path) -> Result<PathBuf, SyncError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = scratch.join(format!("build-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| SyncError::Internal(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
