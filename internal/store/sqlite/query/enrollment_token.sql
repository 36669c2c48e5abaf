-- name: enrollment_token_create
INSERT INTO enrollment_tokens (tenant_id, id, name, prefix, hash, labels, created_by, created_at, expires_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
RETURNING tenant_id, id, name, prefix, hash, labels, created_by, created_at, expires_at, revoked_at;

-- name: enrollment_token_get_by_hash
SELECT tenant_id, id, name, prefix, hash, labels, created_by, created_at, expires_at, revoked_at
FROM enrollment_tokens
WHERE hash = ?1;

-- name: enrollment_token_list
SELECT tenant_id, id, name, prefix, hash, labels, created_by, created_at, expires_at, revoked_at
FROM enrollment_tokens
WHERE tenant_id = ?1
ORDER BY created_at DESC, id DESC;

-- name: enrollment_token_revoke
UPDATE enrollment_tokens
SET revoked_at = coalesce(revoked_at, ?3)
WHERE tenant_id = ?1 AND id = ?2
RETURNING tenant_id, id, name, prefix, hash, labels, created_by, created_at, expires_at, revoked_at;
