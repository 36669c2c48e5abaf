-- name: agent_upsert
INSERT INTO agents (tenant_id, instance_uid, host_name, labels, agent_version, capabilities, healthy, health,
                    effective_config_hash, remote_config_hash, remote_config_status, remote_config_message,
                    connected, last_seen_at, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)
ON CONFLICT (tenant_id, instance_uid) DO UPDATE
SET host_name             = excluded.host_name,
    labels                = excluded.labels,
    agent_version         = excluded.agent_version,
    capabilities          = excluded.capabilities,
    healthy               = excluded.healthy,
    health                = excluded.health,
    effective_config_hash = excluded.effective_config_hash,
    remote_config_hash    = excluded.remote_config_hash,
    remote_config_status  = excluded.remote_config_status,
    remote_config_message = excluded.remote_config_message,
    connected             = excluded.connected,
    last_seen_at          = excluded.last_seen_at,
    updated_at            = excluded.updated_at
RETURNING tenant_id, instance_uid, host_name, labels, agent_version, capabilities, healthy, health,
          effective_config_hash, remote_config_hash, remote_config_status, remote_config_message,
          connected, last_seen_at, created_at, updated_at;

-- name: agent_get
SELECT tenant_id, instance_uid, host_name, labels, agent_version, capabilities, healthy, health,
       effective_config_hash, remote_config_hash, remote_config_status, remote_config_message,
       connected, last_seen_at, created_at, updated_at
FROM agents
WHERE tenant_id = ?1 AND instance_uid = ?2;

-- The list filters, ORDER BY and LIMIT are appended by AgentList.
-- name: agent_list
SELECT tenant_id, instance_uid, host_name, labels, agent_version, capabilities, healthy, health,
       effective_config_hash, remote_config_hash, remote_config_status, remote_config_message,
       connected, last_seen_at, created_at, updated_at
FROM agents
WHERE tenant_id = ?

-- name: agent_mark_disconnected
UPDATE agents
SET connected    = 0,
    last_seen_at = max(last_seen_at, ?3),
    updated_at   = ?3
WHERE tenant_id = ?1 AND instance_uid = ?2
RETURNING tenant_id, instance_uid, host_name, labels, agent_version, capabilities, healthy, health,
          effective_config_hash, remote_config_hash, remote_config_status, remote_config_message,
          connected, last_seen_at, created_at, updated_at;

-- name: agent_mark_stale
UPDATE agents
SET connected  = 0,
    updated_at = ?2
WHERE connected = 1 AND last_seen_at < ?1;
