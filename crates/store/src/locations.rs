//! Registered locations (`POST /locations`).

use sqlx::Row;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub entity_ref: String,
}

fn row_to_location(row: &sqlx::any::AnyRow) -> Result<LocationRow, StoreError> {
    Ok(LocationRow {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        target: row.try_get(2)?,
        entity_ref: row.try_get(3)?,
    })
}

impl Store {
    pub async fn list_locations(&self) -> Result<Vec<LocationRow>, StoreError> {
        sqlx::query("SELECT id, type, target, entity_ref FROM locations ORDER BY type, target")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_location)
            .collect()
    }

    pub async fn location_by_id(&self, id: &str) -> Result<Option<LocationRow>, StoreError> {
        sqlx::query("SELECT id, type, target, entity_ref FROM locations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row_to_location)
            .transpose()
    }

    pub async fn location_by_target(
        &self,
        kind: &str,
        target: &str,
    ) -> Result<Option<LocationRow>, StoreError> {
        sqlx::query(
            "SELECT id, type, target, entity_ref FROM locations WHERE type = $1 AND target = $2",
        )
        .bind(kind)
        .bind(target)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(row_to_location)
        .transpose()
    }

    /// Inserts a location; a duplicate (type, target) is a conflict.
    pub async fn create_location(&self, row: &LocationRow) -> Result<(), StoreError> {
        if self
            .location_by_target(&row.kind, &row.target)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "Location {}:{} already exists",
                row.kind, row.target
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO locations (id, type, target, entity_ref) VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.id)
        .bind(&row.kind)
        .bind(&row.target)
        .bind(&row.entity_ref)
        .execute(&self.write_pool)
        .await;
        match inserted {
            // Two registrations racing past the check above: the loser is a conflict.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("Location {}:{} already exists", row.kind, row.target),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    pub async fn delete_location(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM locations WHERE id = $1")
            .bind(id)
            .execute(&self.write_pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
