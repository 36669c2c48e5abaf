-- Phoenix schema, version 1 (PostgreSQL).
-- Objects are created unqualified, in the first schema of the search_path.

CREATE TABLE tenants (
    id         text        NOT NULL PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    tenant_id    text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           text        NOT NULL,
    name         text        NOT NULL DEFAULT '',
    prefix       text        NOT NULL,
    hash         text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE experiments (
    tenant_id  text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         text        NOT NULL,
    owner_id   text        NOT NULL DEFAULT '',
    name       text        NOT NULL,
    state      text        NOT NULL,
    spec       jsonb       NOT NULL DEFAULT '{}',
    result     jsonb,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    started_at timestamptz,
    ended_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- Paging order of ExperimentList.
CREATE INDEX experiments_tenant_created_idx ON experiments (tenant_id, created_at DESC, id DESC);
-- "My experiments in state X" views.
CREATE INDEX experiments_tenant_owner_state_created_idx ON experiments (tenant_id, owner_id, state, created_at DESC);
-- The controller's work list (ExperimentListActive); keep in step with store.ActiveStates.
CREATE INDEX experiments_active_idx ON experiments (created_at, tenant_id, id)
    WHERE state IN ('deploying', 'running', 'analyzing');

CREATE TABLE experiment_events (
    seq           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text        NOT NULL,
    experiment_id text        NOT NULL,
    from_state    text        NOT NULL,
    to_state      text        NOT NULL,
    actor         text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    version       bigint      NOT NULL,
    at            timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, experiment_id, version)
);

CREATE TABLE pipelines (
    tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    config      jsonb       NOT NULL DEFAULT '{}',
    yaml        text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE INDEX pipelines_tenant_created_idx ON pipelines (tenant_id, created_at DESC, id DESC);
-- Containment queries on pipeline definitions (config @> '{"processors":{...}}').
CREATE INDEX pipelines_config_gin_idx ON pipelines USING gin (config jsonb_path_ops);

CREATE TABLE deployments (
    tenant_id     text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            text        NOT NULL,
    name          text        NOT NULL DEFAULT '',
    pipeline_ref  text        NOT NULL,
    params        jsonb       NOT NULL DEFAULT '{}',
    selector      jsonb       NOT NULL DEFAULT '{}',
    state         text        NOT NULL,
    rollout       jsonb       NOT NULL DEFAULT '{}',
    previous_id   text        NOT NULL DEFAULT '',
    experiment_id text        NOT NULL DEFAULT '',
    created_by    text        NOT NULL DEFAULT '',
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX deployments_tenant_created_idx ON deployments (tenant_id, created_at DESC, id DESC);
CREATE INDEX deployments_tenant_state_idx ON deployments (tenant_id, state);

CREATE TABLE agents (
    tenant_id             text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    instance_uid          text        NOT NULL,
    host_name             text        NOT NULL DEFAULT '',
    labels                jsonb       NOT NULL DEFAULT '{}',
    agent_version         text        NOT NULL DEFAULT '',
    capabilities          bigint      NOT NULL DEFAULT 0,
    healthy               boolean     NOT NULL DEFAULT false,
    health                jsonb,
    effective_config_hash text        NOT NULL DEFAULT '',
    remote_config_hash    text        NOT NULL DEFAULT '',
    remote_config_status  text        NOT NULL DEFAULT '',
    remote_config_message text        NOT NULL DEFAULT '',
    connected             boolean     NOT NULL DEFAULT false,
    last_seen_at          timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, instance_uid)
);

CREATE INDEX agents_tenant_created_idx ON agents (tenant_id, created_at DESC, instance_uid DESC);
CREATE INDEX agents_connected_seen_idx ON agents (last_seen_at) WHERE connected;

CREATE TABLE enrollment_tokens (
    tenant_id  text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         text        NOT NULL,
    name       text        NOT NULL DEFAULT '',
    prefix     text        NOT NULL,
    hash       text        NOT NULL,
    labels     jsonb       NOT NULL DEFAULT '{}',
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX enrollment_tokens_hash_key ON enrollment_tokens (hash);
CREATE INDEX enrollment_tokens_tenant_created_idx ON enrollment_tokens (tenant_id, created_at DESC, id DESC);

CREATE TABLE audit_log (
    tenant_id     text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            text        NOT NULL,
    at            timestamptz NOT NULL,
    actor         text        NOT NULL,
    action        text        NOT NULL,
    resource_type text        NOT NULL DEFAULT '',
    resource_id   text        NOT NULL DEFAULT '',
    details       jsonb,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC, id DESC);

CREATE TABLE idempotency_keys (
    tenant_id       text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key             text        NOT NULL,
    request_hash    text        NOT NULL,
    response_status integer     NOT NULL,
    response_body   bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
