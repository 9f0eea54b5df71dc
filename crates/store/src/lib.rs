//! The catalog store: one interface over SQL engines.
//!
//! Every read and write of catalog state goes through [`Store`]. The SQL is
//! written once with `$n` placeholders over sqlx's `Any` driver; what differs
//! between engines (migrations, pragmas, connection URLs) lives in
//! [`dialect`]. Filters, facets, ordering, cursors and full-text search are
//! SQL against the `search` table, never loops over all entities in memory.

pub mod dialect;
mod docs_index;
mod locations;
mod processing;
mod query;
mod sql;
pub mod tasks;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use thiserror::Error;

pub use dialect::Dialect;
pub use docs_index::{DocEntry, DocHit};
pub use locations::LocationRow;
pub use processing::{
    DeferredEntity, ProcessingErrorRow, ProcessingItem, ProcessingResult, ProviderEntity,
};
pub use query::{
    Cursor, EntitiesPage, EntityQuery, Facet, FacetCount, FullTextFilter, ListOptions, Order,
    OrderField,
};
pub use tasks::{StaleVerdict, TaskEventRow, TaskFilter, TaskOrderField, TaskRow};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Unsupported(String),
}

/// An error as the catalog records it on an entity (`status.items[].error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub name: String,
    pub message: String,
}

impl ErrorItem {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            message: message.into(),
        }
    }
}

/// The catalog store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Write transactions go here (one connection for SQLite).
    write_pool: AnyPool,
    dialect: Dialect,
    facet_cache: std::sync::Arc<query::GenerationCache<Vec<query::Facet>>>,
    count_cache: std::sync::Arc<query::GenerationCache<i64>>,
    facet_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) a SQLite database at `path` (or `:memory:`)
    /// in WAL mode and runs the migrations.
    pub async fn open_sqlite(path: &str) -> Result<Self, StoreError> {
        let pools = dialect::connect_sqlite(path).await?;
        let store = Store {
            pool: pools.read,
            write_pool: pools.write,
            dialect: Dialect::Sqlite,
            facet_cache: Default::default(),
            count_cache: Default::default(),
            facet_lock: Default::default(),
        };
        dialect::migrate(&store.write_pool, store.dialect).await?;
        Ok(store)
    }

    /// A write transaction. SQLite takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first cannot wait for a
    /// concurrent writer and would fail with "database is locked".
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(self
            .write_pool
            .begin_with(dialect::begin_write(self.dialect))
            .await?)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write_pool.close().await;
        self.pool.close().await;
    }
}
