package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/compression"
)

// Defaults of [Options].
const (
	DefaultRetention            = 15 * 24 * time.Hour
	DefaultQueryTimeout         = 2 * time.Minute
	DefaultMaxSamples           = 50_000_000
	DefaultMaxConcurrentQueries = 20
	DefaultLookbackDelta        = 5 * time.Minute
)

// ErrClosed is returned by a [Store] used after Close.
var ErrClosed = errors.New("metrics store is closed")

// Options configure a [Store]. The zero value of each field means its
// default; [DefaultOptions] returns them spelled out.
type Options struct {
	// Retention is how long samples are kept, measured from the newest
	// persisted block. Zero means [DefaultRetention] (15 days).
	Retention time.Duration `yaml:"retention"`
	// OutOfOrderWindow is how far behind the newest sample of the store a
	// sample may still be accepted out of order. Zero means out-of-order
	// samples are rejected, as in a default Prometheus.
	OutOfOrderWindow time.Duration `yaml:"out_of_order_window"`
	// QueryTimeout bounds the evaluation of one PromQL query. Zero means
	// [DefaultQueryTimeout] (2 minutes).
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// MaxSamples bounds the samples one query may hold in memory at once.
	// Zero means [DefaultMaxSamples] (50 million, as Prometheus).
	MaxSamples int `yaml:"max_samples"`
	// MaxConcurrentQueries bounds the queries evaluated at the same time;
	// more wait. Zero means [DefaultMaxConcurrentQueries] (20).
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
	// LookbackDelta is how far back an instant selector looks for the last
	// sample of a series. Zero means [DefaultLookbackDelta] (5 minutes).
	LookbackDelta time.Duration `yaml:"lookback_delta"`

	// Logger receives the storage's and the engine's logs; nil discards
	// them.
	Logger *slog.Logger `yaml:"-"`
	// Registerer receives the prometheus_tsdb_* and prometheus_engine_*
	// metrics of the store; nil registers nothing. One registerer can hold
	// the metrics of one store only.
	Registerer prometheus.Registerer `yaml:"-"`
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions() Options {
	return Options{
		Retention:            DefaultRetention,
		QueryTimeout:         DefaultQueryTimeout,
		MaxSamples:           DefaultMaxSamples,
		MaxConcurrentQueries: DefaultMaxConcurrentQueries,
		LookbackDelta:        DefaultLookbackDelta,
	}
}

// Validate reports the first invalid option, naming its key.
func (o Options) Validate() error {
	switch {
	case o.Retention < 0:
		return fmt.Errorf("retention: must not be negative, got %s", o.Retention)
	case o.Retention > 0 && o.Retention < time.Hour:
		return fmt.Errorf("retention: must be at least 1h, got %s", o.Retention)
	case o.OutOfOrderWindow < 0:
		return fmt.Errorf("out_of_order_window: must not be negative, got %s", o.OutOfOrderWindow)
	case o.QueryTimeout < 0:
		return fmt.Errorf("query_timeout: must not be negative, got %s", o.QueryTimeout)
	case o.MaxSamples < 0:
		return fmt.Errorf("max_samples: must not be negative, got %d", o.MaxSamples)
	case o.MaxConcurrentQueries < 0:
		return fmt.Errorf("max_concurrent_queries: must not be negative, got %d", o.MaxConcurrentQueries)
	case o.LookbackDelta < 0:
		return fmt.Errorf("lookback_delta: must not be negative, got %s", o.LookbackDelta)
	}
	return nil
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Retention == 0 {
		o.Retention = d.Retention
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = d.QueryTimeout
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = d.MaxSamples
	}
	if o.MaxConcurrentQueries == 0 {
		o.MaxConcurrentQueries = d.MaxConcurrentQueries
	}
	if o.LookbackDelta == 0 {
		o.LookbackDelta = d.LookbackDelta
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is Phoenix's embedded measurement store: Prometheus's tsdb (with its
// write-ahead log) under one directory, queried with Prometheus's PromQL
// engine. Samples come in through [WriteHandler]; the store's [Source]
// methods see every tenant, [Store.ForTenant] and the HTTP API see one.
//
// A Store is safe for concurrent use. Close waits for queries and appends
// in flight; afterwards every method returns [ErrClosed].
type Store struct {
	db     *tsdb.DB
	engine *promql.Engine
	parser parser.Parser
	opts   Options

	mu     sync.RWMutex // held shared by queries and appends, exclusively by Close
	closed bool

	// createMu makes appenders create series one at a time, so that series
	// IDs enter tsdb's in-memory postings lists in order. Created
	// concurrently, a later ID can be listed before an earlier one, and
	// tsdb repairs the order by swapping list entries in place while
	// queries may be reading them: a data race of tsdb itself
	// (prometheus/prometheus#15317). Appends to existing series, the
	// steady state, do not take it.
	createMu sync.Mutex
}

var _ Source = (*Store)(nil)

// Open opens (or creates) the store under dir. Data left in dir by an
// earlier run, including samples only in the write-ahead log, is loaded.
// Only one Store may use a directory at a time.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open metrics store: %w", err)
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open metrics store: %w", err)
	}

	to := tsdb.DefaultOptions()
	to.RetentionDuration = opts.Retention.Milliseconds()
	to.WALCompression = compression.Snappy // Prometheus's default
	to.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	// As Prometheus does: blocks grow to a tenth of the retention, between
	// the 2h head block and 31 days, so retention deletes in small steps.
	maxBlock := min(opts.Retention/10, 31*24*time.Hour).Milliseconds()
	to.MaxBlockDuration = max(maxBlock, to.MinBlockDuration)
	db, err := tsdb.Open(dir, opts.Logger, opts.Registerer, to, nil)
	if err != nil {
		return nil, fmt.Errorf("open metrics store %s: %w", dir, err)
	}

	tracker, err := promql.NewActiveQueryTracker(dir, opts.MaxConcurrentQueries, opts.Logger)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open metrics store %s: %w", dir, err)
	}
	p := parser.NewParser(parser.Options{})
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:               opts.Logger,
		Reg:                  opts.Registerer,
		MaxSamples:           opts.MaxSamples,
		Timeout:              opts.QueryTimeout,
		ActiveQueryTracker:   tracker,
		LookbackDelta:        opts.LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               p,
	})
	return &Store{db: db, engine: engine, parser: p, opts: opts}, nil
}

// Close waits for queries and appends in flight, then closes the engine and
// the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.engine.Close(), s.db.Close())
}

// Options returns the options the store runs with, defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Query evaluates an instant PromQL query at ts over every tenant's data.
func (s *Store) Query(ctx context.Context, query string, ts time.Time) ([]Series, error) {
	if _, err := s.parse(query); err != nil {
		return nil, err
	}
	res, err := s.instant(ctx, s.db, query, ts)
	if err != nil {
		return nil, err
	}
	return toSeries(res)
}

// QueryRange evaluates a range PromQL query over every tenant's data.
func (s *Store) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if _, err := s.parse(query); err != nil {
		return nil, err
	}
	res, err := s.rangeQuery(ctx, s.db, query, start, end, step)
	if err != nil {
		return nil, err
	}
	return toSeries(res)
}

// ForTenant returns a Source that sees only tenant's series: every selector
// of its queries is restricted to tenant="<tenant>", whatever tenant
// matcher the query carries.
func (s *Store) ForTenant(tenant string) Source {
	return tenantSource{s: s, tenant: tenant}
}

type tenantSource struct {
	s      *Store
	tenant string
}

func (t tenantSource) Query(ctx context.Context, query string, ts time.Time) ([]Series, error) {
	res, err := t.s.tenantInstant(ctx, t.tenant, query, ts)
	if err != nil {
		return nil, err
	}
	return toSeries(res)
}

func (t tenantSource) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	res, err := t.s.tenantRange(ctx, t.tenant, query, start, end, step)
	if err != nil {
		return nil, err
	}
	return toSeries(res)
}

// result is an evaluated query: its value and the engine's annotations.
type result struct {
	value    parser.Value
	warnings annotations.Annotations
}

func (s *Store) parse(query string) (parser.Expr, error) {
	expr, err := s.parser.ParseExpr(query)
	if err != nil {
		return nil, &badQueryError{op: "parse query", err: err}
	}
	return expr, nil
}

// badQueryError is a query the engine refuses; it wraps [ErrBadQuery] and
// the engine's own error.
type badQueryError struct {
	op  string
	err error
}

func (e *badQueryError) Error() string   { return e.op + ": " + e.err.Error() }
func (e *badQueryError) Unwrap() []error { return []error{ErrBadQuery, e.err} }

func (s *Store) tenantInstant(ctx context.Context, tenant, query string, ts time.Time) (*result, error) {
	expr, err := s.parse(query)
	if err != nil {
		return nil, err
	}
	scoped := scopeExpr(expr, tenant)
	return s.instant(ctx, scopeQueryable(s.db, tenant), scoped, ts)
}

func (s *Store) tenantRange(ctx context.Context, tenant, query string, start, end time.Time, step time.Duration) (*result, error) {
	expr, err := s.parse(query)
	if err != nil {
		return nil, err
	}
	scoped := scopeExpr(expr, tenant)
	return s.rangeQuery(ctx, scopeQueryable(s.db, tenant), scoped, start, end, step)
}

func (s *Store) instant(ctx context.Context, q storage.Queryable, query string, ts time.Time) (*result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	qry, err := s.engine.NewInstantQuery(ctx, q, nil, query, ts)
	if err != nil {
		return nil, newQueryError(ctx, err)
	}
	return exec(ctx, qry)
}

func (s *Store) rangeQuery(ctx context.Context, q storage.Queryable, query string, start, end time.Time, step time.Duration) (*result, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range query: step must be positive, got %s: %w", step, ErrBadQuery)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("range query: end %s is before start %s: %w", end.Format(time.RFC3339), start.Format(time.RFC3339), ErrBadQuery)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	qry, err := s.engine.NewRangeQuery(ctx, q, nil, query, start, end, step)
	if err != nil {
		return nil, newQueryError(ctx, err)
	}
	return exec(ctx, qry)
}

// newQueryError classifies an error of creating a query: the context's own
// error, or a query the engine refuses (wrong type for a range query, a
// disabled feature), which is a bad query.
func newQueryError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("prepare query: %w", err)
	}
	return &badQueryError{op: "prepare query", err: err}
}

func exec(ctx context.Context, qry promql.Query) (*result, error) {
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("evaluate query: %w", res.Err)
	}
	// The value's slices belong to the query and are recycled by Close;
	// copy what outlives it.
	return &result{value: copyValue(res.Value), warnings: res.Warnings}, nil
}

func copyValue(v parser.Value) parser.Value {
	switch v := v.(type) {
	case promql.Matrix:
		m := make(promql.Matrix, len(v))
		for i, s := range v {
			m[i] = promql.Series{
				Metric:     s.Metric,
				Floats:     append([]promql.FPoint(nil), s.Floats...),
				Histograms: append([]promql.HPoint(nil), s.Histograms...),
			}
		}
		return m
	case promql.Vector:
		return append(promql.Vector(nil), v...)
	}
	return v
}

// toSeries converts an engine value to the Source shape. Native histogram
// points have no place in [Sample] and are left out.
func toSeries(r *result) ([]Series, error) {
	switch v := r.value.(type) {
	case promql.Matrix:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			if len(s.Floats) == 0 {
				continue
			}
			samples := make([]Sample, len(s.Floats))
			for i, p := range s.Floats {
				samples[i] = Sample{T: time.UnixMilli(p.T).UTC(), V: p.F}
			}
			out = append(out, Series{Labels: labelMap(s.Metric), Samples: samples})
		}
		return out, nil
	case promql.Vector:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			if s.H != nil {
				continue
			}
			out = append(out, Series{
				Labels:  labelMap(s.Metric),
				Samples: []Sample{{T: time.UnixMilli(s.T).UTC(), V: s.F}},
			})
		}
		return out, nil
	case promql.Scalar:
		return []Series{{Labels: map[string]string{}, Samples: []Sample{{T: time.UnixMilli(v.T).UTC(), V: v.V}}}}, nil
	default:
		return nil, fmt.Errorf("query result of type %s: %w", v.Type(), ErrBadQuery)
	}
}

func labelMap(ls labels.Labels) map[string]string {
	m := make(map[string]string, ls.Len())
	ls.Range(func(l labels.Label) { m[l.Name] = l.Value })
	return m
}

// timestampMillis converts t to a tsdb timestamp, clamping times beyond the
// range of int64 milliseconds.
func timestampMillis(t time.Time) int64 {
	const maxSec = math.MaxInt64 / 1000
	if t.Unix() >= maxSec {
		return math.MaxInt64
	}
	if t.Unix() <= -maxSec {
		return math.MinInt64
	}
	return t.UnixMilli()
}

// withQuerier runs fn with a querier over [mint, maxt] that reads only
// tenant's series. Strings read from the querier are valid only during fn.
func (s *Store) withQuerier(tenant string, mint, maxt int64, fn func(storage.Querier) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	q, err := scopeQueryable(s.db, tenant).Querier(mint, maxt)
	if err != nil {
		return promql.ErrStorage{Err: fmt.Errorf("open querier: %w", err)}
	}
	defer q.Close()
	return fn(q)
}
