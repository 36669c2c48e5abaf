// Package sqlite implements [store.Store] on SQLite (modernc.org/sqlite, no
// cgo), Phoenix's embedded default: one database file under the data
// directory.
//
// The file runs in WAL mode with foreign keys on and a busy timeout. Writes go
// through a pool of exactly one connection whose transactions begin
// IMMEDIATE, so writers queue in the process instead of failing with
// SQLITE_BUSY; reads use a separate pool of read-only connections that WAL
// lets run alongside the writer.
//
// The schema is created and upgraded by the numbered migrations in
// migration/, applied in one transaction when the store opens and recorded in
// schema_migrations. A database recorded at a newer version than this binary
// knows is refused ([store.ErrSchemaTooNew]).
//
// SQLite mode is single-process: [Store.LeaderTry] grants leadership to one
// contender per database file and name within the process, which is every
// contender there is.
package sqlite
