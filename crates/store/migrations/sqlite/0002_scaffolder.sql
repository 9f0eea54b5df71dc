-- Scaffolder tasks: a queue claimed by workers, and each task's event log.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT,
    created_by TEXT,
    -- Cleared when the task ends: secrets live only as long as the task runs.
    secrets TEXT
);
CREATE INDEX tasks_status_created ON tasks (status, created_at);
CREATE INDEX tasks_created ON tasks (created_at);

CREATE TABLE task_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX task_events_task ON task_events (task_id, id);
