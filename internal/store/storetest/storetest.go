// Package storetest is the conformance suite of [store.Store]: one set of
// tests that every implementation runs, so the SQLite and PostgreSQL stores
// behave the same. An implementation's tests call [Run] with a function that
// opens a fresh, empty store, and the benchmarks call [BenchmarkExperimentGet]
// and [BenchmarkExperimentList].
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

// NewStore opens a fresh, empty, migrated store for one test and registers
// its cleanup (closing it, dropping what it created) with t.
type NewStore func(t *testing.T) store.Store

// Option gives the suite the driver hooks that restart tests need.
type Option func(*config)

type config struct {
	reopen           func(t *testing.T, s store.Store) (store.Store, error)
	setSchemaVersion func(t *testing.T, s store.Store, version int)
	openAtVersion    func(t *testing.T, version int) store.Store
}

// WithReopen lets the suite restart a store: reopen opens a new store on the
// same database as s (which the suite has already closed), running the
// migrations again, and returns the open error unchanged. The new store must
// be closed by a cleanup reopen registers.
func WithReopen(reopen func(t *testing.T, s store.Store) (store.Store, error)) Option {
	return func(c *config) { c.reopen = reopen }
}

// WithSchemaVersion lets the suite fake an upgrade by a newer binary: set
// records version as applied in the schema_migrations table of the database
// behind s.
func WithSchemaVersion(set func(t *testing.T, s store.Store, version int)) Option {
	return func(c *config) { c.setSchemaVersion = set }
}

// WithOpenAtVersion lets the suite upgrade an old database: open creates a
// fresh database migrated only up to version, as an older Phoenix left it,
// and returns a store on it whose cleanup it registers. The suite closes that
// store and upgrades the database through WithReopen.
func WithOpenAtVersion(open func(t *testing.T, version int) store.Store) Option {
	return func(c *config) { c.openAtVersion = open }
}

// Run runs the conformance suite against the stores newStore opens. Every
// subtest opens its own store, so subtests run in parallel. Without
// WithReopen, WithSchemaVersion and WithOpenAtVersion the restart and
// upgrade tests are skipped.
func Run(t *testing.T, newStore NewStore, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	t.Run("Store", func(t *testing.T) { t.Parallel(); testStore(t, newStore) })
	t.Run("Tenant", func(t *testing.T) { t.Parallel(); testTenant(t, newStore) })
	t.Run("APIKey", func(t *testing.T) { t.Parallel(); testAPIKey(t, newStore) })
	t.Run("Experiment", func(t *testing.T) { t.Parallel(); testExperiment(t, newStore) })
	t.Run("ExperimentList", func(t *testing.T) { t.Parallel(); testExperimentList(t, newStore) })
	t.Run("ExperimentTransition", func(t *testing.T) { t.Parallel(); testExperimentTransition(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { t.Parallel(); testConcurrency(t, newStore) })
	t.Run("Pipeline", func(t *testing.T) { t.Parallel(); testPipeline(t, newStore) })
	t.Run("Deployment", func(t *testing.T) { t.Parallel(); testDeployment(t, newStore) })
	t.Run("Agent", func(t *testing.T) { t.Parallel(); testAgent(t, newStore) })
	t.Run("EnrollmentToken", func(t *testing.T) { t.Parallel(); testEnrollmentToken(t, newStore) })
	t.Run("AuditLog", func(t *testing.T) { t.Parallel(); testAuditLog(t, newStore) })
	t.Run("Atomic", func(t *testing.T) { t.Parallel(); testAtomic(t, newStore) })
	t.Run("Idempotency", func(t *testing.T) { t.Parallel(); testIdempotency(t, newStore) })
	t.Run("IdempotencyClaim", func(t *testing.T) { t.Parallel(); testIdempotencyClaim(t, newStore) })
	t.Run("TenantSettings", func(t *testing.T) { t.Parallel(); testTenantSettings(t, newStore) })
	t.Run("TenantSettingsUpgrade", func(t *testing.T) { t.Parallel(); testTenantSettingsUpgrade(t, newStore, c) })
	t.Run("Leader", func(t *testing.T) { t.Parallel(); testLeader(t, newStore, c) })
	t.Run("Migration", func(t *testing.T) { t.Parallel(); testMigration(t, newStore, c) })
}

// ctx returns a context that ends with the test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// twoTenants creates tenants A and B.
func twoTenants(t *testing.T, s store.Store) (a, b string) {
	t.Helper()
	ta, err := s.TenantCreate(ctx(t), &store.TenantCreateParams{Name: "tenant-a"})
	require.NoError(t, err)
	tb, err := s.TenantCreate(ctx(t), &store.TenantCreateParams{Name: "tenant-b"})
	require.NoError(t, err)
	return ta.ID, tb.ID
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// recent asserts that ts is a stored timestamp taken during the test: UTC,
// microsecond precision, within a minute of now.
func recent(t *testing.T, ts time.Time) {
	t.Helper()
	require.Equal(t, time.UTC, ts.Location())
	require.Zero(t, ts.Nanosecond()%1000, "stored times have microsecond precision")
	require.WithinDuration(t, time.Now(), ts, time.Minute)
}

func testStore(t *testing.T, newStore NewStore) {
	s := newStore(t)
	require.NoError(t, s.Ping(ctx(t)))
	v, err := s.SchemaVersion(ctx(t))
	require.NoError(t, err)
	require.Positive(t, v)

	// Times go in at any precision and zone and come back UTC in microseconds.
	a, _ := twoTenants(t, s)
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	k, err := s.APIKeyCreate(ctx(t), &store.APIKeyCreateParams{TenantID: a, Prefix: "p", Hash: "h", Role: store.RoleViewer, ExpiresAt: &at})
	require.NoError(t, err)
	require.Equal(t, time.UTC, k.ExpiresAt.Location())
	require.True(t, at.Truncate(time.Microsecond).Equal(*k.ExpiresAt), "got %s", k.ExpiresAt)

	testNilParams(t, s)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
}

// testNilParams checks that every params-taking method refuses nil params
// with ErrInvalid instead of panicking.
func testNilParams(t *testing.T, s store.Store) {
	c := ctx(t)
	errs := []error{}
	add := func(_ any, err error) { errs = append(errs, err) }
	add(s.TenantCreate(c, nil))
	add(s.APIKeyCreate(c, nil))
	add(s.ExperimentCreate(c, nil))
	add(s.ExperimentList(c, nil))
	add(s.ExperimentUpdate(c, nil))
	add(s.ExperimentSetResult(c, nil))
	_, _, err := s.ExperimentTransition(c, nil)
	errs = append(errs, err)
	add(s.PipelineCreate(c, nil))
	add(s.PipelineList(c, nil))
	add(s.PipelineUpdate(c, nil))
	add(s.DeploymentCreate(c, nil))
	add(s.DeploymentList(c, nil))
	add(s.DeploymentUpdate(c, nil))
	add(s.AgentUpsert(c, nil))
	add(s.AgentList(c, nil))
	add(s.EnrollmentTokenCreate(c, nil))
	add(s.AuditLogAppend(c, nil))
	add(s.AuditLogList(c, nil))
	add(s.IdempotencyPut(c, nil))
	_, _, err = s.IdempotencyClaim(c, nil)
	errs = append(errs, err)
	add(s.TenantSettingsPut(c, nil))
	for i, err := range errs {
		require.ErrorIs(t, err, store.ErrInvalid, "call %d", i)
	}
}
