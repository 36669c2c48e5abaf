package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/postgres/pgtest"
	"github.com/phoenix/platform/internal/store/storetest"
)

// testOptions are small-pool options for a store in schema.
func testOptions(t testing.TB, schema string) Options {
	o := DefaultOptions(pgtest.DSN(t))
	o.Schema = schema
	o.MaxConns = 8
	o.MinConns = 0
	o.LeaderCheckInterval = 100 * time.Millisecond
	return o
}

// openSchema opens a store in schema and closes it when the test ends.
func openSchema(t testing.TB, schema string) (*Store, error) {
	s, err := Open(context.Background(), testOptions(t, schema))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, nil
}

// newTestStore opens a store in a new random schema, dropped when the test
// ends, so concurrent test runs never share tables.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := openSchema(t, pgtest.Schema(t, "phoenix_test_"))
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) },
		storetest.WithReopen(func(t *testing.T, s store.Store) (store.Store, error) {
			next, err := openSchema(t, s.(*Store).Schema())
			if err != nil {
				return nil, err
			}
			return next, nil
		}),
		storetest.WithSchemaVersion(func(t *testing.T, s store.Store, version int) {
			schema := pgx.Identifier{s.(*Store).Schema()}.Sanitize()
			pgtest.Exec(t, "INSERT INTO "+schema+".schema_migrations (version, name, applied_at) VALUES ($1, 'future', now())", version)
		}),
		storetest.WithOpenAtVersion(func(t *testing.T, version int) store.Store {
			s, err := open(context.Background(), testOptions(t, pgtest.Schema(t, "phoenix_test_")), version)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}),
	)
}

// TestLeaderLostConnection kills the backend that holds the leader lock, as a
// network partition or a server restart would, and expects the leader's
// context to end and another contender to take over.
func TestLeaderLostConnection(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	lead, release, ok, err := s.LeaderTry(ctx, "controller")
	require.NoError(t, err)
	require.True(t, ok)
	defer release()

	key := lockKey(s.Schema(), "leader", "controller")
	var pids []int32
	func() {
		conn, err := pgx.Connect(ctx, pgtest.DSN(t))
		require.NoError(t, err)
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `
			SELECT pid FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND objsubid = 1
			  AND classid::bigint = ($1::bigint >> 32) & 4294967295
			  AND objid::bigint = $1::bigint & 4294967295`, key)
		require.NoError(t, err)
		pids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(t, err)
		require.Len(t, pids, 1, "one session holds the leader lock")
		_, err = conn.Exec(ctx, "SELECT pg_terminate_backend($1)", pids[0])
		require.NoError(t, err)
	}()

	select {
	case <-lead.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("leadership was not lost after its connection was terminated")
	}
	require.Eventually(t, func() bool {
		_, rel, ok, err := s.LeaderTry(ctx, "controller")
		if err != nil || !ok {
			return false
		}
		rel()
		return true
	}, 10*time.Second, 50*time.Millisecond, "a new contender takes over")
	require.NoError(t, s.Ping(ctx), "the pool recovers from the killed connection")
}

// TestMigrationConcurrent opens several stores on one empty schema at once,
// as replicas starting together do: each must succeed and the migrations run
// once.
func TestMigrationConcurrent(t *testing.T) {
	schema := pgtest.Schema(t, "phoenix_test_")

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = openSchema(t, schema)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s, err := openSchema(t, schema)
	require.NoError(t, err)
	var n int
	require.NoError(t, s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n))
	require.Equal(t, LatestVersion(), n)
}

func TestIndexes(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	var defs []string
	rows, err := s.Pool().Query(ctx, "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname", s.Schema())
	require.NoError(t, err)
	defs, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	want := []string{
		"CREATE INDEX experiments_tenant_owner_state_created_idx ON " + s.Schema() + ".experiments USING btree (tenant_id, owner_id, state, created_at DESC)",
		"CREATE INDEX experiments_active_idx ON " + s.Schema() + ".experiments USING btree (created_at, tenant_id, id) WHERE (state = ANY (ARRAY['deploying'::text, 'running'::text, 'analyzing'::text]))",
		"CREATE INDEX pipelines_config_gin_idx ON " + s.Schema() + ".pipelines USING gin (config jsonb_path_ops)",
	}
	for _, w := range want {
		require.Contains(t, defs, w)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]Options{
		"no dsn":     {},
		"bad dsn":    {DSN: "postgres://%zz"},
		"bad schema": {DSN: pgtest.DefaultDSN, Schema: "x; DROP TABLE y"},
		"upper":      {DSN: pgtest.DefaultDSN, Schema: "Phoenix"},
		"negative":   {DSN: pgtest.DefaultDSN, MaxConns: -1},
		"min > max":  {DSN: pgtest.DefaultDSN, MaxConns: 2, MinConns: 3},
		"duration":   {DSN: pgtest.DefaultDSN, MaxConnIdleTime: -time.Second},
	} {
		require.Error(t, o.Validate(), name)
	}
	o := DefaultOptions(pgtest.DefaultDSN)
	require.NoError(t, o.Validate())
	require.Equal(t, int32(25), o.MaxConns)
	require.Equal(t, int32(5), o.MinConns)
	require.Equal(t, 5*time.Minute, o.MaxConnLifetime)
	require.Equal(t, time.Minute, o.MaxConnIdleTime)
}

func TestPoolConfig(t *testing.T) {
	o := DefaultOptions(pgtest.DSN(t))
	o.Schema = pgtest.Schema(t, "phoenix_test_")
	s, err := Open(context.Background(), o)
	require.NoError(t, err)
	defer s.Close()
	cfg := s.Pool().Config()
	require.Equal(t, int32(25), cfg.MaxConns)
	require.Equal(t, int32(5), cfg.MinConns)
	require.Equal(t, 5*time.Minute, cfg.MaxConnLifetime)
	require.Equal(t, time.Minute, cfg.MaxConnIdleTime)
	require.Equal(t, o.Schema, cfg.ConnConfig.RuntimeParams["search_path"])
}

func BenchmarkExperimentGet(b *testing.B) {
	storetest.BenchmarkExperimentGet(b, newTestStore(b))
}

func BenchmarkExperimentList(b *testing.B) {
	storetest.BenchmarkExperimentList(b, newTestStore(b))
}
