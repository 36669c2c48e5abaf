-- name: api_key_create
INSERT INTO api_keys (tenant_id, id, name, prefix, hash, role, created_by, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING tenant_id, id, name, prefix, hash, role, created_by, created_at, expires_at, last_used_at, revoked_at;

-- name: api_key_get_by_hash
SELECT tenant_id, id, name, prefix, hash, role, created_by, created_at, expires_at, last_used_at, revoked_at
FROM api_keys
WHERE hash = $1;

-- name: api_key_list
SELECT tenant_id, id, name, prefix, hash, role, created_by, created_at, expires_at, last_used_at, revoked_at
FROM api_keys
WHERE tenant_id = $1
ORDER BY created_at DESC, id DESC;

-- name: api_key_touch
UPDATE api_keys
SET last_used_at = greatest(last_used_at, $3)
WHERE tenant_id = $1 AND id = $2;

-- name: api_key_revoke
UPDATE api_keys
SET revoked_at = coalesce(revoked_at, $3)
WHERE tenant_id = $1 AND id = $2
RETURNING tenant_id, id, name, prefix, hash, role, created_by, created_at, expires_at, last_used_at, revoked_at;
