//! Everything that differs between SQL engines, kept in one place.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The largest number of bind parameters one statement may carry.
pub(crate) fn max_params(dialect: Dialect) -> usize {
    match dialect {
        // SQLite >= 3.32 allows 32766; stay well below.
        Dialect::Sqlite => 30_000,
    }
}

pub(crate) async fn connect_sqlite(path: &str) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let memory = path == ":memory:";
    let url = if memory {
        "sqlite::memory:".to_string()
    } else {
        format!("sqlite://{path}?mode=rwc")
    };
    let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
    let pool = AnyPoolOptions::new()
        // An in-memory database exists per connection: share exactly one.
        .max_connections(if memory { 1 } else { 4 })
        .min_connections(if memory { 1 } else { 0 })
        .idle_timeout(if memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if memory {
            None
        } else {
            Some(Duration::from_secs(3600))
        })
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA busy_timeout = 10000",
                    "PRAGMA cache_size = -32000",
                    "PRAGMA temp_store = MEMORY",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

pub(crate) async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    match dialect {
        Dialect::Sqlite => SQLITE_MIGRATIONS.run(pool).await?,
    }
    Ok(())
}
