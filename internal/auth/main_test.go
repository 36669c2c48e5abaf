package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore opens a real SQLite store in a temporary directory.
func newStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// newTenant creates a tenant called name.
func newTenant(t testing.TB, st store.Store, name string) *store.Tenant {
	t.Helper()
	ten, err := st.TenantCreate(context.Background(), &store.TenantCreateParams{Name: name})
	require.NoError(t, err)
	return ten
}
