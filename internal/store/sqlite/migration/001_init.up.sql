-- Phoenix schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch, UTC.
-- JSON documents are TEXT checked with json_valid.

CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE experiments (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    owner_id   TEXT    NOT NULL DEFAULT '',
    name       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    spec       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(spec)),
    result     TEXT    CHECK (result IS NULL OR json_valid(result)),
    version    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT;

-- Paging order of ExperimentList.
CREATE INDEX experiments_tenant_created_idx ON experiments (tenant_id, created_at DESC, id DESC);
-- "My experiments in state X" views.
CREATE INDEX experiments_tenant_owner_state_created_idx ON experiments (tenant_id, owner_id, state, created_at DESC);
-- The controller's work list (ExperimentListActive); keep in step with store.ActiveStates.
CREATE INDEX experiments_active_idx ON experiments (created_at, tenant_id, id)
    WHERE state IN ('deploying', 'running', 'analyzing');

CREATE TABLE experiment_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT    NOT NULL,
    experiment_id TEXT    NOT NULL,
    from_state    TEXT    NOT NULL,
    to_state      TEXT    NOT NULL,
    actor         TEXT    NOT NULL DEFAULT '',
    reason        TEXT    NOT NULL DEFAULT '',
    version       INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, experiment_id, version)
) STRICT;

CREATE TABLE pipelines (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    config      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    yaml        TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
) STRICT;

CREATE INDEX pipelines_tenant_created_idx ON pipelines (tenant_id, created_at DESC, id DESC);

CREATE TABLE deployments (
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    pipeline_ref  TEXT    NOT NULL,
    params        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    selector      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(selector)),
    state         TEXT    NOT NULL,
    rollout       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(rollout)),
    previous_id   TEXT    NOT NULL DEFAULT '',
    experiment_id TEXT    NOT NULL DEFAULT '',
    created_by    TEXT    NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX deployments_tenant_created_idx ON deployments (tenant_id, created_at DESC, id DESC);
CREATE INDEX deployments_tenant_state_idx ON deployments (tenant_id, state);

CREATE TABLE agents (
    tenant_id             TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    instance_uid          TEXT    NOT NULL,
    host_name             TEXT    NOT NULL DEFAULT '',
    labels                TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
    agent_version         TEXT    NOT NULL DEFAULT '',
    capabilities          INTEGER NOT NULL DEFAULT 0,
    healthy               INTEGER NOT NULL DEFAULT 0,
    health                TEXT    CHECK (health IS NULL OR json_valid(health)),
    effective_config_hash TEXT    NOT NULL DEFAULT '',
    remote_config_hash    TEXT    NOT NULL DEFAULT '',
    remote_config_status  TEXT    NOT NULL DEFAULT '',
    remote_config_message TEXT    NOT NULL DEFAULT '',
    connected             INTEGER NOT NULL DEFAULT 0,
    last_seen_at          INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, instance_uid)
) STRICT;

CREATE INDEX agents_tenant_created_idx ON agents (tenant_id, created_at DESC, instance_uid DESC);
CREATE INDEX agents_connected_seen_idx ON agents (last_seen_at) WHERE connected = 1;

CREATE TABLE enrollment_tokens (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    prefix     TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    labels     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE UNIQUE INDEX enrollment_tokens_hash_key ON enrollment_tokens (hash);
CREATE INDEX enrollment_tokens_tenant_created_idx ON enrollment_tokens (tenant_id, created_at DESC, id DESC);

CREATE TABLE audit_log (
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL DEFAULT '',
    resource_id   TEXT    NOT NULL DEFAULT '',
    details       TEXT    CHECK (details IS NULL OR json_valid(details)),
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC, id DESC);

CREATE TABLE idempotency_keys (
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
