-- Phoenix schema, version 2 (SQLite): per-tenant settings.
-- One row per tenant, written on the first change; a tenant without a row
-- uses the built-in defaults.

CREATE TABLE tenant_settings (
    tenant_id  TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    pricing    TEXT    NOT NULL CHECK (json_valid(pricing)),
    version    INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT ''
) STRICT;
