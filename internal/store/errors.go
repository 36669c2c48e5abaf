package store

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the row does not exist for the given tenant. A row of
	// another tenant is reported the same way, so callers cannot probe for it.
	// Writes that reference a missing parent (an experiment of an unknown
	// tenant) also report ErrNotFound.
	ErrNotFound = errors.New("not found")

	// ErrConflict means a unique constraint refused the write: an ID, a tenant
	// name, a pipeline name within its tenant, a key or token hash, or an
	// unexpired idempotency key already exists.
	ErrConflict = errors.New("conflict")

	// ErrVersionConflict means an optimistic write carried a Version that is no
	// longer the row's current version: someone else changed it first. Read the
	// row again and retry.
	ErrVersionConflict = errors.New("version conflict")

	// ErrStateConflict means a state compare-and-set found the row in another
	// state than the expected one. It is returned wrapped in a
	// [*TransitionError], which names the current state.
	ErrStateConflict = errors.New("state conflict")

	// ErrInvalid means the params of a call were refused before reaching the
	// database: a missing tenant, an empty required field, malformed JSON or an
	// unparsable cursor.
	ErrInvalid = errors.New("invalid argument")

	// ErrSchemaTooNew means the database was migrated by a newer Phoenix than
	// this binary: the store refuses to open it rather than write rows a newer
	// schema does not expect. It is returned wrapped in a [*SchemaVersionError].
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// TransitionError reports a lost state compare-and-set: the experiment was not
// in the From state when the transition was attempted, so nothing was written
// and no event was recorded. It matches [ErrStateConflict] with [errors.Is].
type TransitionError struct {
	// ID is the experiment.
	ID string
	// From is the state the caller expected.
	From string
	// To is the state the caller asked for.
	To string
	// Current is the state the experiment is actually in.
	Current string
}

// Error implements error.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("transition experiment %s from %q to %q: experiment is in state %q", e.ID, e.From, e.To, e.Current)
}

// Is reports whether target is [ErrStateConflict].
func (e *TransitionError) Is(target error) bool { return target == ErrStateConflict }

// SchemaVersionError reports a database whose recorded schema version is newer
// than the newest migration this binary embeds. It matches [ErrSchemaTooNew].
type SchemaVersionError struct {
	// Database is the highest version recorded in schema_migrations.
	Database int
	// Binary is the highest migration version this binary knows.
	Binary int
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (version %d): upgrade Phoenix", e.Database, e.Binary)
}

// Is reports whether target is [ErrSchemaTooNew].
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaTooNew }

// invalid returns an error wrapping ErrInvalid with a message naming the field.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
