-- name: tenant_create
INSERT INTO tenants (id, name, created_at)
VALUES ($1, $2, $3)
RETURNING id, name, created_at;

-- name: tenant_get
SELECT id, name, created_at
FROM tenants
WHERE id = $1;

-- name: tenant_list
SELECT id, name, created_at
FROM tenants
ORDER BY name;
