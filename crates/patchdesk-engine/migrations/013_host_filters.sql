-- Saved host filters (issue #14): a search, group, environment and tag under a name, picked again
-- in the Hosts view or with `patchdesk host list --filter NAME`. The environment is stored by its
-- name (`prod` / `non-prod`), read back through `Environment::from_str`.
CREATE TABLE host_filters (
    name TEXT PRIMARY KEY,
    query TEXT NOT NULL DEFAULT '',
    group_name TEXT,
    environment TEXT,
    tag TEXT,
    saved_at TEXT NOT NULL
);
