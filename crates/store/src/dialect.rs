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

/// Read and write pools for a SQLite database. SQLite has one writer at a
/// time anyway, so writes get one connection with a large page cache (index
/// pages stay hot during ingestion) and reads get a few with small caches.
pub(crate) struct SqlitePools {
    pub read: AnyPool,
    pub write: AnyPool,
}

async fn sqlite_pool(
    url: &str,
    connections: u32,
    cache_kib: i64,
    memory: bool,
) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
    let cache = format!("PRAGMA cache_size = -{cache_kib}");
    Ok(AnyPoolOptions::new()
        .max_connections(connections)
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
        .after_connect(move |conn, _meta| {
            let cache = cache.clone();
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA busy_timeout = 10000",
                    // Fewer, larger checkpoints: pages rewritten by successive
                    // batches are copied to the database once.
                    "PRAGMA wal_autocheckpoint = 8000",
                    "PRAGMA temp_store = MEMORY",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                sqlx::query(sqlx::AssertSqlSafe(cache))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

pub(crate) async fn connect_sqlite(path: &str) -> Result<SqlitePools, StoreError> {
    sqlx::any::install_default_drivers();
    if path == ":memory:" {
        // An in-memory database exists per connection: share exactly one.
        let pool = sqlite_pool("sqlite::memory:", 1, 16_000, true).await?;
        return Ok(SqlitePools {
            read: pool.clone(),
            write: pool,
        });
    }
    let url = format!("sqlite://{path}?mode=rwc");
    let write = sqlite_pool(&url, 1, 64_000, false).await?;
    let read = sqlite_pool(&url, 4, 8_000, false).await?;
    Ok(SqlitePools { read, write })
}

pub(crate) async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    match dialect {
        Dialect::Sqlite => SQLITE_MIGRATIONS.run(pool).await?,
    }
    Ok(())
}

/// `INSERT INTO table (columns) <rows of one JSON array parameter>`: each row
/// is a JSON array of the column values in order.
pub(crate) fn bulk_insert_sql(
    dialect: Dialect,
    table: &str,
    columns: &[&str],
) -> sqlx::AssertSqlSafe<String> {
    match dialect {
        Dialect::Sqlite => {
            let picks: Vec<String> = (0..columns.len())
                .map(|i| format!("j.value ->> {i}"))
                .collect();
            sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} ({}) SELECT {} FROM json_each($1) AS j",
                columns.join(", "),
                picks.join(", ")
            ))
        }
    }
}

/// `<prefix> (<the string items of the JSON array parameter $1>)`.
pub(crate) fn select_in_json_sql(dialect: Dialect, prefix: &str) -> sqlx::AssertSqlSafe<String> {
    match dialect {
        Dialect::Sqlite => {
            sqlx::AssertSqlSafe(format!("{prefix} (SELECT value FROM json_each($1))"))
        }
    }
}

/// Updates `columns` of the rows whose `key` is the first item of each row
/// of the JSON array parameter; the other items are the new values in order.
pub(crate) fn bulk_update_sql(
    dialect: Dialect,
    table: &str,
    key: &str,
    columns: &[&str],
) -> sqlx::AssertSqlSafe<String> {
    match dialect {
        Dialect::Sqlite => {
            let sets: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = j.value ->> {}", i + 1))
                .collect();
            sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {} FROM json_each($1) AS j WHERE {table}.{key} = j.value ->> 0",
                sets.join(", ")
            ))
        }
    }
}

/// Like [`bulk_insert_sql`], skipping rows whose `conflict` column exists.
pub(crate) fn bulk_insert_ignore_sql(
    dialect: Dialect,
    table: &str,
    columns: &[&str],
    conflict: &str,
) -> sqlx::AssertSqlSafe<String> {
    let sqlx::AssertSqlSafe(insert) = bulk_insert_sql(dialect, table, columns);
    // SQLite needs a WHERE to parse ON CONFLICT after INSERT ... SELECT.
    sqlx::AssertSqlSafe(format!(
        "{insert} WHERE true ON CONFLICT ({conflict}) DO NOTHING"
    ))
}

/// Like [`bulk_insert_sql`], replacing the other columns of rows whose
/// `conflict` column already exists.
pub(crate) fn bulk_upsert_sql(
    dialect: Dialect,
    table: &str,
    columns: &[&str],
    conflict: &str,
) -> sqlx::AssertSqlSafe<String> {
    let sqlx::AssertSqlSafe(insert) = bulk_insert_sql(dialect, table, columns);
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| **c != conflict)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    sqlx::AssertSqlSafe(format!(
        "{insert} WHERE true ON CONFLICT ({conflict}) DO UPDATE SET {}",
        updates.join(", ")
    ))
}

/// The statement that opens a write transaction.
pub(crate) fn begin_write(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
    }
}
