package store

import (
	"context"
	"time"
)

// Store is Phoenix's durable state. Implementations: sqlite.Store (embedded
// default) and postgres.Store.
//
// Lifecycle: a Store is ready when its constructor returns (migrations have
// run); Close releases it and is safe to call more than once. Concurrency:
// every method is safe for concurrent use. Ownership: returned values are the
// caller's; the store keeps no reference to params or results. Nil: a nil
// params pointer is refused with ErrInvalid.
//
// Tenancy: every method scopes by tenant except those documented as
// cross-tenant. See the package documentation for IDs, time and errors.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. Leadership held through LeaderTry is
	// released. Calling Close twice is safe.
	Close() error
	// SchemaVersion returns the highest migration version recorded in the
	// database.
	SchemaVersion(ctx context.Context) (int, error)

	// LeaderTry tries, without waiting, to become the leader called name
	// (e.g. "experiment-controller"). When ok is true the caller leads until
	// leaderCtx is done: that happens when release is called, when ctx is
	// done, or when leadership is lost (PostgreSQL: the connection holding
	// the advisory lock broke). Work done as leader must stop when leaderCtx
	// is done. release is idempotent and must be called once the caller
	// stops leading. When ok is false another contender leads; leaderCtx and
	// release are nil.
	LeaderTry(ctx context.Context, name string) (leaderCtx context.Context, release func(), ok bool, err error)

	// Atomic runs fn in one transaction: the calls on this store made with
	// the context fn receives commit together when fn returns nil, and roll
	// back when it returns an error (which Atomic returns) or panics. Inside
	// it, reads see the transaction's own writes, and an Atomic call with
	// that context joins the transaction. fn must not use its context from
	// other goroutines, nor call this store with another context (SQLite has
	// one writer, which the transaction holds). After a call made inside fn
	// fails, fn should return an error: PostgreSQL refuses further
	// statements in a failed transaction.
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error

	// TenantCreate creates a tenant. Cross-tenant. A taken ID or name is
	// ErrConflict.
	TenantCreate(ctx context.Context, p *TenantCreateParams) (*Tenant, error)
	// TenantGet returns a tenant by ID.
	TenantGet(ctx context.Context, id string) (*Tenant, error)
	// TenantList returns every tenant ordered by name. Cross-tenant.
	TenantList(ctx context.Context) ([]*Tenant, error)

	// TenantSettingsGet returns the tenant's settings; ErrNotFound when none
	// were ever written.
	TenantSettingsGet(ctx context.Context, tenantID string) (*TenantSettings, error)
	// TenantSettingsPut writes the tenant's settings and returns them: the
	// first write inserts them at Version 1, later ones replace them at the
	// next version. A positive p.Version makes the write optimistic: it
	// succeeds only if the stored settings are at that version, else
	// ErrVersionConflict. An unknown tenant is ErrNotFound.
	TenantSettingsPut(ctx context.Context, p *TenantSettingsPutParams) (*TenantSettings, error)

	// APIKeyCreate stores a new API key. A taken hash is ErrConflict.
	APIKeyCreate(ctx context.Context, p *APIKeyCreateParams) (*APIKey, error)
	// APIKeyGetByHash finds a key by the hash of its secret, whatever its
	// tenant (the caller learns the tenant from the result). Cross-tenant.
	// Revoked and expired keys are returned too: check [APIKey.Usable].
	APIKeyGetByHash(ctx context.Context, hash string) (*APIKey, error)
	// APIKeyList returns the tenant's keys, newest first.
	APIKeyList(ctx context.Context, tenantID string) ([]*APIKey, error)
	// APIKeyTouch records a use of the key at at.
	APIKeyTouch(ctx context.Context, tenantID, id string, at time.Time) error
	// APIKeyRevoke revokes the key and returns it. Revoking a revoked key
	// keeps the first revocation time.
	APIKeyRevoke(ctx context.Context, tenantID, id string) (*APIKey, error)

	// ExperimentCreate creates an experiment at Version 1.
	ExperimentCreate(ctx context.Context, p *ExperimentCreateParams) (*Experiment, error)
	// ExperimentGet returns an experiment.
	ExperimentGet(ctx context.Context, tenantID, id string) (*Experiment, error)
	// ExperimentList pages the tenant's experiments, newest first.
	ExperimentList(ctx context.Context, p *ExperimentListParams) (*Page[*Experiment], error)
	// ExperimentListActive returns the experiments of every tenant whose
	// state is one of [ActiveStates], oldest first: the controller's work
	// list. Cross-tenant.
	ExperimentListActive(ctx context.Context) ([]*Experiment, error)
	// ExperimentUpdate changes the editable fields if the experiment is
	// still at p.Version (else ErrVersionConflict) and returns it at the next
	// version.
	ExperimentUpdate(ctx context.Context, p *ExperimentUpdateParams) (*Experiment, error)
	// ExperimentSetResult stores the analysis result and returns the
	// experiment at the next version.
	ExperimentSetResult(ctx context.Context, p *ExperimentSetResultParams) (*Experiment, error)
	// ExperimentDelete deletes an experiment and its events.
	ExperimentDelete(ctx context.Context, tenantID, id string) error
	// ExperimentTransition moves the experiment from p.From to p.To with a
	// compare-and-set and, in the same transaction, records the event. If
	// the experiment is not in p.From nothing is written and the error is a
	// [*TransitionError] (matching ErrStateConflict) naming the current
	// state, so among concurrent identical transitions exactly one succeeds
	// and exactly one event is recorded. The experiment moves to the next
	// version.
	ExperimentTransition(ctx context.Context, p *ExperimentTransitionParams) (*Experiment, *ExperimentEvent, error)
	// ExperimentEventList returns the experiment's transitions in the order
	// they happened. An unknown experiment is ErrNotFound.
	ExperimentEventList(ctx context.Context, tenantID, experimentID string) ([]*ExperimentEvent, error)

	// PipelineCreate stores a pipeline at Version 1. A name taken within the
	// tenant is ErrConflict.
	PipelineCreate(ctx context.Context, p *PipelineCreateParams) (*Pipeline, error)
	// PipelineGet returns a pipeline by ID.
	PipelineGet(ctx context.Context, tenantID, id string) (*Pipeline, error)
	// PipelineGetByName returns a pipeline by name.
	PipelineGetByName(ctx context.Context, tenantID, name string) (*Pipeline, error)
	// PipelineList pages the tenant's pipelines, newest first.
	PipelineList(ctx context.Context, p *PipelineListParams) (*Page[*Pipeline], error)
	// PipelineUpdate changes a pipeline if it is still at p.Version (else
	// ErrVersionConflict) and returns it at the next version.
	PipelineUpdate(ctx context.Context, p *PipelineUpdateParams) (*Pipeline, error)
	// PipelineDelete deletes a pipeline.
	PipelineDelete(ctx context.Context, tenantID, id string) error

	// DeploymentCreate stores a deployment at Version 1.
	DeploymentCreate(ctx context.Context, p *DeploymentCreateParams) (*Deployment, error)
	// DeploymentGet returns a deployment.
	DeploymentGet(ctx context.Context, tenantID, id string) (*Deployment, error)
	// DeploymentList pages the tenant's deployments, newest first.
	DeploymentList(ctx context.Context, p *DeploymentListParams) (*Page[*Deployment], error)
	// DeploymentUpdate changes a deployment if it is still at p.Version
	// (else ErrVersionConflict) and returns it at the next version.
	DeploymentUpdate(ctx context.Context, p *DeploymentUpdateParams) (*Deployment, error)
	// DeploymentDelete deletes a deployment.
	DeploymentDelete(ctx context.Context, tenantID, id string) error

	// AgentUpsert records an agent's status, inserting it on first sight.
	AgentUpsert(ctx context.Context, p *AgentUpsertParams) (*Agent, error)
	// AgentGet returns an agent by instance UID.
	AgentGet(ctx context.Context, tenantID, instanceUID string) (*Agent, error)
	// AgentList pages the tenant's agents, newest first.
	AgentList(ctx context.Context, p *AgentListParams) (*Page[*Agent], error)
	// AgentMarkDisconnected records that the agent's connection closed now.
	AgentMarkDisconnected(ctx context.Context, tenantID, instanceUID string) (*Agent, error)
	// AgentMarkStale marks every connected agent last seen before
	// seenBefore as disconnected, e.g. after a server crash, and returns how
	// many it marked. Cross-tenant.
	AgentMarkStale(ctx context.Context, seenBefore time.Time) (int64, error)

	// EnrollmentTokenCreate stores a new enrollment token. A taken hash is
	// ErrConflict.
	EnrollmentTokenCreate(ctx context.Context, p *EnrollmentTokenCreateParams) (*EnrollmentToken, error)
	// EnrollmentTokenGetByHash finds a token by the hash of its secret,
	// whatever its tenant. Cross-tenant. Revoked and expired tokens are
	// returned too: check [EnrollmentToken.Usable].
	EnrollmentTokenGetByHash(ctx context.Context, hash string) (*EnrollmentToken, error)
	// EnrollmentTokenList returns the tenant's tokens, newest first.
	EnrollmentTokenList(ctx context.Context, tenantID string) ([]*EnrollmentToken, error)
	// EnrollmentTokenRevoke revokes the token and returns it. Revoking a
	// revoked token keeps the first revocation time.
	EnrollmentTokenRevoke(ctx context.Context, tenantID, id string) (*EnrollmentToken, error)

	// AuditLogAppend appends an audit entry.
	AuditLogAppend(ctx context.Context, p *AuditLogAppendParams) (*AuditEntry, error)
	// AuditLogList pages the tenant's audit log, newest first.
	AuditLogList(ctx context.Context, p *AuditLogListParams) (*Page[*AuditEntry], error)

	// IdempotencyGet returns the unexpired record of the key, pending or
	// complete; an absent or expired record is ErrNotFound.
	IdempotencyGet(ctx context.Context, tenantID, key string) (*IdempotencyRecord, error)
	// IdempotencyClaim reserves the key for a request before it is served,
	// so that of concurrent first uses of a key exactly one is served: it
	// inserts a pending record (see [IdempotencyRecord.Pending]) expiring at
	// p.ExpiresAt, or replaces an expired record, and returns it with
	// claimed true. When an unexpired record of the key exists, pending or
	// complete, whatever its request, it is returned unchanged with claimed
	// false. The serving request then completes its claim with
	// IdempotencyPut, or gives it up with IdempotencyRelease.
	IdempotencyClaim(ctx context.Context, p *IdempotencyClaimParams) (rec *IdempotencyRecord, claimed bool, err error)
	// IdempotencyPut stores a record. A pending record of the same request
	// hash (a claim) is completed; any other unexpired record of the key is
	// kept and the error is ErrConflict; an expired one is replaced.
	IdempotencyPut(ctx context.Context, p *IdempotencyPutParams) (*IdempotencyRecord, error)
	// IdempotencyRelease deletes the key's pending record of requestHash, so
	// a request that could not be served can be tried again at once. A
	// complete record, or none, is left as it is.
	IdempotencyRelease(ctx context.Context, tenantID, key, requestHash string) error
	// IdempotencyDeleteExpired deletes records that expired at or before now
	// and returns how many. Cross-tenant.
	IdempotencyDeleteExpired(ctx context.Context, now time.Time) (int64, error)
}
