package auth_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

func TestBootstrapFreshStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)

	secret, created, err := auth.Bootstrap(ctx, st)
	require.NoError(t, err)
	require.True(t, created)
	require.Regexp(t, `^phx_[a-z2-7]{52}$`, secret)

	tenants, err := st.TenantList(ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 1)
	require.Equal(t, "default", tenants[0].Name)
	keys, err := st.APIKeyList(ctx, tenants[0].ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, "bootstrap", keys[0].Name)
	require.Equal(t, store.RoleAdmin, keys[0].Role)
	require.Equal(t, auth.HashSecret(secret), keys[0].Hash)
	require.Equal(t, secret[:12], keys[0].Prefix)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, keys[0].ID, "a UUID every store accepts")

	// The secret works and carries the admin role.
	p, err := auth.NewAuthenticator(st, auth.Settings{}).Authenticate(ctx, "Bearer "+secret)
	require.NoError(t, err)
	require.Equal(t, tenants[0].ID, p.TenantID)
	require.Equal(t, store.RoleAdmin, p.Role)

	// A second start does nothing.
	secret, created, err = auth.Bootstrap(ctx, st)
	require.NoError(t, err)
	require.False(t, created)
	require.Empty(t, secret)
	keys, err = st.APIKeyList(ctx, tenants[0].ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
}

func TestBootstrapConcurrentCallersCreateOneKey(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		ctx := context.Background()
		st := newStore(t)
		const callers = 6
		type result struct {
			secret  string
			created bool
			err     error
		}
		results := make(chan result, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				s, c, err := auth.Bootstrap(ctx, st)
				results <- result{s, c, err}
			})
		}
		close(start)
		wg.Wait()
		close(results)

		var secrets []string
		for r := range results {
			require.NoError(t, r.err, "round %d", round)
			if r.created {
				secrets = append(secrets, r.secret)
			} else {
				require.Empty(t, r.secret)
			}
		}
		require.Len(t, secrets, 1, "round %d: exactly one caller creates the key", round)

		tenants, err := st.TenantList(ctx)
		require.NoError(t, err)
		require.Len(t, tenants, 1)
		keys, err := st.APIKeyList(ctx, tenants[0].ID)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.Equal(t, auth.HashSecret(secrets[0]), keys[0].Hash)
	}
}

func TestBootstrapFinishesAnInterruptedStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ten := newTenant(t, st, "default") // a start that stopped before creating the key

	secret, created, err := auth.Bootstrap(ctx, st)
	require.NoError(t, err)
	require.True(t, created)
	keys, err := st.APIKeyList(ctx, ten.ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, auth.HashSecret(secret), keys[0].Hash)
}

func TestBootstrapLeavesUsedStoresAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Another tenant exists.
	st := newStore(t)
	other := newTenant(t, st, "acme")
	secret, created, err := auth.Bootstrap(ctx, st)
	require.NoError(t, err)
	require.False(t, created)
	require.Empty(t, secret)
	tenants, err := st.TenantList(ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 1)
	keys, err := st.APIKeyList(ctx, other.ID)
	require.NoError(t, err)
	require.Empty(t, keys)

	// The default tenant has a key, even a revoked one: no second admin key
	// appears behind the operator's back.
	st = newStore(t)
	def := newTenant(t, st, "default")
	_, k, err := auth.CreateAPIKey(ctx, st, def.ID, "ops", store.RoleViewer, "", nil)
	require.NoError(t, err)
	_, err = st.APIKeyRevoke(ctx, def.ID, k.ID)
	require.NoError(t, err)
	_, created, err = auth.Bootstrap(ctx, st)
	require.NoError(t, err)
	require.False(t, created)
	keys, err = st.APIKeyList(ctx, def.ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
}
