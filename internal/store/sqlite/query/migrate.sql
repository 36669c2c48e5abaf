-- name: schema_migrations_create
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;

-- name: schema_migrations_version
SELECT coalesce(max(version), 0)
FROM schema_migrations;

-- name: schema_migrations_insert
INSERT INTO schema_migrations (version, name, applied_at)
VALUES (?1, ?2, ?3);
