-- The catalog's tables, modelled on Backstage's (see ARCHITECTURE.md, "store").
CREATE TABLE refresh_state (
    entity_id          TEXT PRIMARY KEY,
    entity_ref         TEXT NOT NULL UNIQUE,
    unprocessed_entity TEXT NOT NULL,
    processed_entity   TEXT,
    result_hash        TEXT,
    errors             TEXT NOT NULL DEFAULT '[]',
    location_key       TEXT,
    next_update_at     BIGINT NOT NULL,
    last_discovery_at  BIGINT NOT NULL
);
CREATE INDEX refresh_state_next_update ON refresh_state (next_update_at);

CREATE TABLE refresh_state_references (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    source_key        TEXT,
    source_entity_ref TEXT,
    target_entity_ref TEXT NOT NULL
);
CREATE INDEX refs_source_key ON refresh_state_references (source_key);
CREATE INDEX refs_source_entity ON refresh_state_references (source_entity_ref);
CREATE INDEX refs_target_entity ON refresh_state_references (target_entity_ref);

CREATE TABLE relations (
    originating_entity_id TEXT NOT NULL,
    source_entity_ref     TEXT NOT NULL,
    type                  TEXT NOT NULL,
    target_entity_ref     TEXT NOT NULL
);
CREATE INDEX relations_origin ON relations (originating_entity_id);
CREATE INDEX relations_source ON relations (source_entity_ref);

CREATE TABLE final_entities (
    entity_id       TEXT PRIMARY KEY,
    entity_ref      TEXT NOT NULL UNIQUE,
    final_entity    TEXT NOT NULL,
    hash            TEXT NOT NULL,
    last_updated_at BIGINT NOT NULL
);

-- Clustered by entity (ids are time-ordered UUIDv7), with one covering index
-- for filters and facets; `seq` numbers the rows of one entity.
CREATE TABLE search (
    entity_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    key            TEXT NOT NULL,
    value          TEXT,
    original_value TEXT,
    PRIMARY KEY (entity_id, seq)
) WITHOUT ROWID;
CREATE INDEX search_key_value ON search (key, value, original_value);

CREATE TABLE locations (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    target     TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    UNIQUE (type, target)
);

-- Entities whose final form must be rebuilt because something they relate to
-- changed. Drained in bulk, so a group with thousands of members is stitched
-- once per drain instead of once per member change.
CREATE TABLE stitch_queue (
    entity_ref TEXT PRIMARY KEY,
    queued_at  BIGINT NOT NULL
);
