package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoenix/platform/internal/store"
)

// Options configure a PostgreSQL store. Build them with DefaultOptions.
type Options struct {
	// DSN is the connection string (URL or key=value form). Required.
	DSN string
	// Schema, when set, holds every Phoenix object: it is created if
	// missing and made the connections' search_path. Empty uses the DSN's
	// search_path (normally "public").
	Schema string
	// MaxConns is the pool size. Zero means 25.
	MaxConns int32
	// MinConns is how many connections the pool keeps open even when idle.
	// Zero keeps none.
	MinConns int32
	// MinIdleConns is how many idle connections the pool keeps ready. Zero
	// keeps none.
	MinIdleConns int32
	// MaxConnLifetime is how long a connection is used before it is
	// replaced. Zero means 5m.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime is how long an idle connection above MinConns is kept.
	// Zero means 1m.
	MaxConnIdleTime time.Duration
	// LeaderCheckInterval is how often a leader's lock connection is
	// checked; a broken connection ends leadership within about this long.
	// Zero means 5s.
	LeaderCheckInterval time.Duration
}

// DefaultOptions returns the production defaults for dsn: 25 connections at
// most, 5 kept open, connections replaced after 5m and idle ones closed after
// 1m.
func DefaultOptions(dsn string) Options {
	return Options{
		DSN:                 dsn,
		MaxConns:            25,
		MinConns:            5,
		MaxConnLifetime:     5 * time.Minute,
		MaxConnIdleTime:     time.Minute,
		LeaderCheckInterval: 5 * time.Second,
	}
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	if o.DSN == "" {
		return errors.New("dsn: is required")
	}
	if _, err := pgxpool.ParseConfig(o.DSN); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	switch {
	case o.Schema != "" && !schemaName.MatchString(o.Schema):
		return fmt.Errorf("schema: %q must be a lower-case identifier (a-z, 0-9, _)", o.Schema)
	case o.MaxConns < 0:
		return errors.New("max_conns: must not be negative")
	case o.MinConns < 0 || o.MinIdleConns < 0:
		return errors.New("min_conns: must not be negative")
	case o.MaxConns > 0 && (o.MinConns > o.MaxConns || o.MinIdleConns > o.MaxConns):
		return errors.New("min_conns: must not exceed max_conns")
	case o.MaxConnLifetime < 0 || o.MaxConnIdleTime < 0 || o.LeaderCheckInterval < 0:
		return errors.New("durations must not be negative")
	}
	return nil
}

// Store is the PostgreSQL implementation of [store.Store].
type Store struct {
	pool          *pgxpool.Pool
	schema        string
	checkInterval time.Duration

	closeOnce sync.Once

	mu      sync.Mutex
	leaders map[*lease]struct{}
}

var _ store.Store = (*Store)(nil)

// Open connects, applies pending migrations and returns the ready store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, LatestVersion())
}

// open is Open applying migrations only up to version target, so tests can
// build the schema an older Phoenix left behind.
func open(ctx context.Context, opts Options, target int) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	cfg.MaxConns = orDefault(opts.MaxConns, 25)
	cfg.MinConns = opts.MinConns
	cfg.MinIdleConns = opts.MinIdleConns
	cfg.MaxConnLifetime = orDefault(opts.MaxConnLifetime, 5*time.Minute)
	cfg.MaxConnIdleTime = orDefault(opts.MaxConnIdleTime, time.Minute)
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{
		pool:          pool,
		checkInterval: orDefault(opts.LeaderCheckInterval, 5*time.Second),
		leaders:       make(map[*lease]struct{}),
	}
	if err := s.init(ctx, opts.Schema, target); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// init creates the schema if asked, learns the current schema and migrates
// up to version target.
func (s *Store) init(ctx context.Context, schema string, target int) error {
	if schema != "" {
		if _, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			// Two processes creating the schema at once can collide on the
			// catalog's unique index; the loser finds the schema there.
			if !errors.Is(translate(err), store.ErrConflict) {
				return fmt.Errorf("create schema %s: %w", schema, err)
			}
		}
	}
	var current *string
	if err := s.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return fmt.Errorf("read current schema: %w", err)
	}
	if current == nil {
		return errors.New("no schema of the search_path exists: set Schema or fix the DSN's search_path")
	}
	s.schema = *current
	return s.migrate(ctx, target)
}

// Schema returns the schema that holds Phoenix's tables.
func (s *Store) Schema() string { return s.schema }

// Pool returns the connection pool, for health checks and metrics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", err)
	}
	return nil
}

// Close releases held leadership and closes the pool. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		leases := make([]*lease, 0, len(s.leaders))
		for l := range s.leaders {
			leases = append(leases, l)
		}
		s.mu.Unlock()
		for _, l := range leases {
			l.release()
		}
		s.pool.Close()
	})
	return nil
}

// now is the store's clock, at the precision it stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// stamp returns t at stored precision, or now when t is zero.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// utc converts an optional time read from the database to UTC.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// lockKey maps a name to an advisory lock key, namespaced by schema so that
// installations sharing a database do not contend.
func lockKey(schema, kind, name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("phoenix\x00" + kind + "\x00" + schema + "\x00" + name))
	return int64(h.Sum64())
}

// dbtx is what the store's queries run on: the pool, or the transaction
// of an Atomic call.
type dbtx interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ambientKey is the context key of the transaction of an Atomic call.
type ambientKey struct{}

// ambient is the transaction of an Atomic call, and the store it belongs to.
type ambient struct {
	s  *Store
	tx pgx.Tx
}

// ambientTx returns the transaction of the Atomic call of this store that
// ctx is inside, if any.
func (s *Store) ambientTx(ctx context.Context) (pgx.Tx, bool) {
	a, ok := ctx.Value(ambientKey{}).(*ambient)
	if !ok || a.s != s {
		return nil, false
	}
	return a.tx, true
}

// db returns what queries made with ctx run on.
func (s *Store) db(ctx context.Context) dbtx {
	if tx, ok := s.ambientTx(ctx); ok {
		return tx
	}
	return s.pool
}

// Atomic implements [store.Store].
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := s.ambientTx(ctx); ok {
		return fn(ctx)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(context.WithValue(ctx, ambientKey{}, &ambient{s: s, tx: tx}))
	})
}

// withTx runs fn in a transaction and commits it if fn returns nil. Inside
// an Atomic call it is a savepoint of the call's transaction.
func (s *Store) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.db(ctx), fn)
}

// translate maps driver errors to the store sentinels; other errors pass
// through unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", store.ErrConflict, pe.Message)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: a referenced row (tenant or experiment) does not exist", store.ErrNotFound)
		case "23514", "23502", "22P02", "22P05": // check_violation, not_null_violation, invalid_text_representation, untranslatable_character
			return fmt.Errorf("%w: %s", store.ErrInvalid, pe.Message)
		}
	}
	return err
}

// cursor is a decoded page position; ok is false on the first page.
type cursor struct {
	store.Cursor
	ok bool
}

func decodeCursor(s string) (cursor, error) {
	c, ok, err := store.DecodeCursor(s)
	return cursor{Cursor: c, ok: ok}, err
}
