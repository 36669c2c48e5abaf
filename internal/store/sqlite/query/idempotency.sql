-- name: idempotency_get
SELECT tenant_id, key, request_hash, response_status, response_body, created_at, expires_at
FROM idempotency_keys
WHERE tenant_id = ?1 AND key = ?2 AND expires_at > ?3;

-- Inserts a pending record (response_status 0), or replaces one that has
-- expired; an unexpired record is left alone and no row is returned.
-- name: idempotency_claim
INSERT INTO idempotency_keys (tenant_id, key, request_hash, response_status, response_body, created_at, expires_at)
VALUES (?1, ?2, ?3, 0, X'', ?4, ?5)
ON CONFLICT (tenant_id, key) DO UPDATE
SET request_hash    = excluded.request_hash,
    response_status = 0,
    response_body   = excluded.response_body,
    created_at      = excluded.created_at,
    expires_at      = excluded.expires_at
WHERE idempotency_keys.expires_at <= excluded.created_at
RETURNING tenant_id, key, request_hash, response_status, response_body, created_at, expires_at;

-- Inserts the record, completes the pending record of the same request, or
-- replaces one that has expired; any other unexpired record is left alone
-- and no row is returned.
-- name: idempotency_put
INSERT INTO idempotency_keys (tenant_id, key, request_hash, response_status, response_body, created_at, expires_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (tenant_id, key) DO UPDATE
SET request_hash    = excluded.request_hash,
    response_status = excluded.response_status,
    response_body   = excluded.response_body,
    created_at      = excluded.created_at,
    expires_at      = excluded.expires_at
WHERE idempotency_keys.expires_at <= excluded.created_at
   OR (idempotency_keys.response_status = 0 AND idempotency_keys.request_hash = excluded.request_hash)
RETURNING tenant_id, key, request_hash, response_status, response_body, created_at, expires_at;

-- name: idempotency_release
DELETE FROM idempotency_keys
WHERE tenant_id = ?1 AND key = ?2 AND request_hash = ?3 AND response_status = 0;

-- name: idempotency_delete_expired
DELETE FROM idempotency_keys
WHERE expires_at <= ?1;
