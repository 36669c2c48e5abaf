package store

import (
	"encoding/json"
	"time"
)

// Tenant is an isolated customer of Phoenix; every other row belongs to one.
type Tenant struct {
	// ID identifies the tenant.
	ID string
	// Name is unique across tenants.
	Name string
	// CreatedAt is when the tenant was created.
	CreatedAt time.Time
}

// TenantSettings are a tenant's preferences, one row per tenant. The store
// keeps each document as given and does not interpret it.
type TenantSettings struct {
	// TenantID is the owning tenant.
	TenantID string
	// Pricing is the tenant's price list for the cost model, a JSON document
	// (the API stores an array of pricing profiles).
	Pricing json.RawMessage
	// Version is 1 after the first write and increases by one with every
	// write; optimistic writes carry it.
	Version int64
	// UpdatedAt is when the settings were last written.
	UpdatedAt time.Time
	// UpdatedBy names who last wrote the settings; empty when unknown.
	UpdatedBy string
}

// Roles an API key can carry. The store refuses any other value.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// APIKey is a credential of a tenant. Only a hash of the secret is stored;
// Prefix is a short, non-secret part of it shown to people to tell keys apart.
type APIKey struct {
	// ID identifies the key within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// Name is a free label, e.g. "ci".
	Name string
	// Prefix is the displayable start of the key.
	Prefix string
	// Hash is the hash of the secret, unique across tenants.
	Hash string
	// Role is RoleAdmin, RoleEditor or RoleViewer.
	Role string
	// CreatedBy names who created the key; empty when unknown.
	CreatedBy string
	// CreatedAt is when the key was created.
	CreatedAt time.Time
	// ExpiresAt is when the key stops working; nil means never.
	ExpiresAt *time.Time
	// LastUsedAt is the last recorded use; nil means never used.
	LastUsedAt *time.Time
	// RevokedAt is when the key was revoked; nil means not revoked.
	RevokedAt *time.Time
}

// Usable reports whether the key is neither revoked nor expired at now.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// ActiveStates are the experiment states the controller drives. They are the
// states [Store.ExperimentListActive] returns, and the predicate of the
// partial index both dialects keep on experiments.
var ActiveStates = []string{"deploying", "running", "analyzing"}

// Experiment is an A/B test of pipeline strategies. The store keeps State as
// a plain string; which transitions are legal is decided by the caller, and
// the store only guarantees that each one happens once
// ([Store.ExperimentTransition]).
type Experiment struct {
	// ID identifies the experiment within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// OwnerID is the user or key that owns the experiment; empty when unknown.
	OwnerID string
	// Name is a human label; not unique.
	Name string
	// State is the current state, e.g. "draft" or "running".
	State string
	// Spec is the experiment definition, a JSON document.
	Spec json.RawMessage
	// Result is the analysis and verdict, a JSON document; nil until set.
	Result json.RawMessage
	// Version increases by one with every write; optimistic writes carry it.
	Version int64
	// CreatedAt is when the experiment was created.
	CreatedAt time.Time
	// UpdatedAt is when the experiment was last written.
	UpdatedAt time.Time
	// StartedAt is when the experiment started; nil before.
	StartedAt *time.Time
	// EndedAt is when the experiment ended; nil before.
	EndedAt *time.Time
}

// ExperimentEvent records one state transition of an experiment. It is
// written in the same transaction as the state change.
type ExperimentEvent struct {
	// Seq orders the events of the whole store; assigned by the database.
	Seq int64
	// TenantID is the owning tenant.
	TenantID string
	// ExperimentID is the experiment that changed state.
	ExperimentID string
	// From is the state before the transition.
	From string
	// To is the state after the transition.
	To string
	// Actor names who or what caused the transition, e.g. "controller".
	Actor string
	// Reason is a human explanation; may be empty.
	Reason string
	// Version is the experiment's version after the transition. It is unique
	// per experiment, a second guard against recording a transition twice.
	Version int64
	// At is when the transition happened.
	At time.Time
}

// Pipeline is a user-defined pipeline strategy of a tenant (catalog pipelines
// ship in the binary and are not stored).
type Pipeline struct {
	// ID identifies the pipeline within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// Name is unique within the tenant.
	Name string
	// Description is free text.
	Description string
	// Config is the pipeline definition as a JSON document.
	Config json.RawMessage
	// YAML is the definition as the user wrote it.
	YAML string
	// CreatedBy names who created the pipeline; empty when unknown.
	CreatedBy string
	// Version increases by one with every write; optimistic writes carry it.
	Version int64
	// CreatedAt is when the pipeline was created.
	CreatedAt time.Time
	// UpdatedAt is when the pipeline was last written.
	UpdatedAt time.Time
}

// Deployment rolls a pipeline out to the agents its selector matches.
type Deployment struct {
	// ID identifies the deployment within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// Name is a human label; not unique.
	Name string
	// PipelineRef names the pipeline: a catalog name or a stored pipeline ID.
	PipelineRef string
	// Params are the pipeline parameters, a JSON document.
	Params json.RawMessage
	// Selector chooses the agents, a JSON document (e.g. host names, labels).
	Selector json.RawMessage
	// State is the rollout state, e.g. "pending" or "active"; decided by the
	// caller.
	State string
	// Rollout holds the batches and their progress, a JSON document.
	Rollout json.RawMessage
	// PreviousID is the deployment this one replaced, the target of a
	// rollback; empty when none.
	PreviousID string
	// ExperimentID is the experiment this deployment promoted; empty when
	// deployed directly.
	ExperimentID string
	// CreatedBy names who created the deployment; empty when unknown.
	CreatedBy string
	// Version increases by one with every write; optimistic writes carry it.
	Version int64
	// CreatedAt is when the deployment was created.
	CreatedAt time.Time
	// UpdatedAt is when the deployment was last written.
	UpdatedAt time.Time
}

// Agent is the last known status of one OpAMP agent (one collector on one
// host), identified within its tenant by the OpAMP instance UID.
type Agent struct {
	// InstanceUID is the agent's OpAMP instance UID.
	InstanceUID string
	// TenantID is the owning tenant.
	TenantID string
	// HostName is the host the agent runs on.
	HostName string
	// Labels are the agent's identifying and non-identifying attributes.
	Labels map[string]string
	// AgentVersion is the agent's build version.
	AgentVersion string
	// Capabilities is the OpAMP AgentCapabilities bit set.
	Capabilities uint64
	// Healthy is the agent's overall health.
	Healthy bool
	// Health is the full component health report, a JSON document; nil when
	// none was reported.
	Health json.RawMessage
	// EffectiveConfigHash is the hash of the configuration the agent runs.
	EffectiveConfigHash string
	// RemoteConfigHash is the hash of the last remote configuration the
	// agent reported on.
	RemoteConfigHash string
	// RemoteConfigStatus is the OpAMP RemoteConfigStatus status, e.g.
	// "APPLIED" or "FAILED".
	RemoteConfigStatus string
	// RemoteConfigMessage is the error message of a failed remote config.
	RemoteConfigMessage string
	// Connected reports whether the agent holds a connection.
	Connected bool
	// LastSeenAt is when the agent was last heard from.
	LastSeenAt time.Time
	// CreatedAt is when the agent was first seen.
	CreatedAt time.Time
	// UpdatedAt is when the row was last written.
	UpdatedAt time.Time
}

// EnrollmentToken lets an agent join a tenant. Only a hash of the secret is
// stored.
type EnrollmentToken struct {
	// ID identifies the token within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// Name is a free label.
	Name string
	// Prefix is the displayable start of the token.
	Prefix string
	// Hash is the hash of the secret, unique across tenants.
	Hash string
	// Labels are attached to the agents that enroll with the token.
	Labels map[string]string
	// CreatedBy names who created the token; empty when unknown.
	CreatedBy string
	// CreatedAt is when the token was created.
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; nil means never.
	ExpiresAt *time.Time
	// RevokedAt is when the token was revoked; nil means not revoked.
	RevokedAt *time.Time
}

// Usable reports whether the token is neither revoked nor expired at now.
func (e *EnrollmentToken) Usable(now time.Time) bool {
	return e.RevokedAt == nil && (e.ExpiresAt == nil || now.Before(*e.ExpiresAt))
}

// AuditEntry is one append-only audit log record.
type AuditEntry struct {
	// ID identifies the entry within its tenant.
	ID string
	// TenantID is the owning tenant.
	TenantID string
	// At is when the audited action happened.
	At time.Time
	// Actor names who acted, e.g. an API key ID.
	Actor string
	// Action is what was done, e.g. "experiment.start".
	Action string
	// ResourceType is the kind of resource acted on, e.g. "experiment".
	ResourceType string
	// ResourceID identifies the resource acted on.
	ResourceID string
	// Details is extra context, a JSON document; nil when none.
	Details json.RawMessage
}

// IdempotencyRecord is the stored outcome of a request made with an
// Idempotency-Key, replayed when the same key comes again before ExpiresAt.
type IdempotencyRecord struct {
	// TenantID is the owning tenant.
	TenantID string
	// Key is the client's Idempotency-Key.
	Key string
	// RequestHash identifies the request the key was first used with, so a
	// reuse of the key for a different request can be refused.
	RequestHash string
	// ResponseStatus is the HTTP status of the recorded response; 0 while
	// the request is being served (Pending).
	ResponseStatus int
	// ResponseBody is the body of the recorded response.
	ResponseBody []byte
	// CreatedAt is when the record was written.
	CreatedAt time.Time
	// ExpiresAt is when the record stops being replayed.
	ExpiresAt time.Time
}

// Pending reports whether the record is a claim (see
// [Store.IdempotencyClaim]) whose request has no response yet.
func (r *IdempotencyRecord) Pending() bool { return r.ResponseStatus == 0 }
