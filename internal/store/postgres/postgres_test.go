package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/storetest"
)

// defaultTestDSN is where the development machines and CI run PostgreSQL.
const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var reach struct {
	once sync.Once
	err  error
}

// testDSN returns the DSN of the test server. When the server cannot be
// reached the test fails under CI (CI=true), which must provide it, and is
// skipped elsewhere with directions to start it.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PHOENIX_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = defaultTestDSN
	}
	reach.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			reach.err = err
			return
		}
		reach.err = conn.Ping(ctx)
		_ = conn.Close(ctx)
	})
	if reach.err != nil {
		where := redact(dsn)
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL service unreachable at %s (PHOENIX_TEST_POSTGRES_DSN): %v; CI must start the postgresql service before the tests", where, reach.err)
		}
		t.Skipf("PostgreSQL is missing at %s (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or point PHOENIX_TEST_POSTGRES_DSN at a server", where, reach.err)
	}
	return dsn
}

// redact describes a DSN without its password.
func redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "an unparsable PHOENIX_TEST_POSTGRES_DSN"
	}
	return fmt.Sprintf("%s:%d (database %s, user %s)", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// randomSchema returns a fresh schema name and drops the schema when the
// test ends.
func randomSchema(t testing.TB, prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() { admin(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	return schema
}

// admin runs one statement on its own connection.
func admin(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

// testOptions are small-pool options for a store in schema.
func testOptions(t testing.TB, schema string) Options {
	o := DefaultOptions(testDSN(t))
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
	s, err := openSchema(t, randomSchema(t, "phoenix_test_"))
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
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
			admin(t, "INSERT INTO "+schema+".schema_migrations (version, name, applied_at) VALUES ($1, 'future', now())", version)
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
		conn, err := pgx.Connect(ctx, testDSN(t))
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
	schema := randomSchema(t, "phoenix_test_")

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
		"bad schema": {DSN: defaultTestDSN, Schema: "x; DROP TABLE y"},
		"upper":      {DSN: defaultTestDSN, Schema: "Phoenix"},
		"negative":   {DSN: defaultTestDSN, MaxConns: -1},
		"min > max":  {DSN: defaultTestDSN, MaxConns: 2, MinConns: 3},
		"duration":   {DSN: defaultTestDSN, MaxConnIdleTime: -time.Second},
	} {
		require.Error(t, o.Validate(), name)
	}
	o := DefaultOptions(defaultTestDSN)
	require.NoError(t, o.Validate())
	require.Equal(t, int32(25), o.MaxConns)
	require.Equal(t, int32(5), o.MinConns)
	require.Equal(t, 5*time.Minute, o.MaxConnLifetime)
	require.Equal(t, time.Minute, o.MaxConnIdleTime)
}

func TestPoolConfig(t *testing.T) {
	o := DefaultOptions(testDSN(t))
	o.Schema = randomSchema(t, "phoenix_test_")
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
