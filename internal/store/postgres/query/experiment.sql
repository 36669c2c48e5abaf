-- name: experiment_create
INSERT INTO experiments (tenant_id, id, owner_id, name, state, spec, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)
RETURNING tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at;

-- name: experiment_get
SELECT tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at
FROM experiments
WHERE tenant_id = $1 AND id = $2;

-- name: experiment_exists
SELECT state, version
FROM experiments
WHERE tenant_id = $1 AND id = $2;

-- The list filters, ORDER BY and LIMIT are appended by ExperimentList.
-- name: experiment_list
SELECT tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at
FROM experiments
WHERE tenant_id = $1

-- name: experiment_list_active
SELECT tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at
FROM experiments
WHERE state IN ('deploying', 'running', 'analyzing')
ORDER BY created_at, tenant_id, id;

-- name: experiment_update
UPDATE experiments
SET name       = coalesce($4, name),
    owner_id   = coalesce($5, owner_id),
    spec       = coalesce($6, spec),
    version    = version + 1,
    updated_at = $7
WHERE tenant_id = $1 AND id = $2 AND version = $3
RETURNING tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at;

-- name: experiment_set_result
UPDATE experiments
SET result     = $4,
    version    = version + 1,
    updated_at = $5
WHERE tenant_id = $1 AND id = $2 AND ($3 = 0 OR version = $3)
RETURNING tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at;

-- name: experiment_delete
DELETE FROM experiments
WHERE tenant_id = $1 AND id = $2;

-- The compare-and-set of a transition: it matches no row unless the
-- experiment is still in the expected state.
-- name: experiment_transition
UPDATE experiments
SET state      = $4,
    version    = version + 1,
    updated_at = $5,
    started_at = CASE WHEN $6 THEN $5 ELSE started_at END,
    ended_at   = CASE WHEN $7 THEN $5 ELSE ended_at END,
    result     = coalesce($8, result)
WHERE tenant_id = $1 AND id = $2 AND state = $3
RETURNING tenant_id, id, owner_id, name, state, spec, result, version, created_at, updated_at, started_at, ended_at;

-- name: experiment_event_insert
INSERT INTO experiment_events (tenant_id, experiment_id, from_state, to_state, actor, reason, version, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING seq, tenant_id, experiment_id, from_state, to_state, actor, reason, version, at;

-- name: experiment_event_list
SELECT seq, tenant_id, experiment_id, from_state, to_state, actor, reason, version, at
FROM experiment_events
WHERE tenant_id = $1 AND experiment_id = $2
ORDER BY seq;
