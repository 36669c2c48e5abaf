-- name: schema_migrations_create
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL
);

-- Serialises concurrent migrations of the same schema (replicas starting
-- together); released at the end of the transaction.
-- name: schema_migrations_lock
SELECT pg_advisory_xact_lock($1);

-- name: schema_migrations_version
SELECT coalesce(max(version), 0)
FROM schema_migrations;

-- name: schema_migrations_insert
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, $3);
