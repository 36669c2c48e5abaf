-- name: deployment_create
INSERT INTO deployments (tenant_id, id, name, pipeline_ref, params, selector, state, rollout,
                         previous_id, experiment_id, created_by, version, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12)
RETURNING tenant_id, id, name, pipeline_ref, params, selector, state, rollout,
          previous_id, experiment_id, created_by, version, created_at, updated_at;

-- name: deployment_get
SELECT tenant_id, id, name, pipeline_ref, params, selector, state, rollout,
       previous_id, experiment_id, created_by, version, created_at, updated_at
FROM deployments
WHERE tenant_id = ?1 AND id = ?2;

-- name: deployment_exists
SELECT version
FROM deployments
WHERE tenant_id = ?1 AND id = ?2;

-- The list filters, ORDER BY and LIMIT are appended by DeploymentList.
-- name: deployment_list
SELECT tenant_id, id, name, pipeline_ref, params, selector, state, rollout,
       previous_id, experiment_id, created_by, version, created_at, updated_at
FROM deployments
WHERE tenant_id = ?

-- name: deployment_update
UPDATE deployments
SET state      = coalesce(?4, state),
    params     = coalesce(?5, params),
    selector   = coalesce(?6, selector),
    rollout    = coalesce(?7, rollout),
    version    = version + 1,
    updated_at = ?8
WHERE tenant_id = ?1 AND id = ?2 AND version = ?3
RETURNING tenant_id, id, name, pipeline_ref, params, selector, state, rollout,
          previous_id, experiment_id, created_by, version, created_at, updated_at;

-- name: deployment_delete
DELETE FROM deployments
WHERE tenant_id = ?1 AND id = ?2;
