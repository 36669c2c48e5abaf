// Package postgres implements [store.Store] on PostgreSQL through a pgx
// connection pool, for servers that scale out or share state.
//
// The schema is created and upgraded by the numbered migrations in
// migration/, applied in one transaction when the store opens (serialised
// between replicas by a transaction-scoped advisory lock) and recorded in
// schema_migrations. A database recorded at a newer version than this binary
// knows is refused ([store.ErrSchemaTooNew]). With [Options.Schema] set, every
// object lives in that schema (created if missing), so several installations
// or test runs can share one database.
//
// Leadership ([Store.LeaderTry]) is a session advisory lock
// (pg_try_advisory_lock) taken on a connection that the leader keeps out of
// the pool while it leads. The connection is checked every
// [Options.LeaderCheckInterval]; when it breaks, the server drops the lock
// and the leader's context is cancelled.
package postgres
