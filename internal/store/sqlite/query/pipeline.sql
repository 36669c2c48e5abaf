-- name: pipeline_create
INSERT INTO pipelines (tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)
RETURNING tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at;

-- name: pipeline_get
SELECT tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at
FROM pipelines
WHERE tenant_id = ?1 AND id = ?2;

-- name: pipeline_get_by_name
SELECT tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at
FROM pipelines
WHERE tenant_id = ?1 AND name = ?2;

-- name: pipeline_exists
SELECT version
FROM pipelines
WHERE tenant_id = ?1 AND id = ?2;

-- The list filters, ORDER BY and LIMIT are appended by PipelineList.
-- name: pipeline_list
SELECT tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at
FROM pipelines
WHERE tenant_id = ?

-- name: pipeline_update
UPDATE pipelines
SET name        = coalesce(?4, name),
    description = coalesce(?5, description),
    config      = coalesce(?6, config),
    yaml        = coalesce(?7, yaml),
    version     = version + 1,
    updated_at  = ?8
WHERE tenant_id = ?1 AND id = ?2 AND version = ?3
RETURNING tenant_id, id, name, description, config, yaml, created_by, version, created_at, updated_at;

-- name: pipeline_delete
DELETE FROM pipelines
WHERE tenant_id = ?1 AND id = ?2;
