-- name: tenant_settings_get
SELECT tenant_id, pricing, version, updated_at, updated_by
FROM tenant_settings
WHERE tenant_id = $1;

-- Inserts the settings at version 1, or replaces the stored ones at the
-- next version whatever their version (last write wins).
-- name: tenant_settings_upsert
INSERT INTO tenant_settings (tenant_id, pricing, version, updated_at, updated_by)
VALUES ($1, $2, 1, $3, $4)
ON CONFLICT (tenant_id) DO UPDATE
SET pricing    = excluded.pricing,
    version    = tenant_settings.version + 1,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
RETURNING tenant_id, pricing, version, updated_at, updated_by;

-- Replaces the stored settings only if they are still at version $2.
-- name: tenant_settings_update
UPDATE tenant_settings
SET pricing    = $3,
    version    = version + 1,
    updated_at = $4,
    updated_by = $5
WHERE tenant_id = $1 AND version = $2
RETURNING tenant_id, pricing, version, updated_at, updated_by;

-- The stored version of a tenant's settings, 0 when none are stored; no row
-- when the tenant does not exist.
-- name: tenant_settings_version
SELECT coalesce((SELECT version FROM tenant_settings WHERE tenant_id = $1), 0)
FROM tenants
WHERE id = $1;
