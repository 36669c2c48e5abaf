-- name: idempotency_get
SELECT tenant_id, key, request_hash, response_status, response_body, created_at, expires_at
FROM idempotency_keys
WHERE tenant_id = $1 AND key = $2 AND expires_at > $3;

-- Inserts the record, or replaces one that has expired; an unexpired record
-- is left alone and no row is returned.
-- name: idempotency_put
INSERT INTO idempotency_keys (tenant_id, key, request_hash, response_status, response_body, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, key) DO UPDATE
SET request_hash    = excluded.request_hash,
    response_status = excluded.response_status,
    response_body   = excluded.response_body,
    created_at      = excluded.created_at,
    expires_at      = excluded.expires_at
WHERE idempotency_keys.expires_at <= excluded.created_at
RETURNING tenant_id, key, request_hash, response_status, response_body, created_at, expires_at;

-- name: idempotency_delete_expired
DELETE FROM idempotency_keys
WHERE expires_at <= $1;
