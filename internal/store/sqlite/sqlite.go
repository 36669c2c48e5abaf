package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/phoenix/platform/internal/store"
)

// DefaultFileName is the database file name DefaultOptions places in the data
// directory.
const DefaultFileName = "phoenix.db"

// Options configure a SQLite store. Build them with DefaultOptions.
type Options struct {
	// Path is the database file; its directory is created if missing.
	// Required.
	Path string
	// MaxReadConns is the size of the read-only connection pool. Writes
	// always use a single connection. Zero means 4.
	MaxReadConns int
	// BusyTimeout is how long a connection waits for a lock held by another
	// connection before failing. Zero means 5s.
	BusyTimeout time.Duration
}

// DefaultOptions returns the options of a store kept in dataDir.
func DefaultOptions(dataDir string) Options {
	return Options{
		Path:         filepath.Join(dataDir, DefaultFileName),
		MaxReadConns: 4,
		BusyTimeout:  5 * time.Second,
	}
}

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.Path == "":
		return errors.New("path: is required")
	case o.Path == ":memory:" || strings.HasPrefix(o.Path, "file:"):
		return fmt.Errorf("path: %q must be a file path", o.Path)
	case strings.ContainsAny(o.Path, "?#"):
		return fmt.Errorf("path: %q must not contain '?' or '#'", o.Path)
	case o.MaxReadConns < 0:
		return errors.New("max_read_conns: must not be negative")
	case o.BusyTimeout < 0:
		return errors.New("busy_timeout: must not be negative")
	}
	return nil
}

// Store is the SQLite implementation of [store.Store].
type Store struct {
	path string
	w    *pool // exactly one connection: all writes
	r    *pool // read-only connections

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	leaders map[string]func() // release funcs of leadership held through this store
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at opts.Path, applies pending
// migrations and returns the ready store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, LatestVersion())
}

// open is Open applying migrations only up to version target, so tests can
// build the database an older Phoenix left behind.
func open(ctx context.Context, opts Options, target int) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if opts.MaxReadConns == 0 {
		opts.MaxReadConns = 4
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", opts.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	busy := fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	wq := url.Values{}
	wq.Add("_pragma", busy)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "foreign_keys(1)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{path: path, w: newPool(w), leaders: make(map[string]func())}
	// The writer connects first: it turns WAL on (a property of the file)
	// and creates the schema before any reader looks.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := s.migrate(ctx, target); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	rq := url.Values{}
	rq.Add("_pragma", busy)
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxReadConns)
	r.SetMaxIdleConns(opts.MaxReadConns)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s.r = newPool(r)
	return s, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	return nil
}

// Close releases held leadership and closes both pools. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		releases := make([]func(), 0, len(s.leaders))
		for _, release := range s.leaders {
			releases = append(releases, release)
		}
		s.mu.Unlock()
		for _, release := range releases {
			release()
		}
		// Refresh the planner's statistics where SQLite judges it useful, as
		// its documentation advises before closing; best effort.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = s.w.DB.ExecContext(ctx, "PRAGMA optimize")
		cancel()
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close sqlite store %s: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// now is the store's clock, at the precision it stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// micros converts a time to the stored form.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts a stored time back.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros converts an optional time to the stored form.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// timePtr converts an optional stored time back.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// querier is what the store's queries run on: a pool, or the transaction of
// an Atomic call.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// ambientKey is the context key of the transaction of an Atomic call.
type ambientKey struct{}

// ambient is the transaction of an Atomic call, and the store it belongs to.
type ambient struct {
	s  *Store
	tx *sql.Tx
}

// ambientTx returns the transaction of the Atomic call of this store that
// ctx is inside, if any.
func (s *Store) ambientTx(ctx context.Context) (*sql.Tx, bool) {
	a, ok := ctx.Value(ambientKey{}).(*ambient)
	if !ok || a.s != s {
		return nil, false
	}
	return a.tx, true
}

// writer returns what writes made with ctx run on: the single writer
// connection, or the Atomic call's transaction, which holds it.
func (s *Store) writer(ctx context.Context) querier {
	if tx, ok := s.ambientTx(ctx); ok {
		return tx
	}
	return s.w
}

// reader returns what reads made with ctx run on: the read pool, or the
// Atomic call's transaction, so that reads see its writes.
func (s *Store) reader(ctx context.Context) querier {
	if tx, ok := s.ambientTx(ctx); ok {
		return tx
	}
	return s.r
}

// Atomic implements [store.Store].
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := s.ambientTx(ctx); ok {
		return fn(ctx)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Rolls back on an error or a panic; after Commit it does nothing.
	defer func() { _ = tx.Rollback() }()
	if err := fn(context.WithValue(ctx, ambientKey{}, &ambient{s: s, tx: tx})); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// withTx runs fn in a write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits it if fn returns nil. Inside an Atomic
// call it is a savepoint of the call's transaction.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if tx, ok := s.ambientTx(ctx); ok {
		return savepoint(ctx, tx, fn)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// savepoint runs fn within tx under a savepoint, which it releases if fn
// returns nil and rolls back to otherwise.
func savepoint(ctx context.Context, tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT phoenix_nested"); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		for _, q := range []string{"ROLLBACK TO phoenix_nested", "RELEASE phoenix_nested"} {
			if _, rerr := tx.ExecContext(ctx, q); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE phoenix_nested")
	return err
}
