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

-- The search index: one row per (key, value) of every final entity. Clustered
-- by (key, value, entity_id), so a filter is a range scan that yields ids in
-- order and a facet is a range scan over one key. Values longer than 200
-- characters are stored as the marker U+0001 ("exists", never equal).
CREATE TABLE search (
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    original_value TEXT,
    PRIMARY KEY (key, value, entity_id)
) WITHOUT ROWID;
CREATE INDEX search_entity ON search (entity_id);

-- Bumped by every write that changes what the API serves; read-side caches
-- (facets) are valid while it is unchanged, on every replica.
CREATE TABLE catalog_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);

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
