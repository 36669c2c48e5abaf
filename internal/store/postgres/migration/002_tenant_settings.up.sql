-- Phoenix schema, version 2 (PostgreSQL): per-tenant settings.
-- One row per tenant, written on the first change; a tenant without a row
-- uses the built-in defaults.

CREATE TABLE tenant_settings (
    tenant_id  text        NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    pricing    jsonb       NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL DEFAULT ''
);
