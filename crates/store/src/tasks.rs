//! Scaffolder tasks: the persistent queue workers claim from, and the event
//! log that the event stream and the long-poll route read.
//!
//! Status moves `open` → `processing` → `completed` | `failed` | `cancelled`.
//! Every status change that ends a task writes its `completion` event in the
//! same transaction, so a reader never sees a finished task without one.

use sqlx::Row;

use crate::{Store, StoreError, now_ms};

pub const OPEN: &str = "open";
pub const PROCESSING: &str = "processing";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub id: String,
    /// The task spec as JSON text.
    pub spec: String,
    pub status: String,
    pub created_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub created_by: Option<String>,
    /// Secrets as JSON text, present while the task may still run.
    pub secrets: Option<String>,
}

/// What the janitor does with a task whose worker went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleVerdict {
    StartOver,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEventRow {
    pub id: i64,
    pub task_id: String,
    pub event_type: String,
    /// The event body as JSON text.
    pub body: String,
    pub created_at: i64,
}

/// `GET /v2/tasks` filters, order and page.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub created_by: Vec<String>,
    pub status: Vec<String>,
    /// `(column, descending)`; columns are `created_at`, `status`, `created_by`.
    pub order: Vec<(TaskOrderField, bool)>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOrderField {
    CreatedAt,
    Status,
    CreatedBy,
}

impl TaskOrderField {
    fn column(self) -> &'static str {
        match self {
            TaskOrderField::CreatedAt => "created_at",
            TaskOrderField::Status => "status",
            TaskOrderField::CreatedBy => "created_by",
        }
    }
}

const TASK_COLUMNS: &str = "id, spec, status, created_at, last_heartbeat_at, created_by, secrets";

fn row_to_task(row: &sqlx::any::AnyRow) -> Result<TaskRow, StoreError> {
    Ok(TaskRow {
        id: row.try_get(0)?,
        spec: row.try_get(1)?,
        status: row.try_get(2)?,
        created_at: row.try_get(3)?,
        last_heartbeat_at: row.try_get(4)?,
        created_by: row.try_get(5)?,
        secrets: row.try_get(6)?,
    })
}

fn row_to_event(row: &sqlx::any::AnyRow) -> Result<TaskEventRow, StoreError> {
    Ok(TaskEventRow {
        id: row.try_get(0)?,
        task_id: row.try_get(1)?,
        event_type: row.try_get(2)?,
        body: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

fn is_terminal(status: &str) -> bool {
    matches!(status, COMPLETED | FAILED | CANCELLED)
}

async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    task_id: &str,
    event_type: &str,
    body: &str,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO task_events (task_id, event_type, body, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(task_id)
    .bind(event_type)
    .bind(body)
    .bind(now_ms())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

impl Store {
    pub async fn create_task(
        &self,
        id: &str,
        spec: &str,
        created_by: Option<&str>,
        secrets: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tasks (id, spec, status, created_at, created_by, secrets) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(spec)
        .bind(OPEN)
        .bind(now_ms())
        .bind(created_by)
        .bind(secrets)
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row_to_task)
            .transpose()
    }

    /// Tasks matching `filter`, and how many match without the page.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<(Vec<TaskRow>, i64), StoreError> {
        let mut clauses = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        for (column, values) in [
            ("created_by", &filter.created_by),
            ("status", &filter.status),
        ] {
            if values.is_empty() {
                continue;
            }
            let placeholders: Vec<String> = values
                .iter()
                .map(|v| {
                    binds.push(v.clone());
                    format!("${}", binds.len())
                })
                .collect();
            clauses.push(format!("{column} IN ({})", placeholders.join(", ")));
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let mut order: Vec<String> = filter
            .order
            .iter()
            .map(|(f, desc)| format!("{} {}", f.column(), if *desc { "DESC" } else { "ASC" }))
            .collect();
        if order.is_empty() {
            order.push("created_at DESC".into());
        }
        // A stable tiebreak so pages never overlap.
        order.push("id ASC".into());
        let mut sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks{filter_sql} ORDER BY {}",
            order.join(", ")
        );
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {}", limit.max(0)));
            if let Some(offset) = filter.offset {
                sql.push_str(&format!(" OFFSET {}", offset.max(0)));
            }
        } else if let Some(offset) = filter.offset {
            sql.push_str(&format!(" LIMIT -1 OFFSET {}", offset.max(0)));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b.clone());
        }
        let rows = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_task)
            .collect::<Result<Vec<_>, _>>()?;
        let count_sql = format!("SELECT COUNT(*) FROM tasks{filter_sql}");
        let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
        for b in &binds {
            count = count.bind(b.clone());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get(0)?;
        Ok((rows, total))
    }

    /// Claims the oldest open task for a worker, marking it `processing`.
    pub async fn claim_task(&self) -> Result<Option<TaskRow>, StoreError> {
        // Idle workers poll: look on a read connection first, so that an
        // empty queue never takes the write lock the catalog writes need.
        let waiting = sqlx::query("SELECT 1 FROM tasks WHERE status = $1 LIMIT 1")
            .bind(OPEN)
            .fetch_optional(&self.pool)
            .await?;
        if waiting.is_none() {
            return Ok(None);
        }
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "UPDATE tasks SET status = $1, last_heartbeat_at = $2 WHERE id = \
             (SELECT id FROM tasks WHERE status = $3 ORDER BY created_at, id LIMIT 1) \
             RETURNING {TASK_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PROCESSING)
            .bind(now_ms())
            .bind(OPEN)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(row_to_task).transpose()
    }

    /// Records that the worker running `id` is alive. Returns the task's
    /// status, so the worker notices a cancellation or a janitor's verdict.
    pub async fn heartbeat_task(&self, id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("UPDATE tasks SET last_heartbeat_at = $1 WHERE id = $2 AND status = $3")
            .bind(now_ms())
            .bind(id)
            .bind(PROCESSING)
            .execute(&self.write_pool)
            .await?;
        let row = sqlx::query("SELECT status FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn append_task_event(
        &self,
        task_id: &str,
        event_type: &str,
        body: &str,
    ) -> Result<i64, StoreError> {
        let mut conn = self.write_pool.acquire().await?;
        insert_event(&mut conn, task_id, event_type, body).await
    }

    /// Ends a task that a worker ran: sets its final status (a cancellation
    /// that arrived meanwhile wins), forgets its secrets and writes the
    /// completion event.
    pub async fn complete_task(
        &self,
        id: &str,
        status: &str,
        completion_body: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        // A janitor that already failed the task has written its completion.
        let changed = sqlx::query(
            "UPDATE tasks SET status = CASE WHEN status = $1 THEN status ELSE $2 END, \
             secrets = NULL WHERE id = $3 AND status IN ($1, $4)",
        )
        .bind(CANCELLED)
        .bind(status)
        .bind(id)
        .bind(PROCESSING)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            insert_event(&mut tx, id, "completion", completion_body).await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// Marks running tasks as stale at once, so that the next janitor pass
    /// (of this or another instance) recovers them without waiting for the
    /// heartbeat timeout. Used when the server stops.
    pub async fn expire_task_heartbeats(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            sqlx::query("UPDATE tasks SET last_heartbeat_at = 0 WHERE id = $1 AND status = $2")
                .bind(id)
                .bind(PROCESSING)
                .execute(&self.write_pool)
                .await?;
        }
        Ok(())
    }

    /// Cancels an open or running task. An open task ends here; a running
    /// one is stopped by its worker, which sees the status on its next
    /// heartbeat. Returns the status the task had, `None` if unknown.
    pub async fn cancel_task(
        &self,
        id: &str,
        cancelled_body: &str,
        completion_body: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(row) = sqlx::query("SELECT status FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let status: String = row.try_get(0)?;
        if status == OPEN || status == PROCESSING {
            sqlx::query("UPDATE tasks SET status = $1 WHERE id = $2")
                .bind(CANCELLED)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, id, "cancelled", cancelled_body).await?;
            if status == OPEN {
                sqlx::query("UPDATE tasks SET secrets = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                insert_event(&mut tx, id, "completion", completion_body).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(status))
    }

    /// Puts a finished task back in the queue under the same id. Its old
    /// completion event goes, so event streams follow the new run.
    pub async fn retry_task(
        &self,
        id: &str,
        secrets: Option<&str>,
        recovered_body: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(row) = sqlx::query("SELECT status FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(StoreError::NotFound(format!(
                "Task with id {id} does not exist"
            )));
        };
        let status: String = row.try_get(0)?;
        if !is_terminal(&status) {
            return Err(StoreError::Conflict(format!(
                "Task {id} is {status}; only completed, failed or cancelled tasks can be retried"
            )));
        }
        sqlx::query(
            "UPDATE tasks SET status = $1, last_heartbeat_at = NULL, secrets = $2 WHERE id = $3",
        )
        .bind(OPEN)
        .bind(secrets)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM task_events WHERE task_id = $1 AND event_type = 'completion'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, id, "recovered", recovered_body).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Running tasks whose worker has not sent a heartbeat since `before_ms`.
    pub async fn stale_tasks(&self, before_ms: i64) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status = $1 AND \
             (last_heartbeat_at IS NULL OR last_heartbeat_at < $2) ORDER BY created_at"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PROCESSING)
            .bind(before_ms)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_task)
            .collect()
    }

    /// Acts on a stale task, if it is still stale (so two janitors cannot
    /// both act on it): re-opens it for a worker to start over (with a
    /// `recovered` event), or fails it (with its completion event).
    pub async fn resolve_stale_task(
        &self,
        id: &str,
        before_ms: i64,
        verdict: StaleVerdict,
        event_body: &str,
    ) -> Result<bool, StoreError> {
        let (status, event) = match verdict {
            StaleVerdict::StartOver => (OPEN, "recovered"),
            StaleVerdict::Fail => (FAILED, "completion"),
        };
        let mut tx = self.write_tx().await?;
        // A re-opened task keeps its secrets for the new run; a failed one
        // forgets them.
        let changed = sqlx::query(
            "UPDATE tasks SET status = $1, last_heartbeat_at = NULL, \
             secrets = CASE WHEN $1 = $5 THEN NULL ELSE secrets END \
             WHERE id = $2 AND status = $3 AND (last_heartbeat_at IS NULL OR last_heartbeat_at < $4)",
        )
        .bind(status)
        .bind(id)
        .bind(PROCESSING)
        .bind(before_ms)
        .bind(FAILED)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            insert_event(&mut tx, id, event, event_body).await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// Events of a task with an id above `after` (all without it); the
    /// completion event is always included.
    pub async fn task_events(
        &self,
        task_id: &str,
        after: Option<i64>,
    ) -> Result<Vec<TaskEventRow>, StoreError> {
        sqlx::query(
            "SELECT id, task_id, event_type, body, created_at FROM task_events \
             WHERE task_id = $1 AND (id > $2 OR event_type = 'completion') ORDER BY id",
        )
        .bind(task_id)
        .bind(after.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row_to_event)
        .collect()
    }
}
