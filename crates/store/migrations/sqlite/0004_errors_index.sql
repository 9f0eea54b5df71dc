-- The entities with processing errors, for the health view and the front
-- page: a partial index holds only them, so listing them does not scan the
-- whole refresh state (the query repeats the index's WHERE to use it).
CREATE INDEX refresh_state_with_errors ON refresh_state (entity_ref) WHERE errors <> '[]';
