-- Full-text index of built TechDocs sites: one row per page and section.
CREATE VIRTUAL TABLE docs_fts USING fts5(
    entity_ref UNINDEXED,
    location UNINDEXED,
    title,
    text,
    tokenize = 'porter unicode61'
);
-- Which version (etag) of each entity's site the index holds.
CREATE TABLE docs_indexed (
    entity_ref TEXT PRIMARY KEY NOT NULL,
    etag TEXT NOT NULL,
    indexed_at BIGINT NOT NULL
);
