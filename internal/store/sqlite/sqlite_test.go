package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
	"github.com/phoenix/platform/internal/store/storetest"
)

func open(t testing.TB, path string) (*sqlite.Store, error) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, nil
}

func newStore(t *testing.T) store.Store {
	s, err := open(t, filepath.Join(t.TempDir(), "data", sqlite.DefaultFileName))
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore,
		storetest.WithReopen(func(t *testing.T, s store.Store) (store.Store, error) {
			next, err := open(t, s.(*sqlite.Store).Path())
			if err != nil {
				return nil, err
			}
			return next, nil
		}),
		storetest.WithSchemaVersion(func(t *testing.T, s store.Store, version int) {
			db, err := sql.Open("sqlite", s.(*sqlite.Store).Path())
			require.NoError(t, err)
			defer db.Close()
			_, err = db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`, version)
			require.NoError(t, err)
		}),
		storetest.WithOpenAtVersion(func(t *testing.T, version int) store.Store {
			s, err := sqlite.OpenAtVersion(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "old", sqlite.DefaultFileName)}, version)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}),
	)
}

func TestOpenSettings(t *testing.T) {
	s := newStore(t).(*sqlite.Store)
	db, err := sql.Open("sqlite", s.Path())
	require.NoError(t, err)
	defer db.Close()

	var mode string
	require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	require.Equal(t, "wal", mode, "WAL is a property of the file")

	var names []string
	rows, err := db.Query(`SELECT version, name FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	for rows.Next() {
		var version int
		var name string
		require.NoError(t, rows.Scan(&version, &name))
		require.Equal(t, len(names)+1, version)
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"init", "tenant_settings"}, names)
	require.Equal(t, len(names), sqlite.LatestVersion())

	var plan string
	rows, err = db.Query(`EXPLAIN QUERY PLAN SELECT id FROM experiments WHERE state IN ('deploying', 'running', 'analyzing') ORDER BY created_at, tenant_id, id`)
	require.NoError(t, err)
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan += detail + "\n"
	}
	require.NoError(t, rows.Err())
	require.Contains(t, plan, "experiments_active_idx", "the active list reads the partial index")
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]sqlite.Options{
		"no path":  {},
		"memory":   {Path: ":memory:"},
		"uri":      {Path: "file:x.db"},
		"query":    {Path: "/tmp/x.db?mode=ro"},
		"negative": {Path: "/tmp/x.db", MaxReadConns: -1},
		"busy < 0": {Path: "/tmp/x.db", BusyTimeout: -time.Second},
	} {
		require.Error(t, o.Validate(), name)
	}
	o := sqlite.DefaultOptions("/var/lib/phoenix")
	require.NoError(t, o.Validate())
	require.Equal(t, "/var/lib/phoenix/phoenix.db", o.Path)
}

func TestForeignKeysEnforced(t *testing.T) {
	s := newStore(t)
	_, err := s.ExperimentCreate(context.Background(), &store.ExperimentCreateParams{TenantID: "ghost", Name: "n", State: "draft"})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func BenchmarkExperimentGet(b *testing.B) {
	s, err := open(b, filepath.Join(b.TempDir(), "bench.db"))
	require.NoError(b, err)
	storetest.BenchmarkExperimentGet(b, s)
}

func BenchmarkExperimentList(b *testing.B) {
	s, err := open(b, filepath.Join(b.TempDir(), "bench.db"))
	require.NoError(b, err)
	storetest.BenchmarkExperimentList(b, s)
}

// TestTwoStoresOneFile writes through two stores opened on the same file, as
// a second process would: busy_timeout and BEGIN IMMEDIATE make the writers
// queue instead of failing with SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	s1, err := open(t, path)
	require.NoError(t, err)
	s2, err := open(t, path)
	require.NoError(t, err)
	ctx := context.Background()
	tn, err := s1.TenantCreate(ctx, &store.TenantCreateParams{Name: "t"})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 8 {
		s := []*sqlite.Store{s1, s2}[w%2]
		wg.Go(func() {
			for range 25 {
				e, err := s.ExperimentCreate(ctx, &store.ExperimentCreateParams{TenantID: tn.ID, Name: "x", State: "draft"})
				if err != nil {
					errs <- err
					continue
				}
				_, _, err = s.ExperimentTransition(ctx, &store.ExperimentTransitionParams{TenantID: tn.ID, ID: e.ID, From: "draft", To: "deploying"})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	active, err := s2.ExperimentListActive(ctx)
	require.NoError(t, err)
	require.Len(t, active, 200)
}
