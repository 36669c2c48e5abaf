// Package store is Phoenix's one seam to durable state: tenants and their
// settings, API keys, experiments and their transition history, pipelines,
// deployments, agents, enrollment tokens, the audit log and idempotency
// records.
//
// [Store] is implemented by the sqlite package (the embedded default, one file
// under a data directory) and the postgres package (pgx connection pool), and
// both are held to the same behaviour by the storetest conformance suite.
//
// # Conventions
//
// Methods are named Entity+Verb. Writes take a params struct whose Validate
// method the implementations call before touching the database; a params
// value that fails validation yields an error wrapping [ErrInvalid].
//
// Every row carries a tenant ID. Every method takes the tenant and scopes by
// it, so a row of tenant A does not exist ([ErrNotFound]) for tenant B. The
// only methods that cross tenants are documented as such: [Store.TenantCreate],
// [Store.TenantList], [Store.APIKeyGetByHash],
// [Store.EnrollmentTokenGetByHash], [Store.ExperimentListActive],
// [Store.AgentMarkStale] and [Store.IdempotencyDeleteExpired].
//
// IDs are strings. When a create params struct leaves ID empty the store
// assigns one from [NewID] (a UUIDv7, so IDs sort by creation time).
// Timestamps are stored with microsecond precision and returned in UTC.
//
// JSON documents (experiment specs and results, pipeline configs, deployment
// parameters...) are passed as [encoding/json.RawMessage]. PostgreSQL stores
// them as JSONB, which normalises whitespace and key order, so compare
// returned documents semantically, not byte for byte.
//
// # Errors
//
// Driver errors are translated at the boundary: a missing row is
// [ErrNotFound], a unique violation is [ErrConflict], a stale optimistic
// version is [ErrVersionConflict] and a lost state compare-and-set is a
// [*TransitionError] that matches [ErrStateConflict]. Errors are wrapped with
// the operation, so test them with [errors.Is] and [errors.As].
package store
