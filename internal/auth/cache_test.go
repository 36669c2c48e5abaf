package auth_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// lookupStore is a real store that counts key lookups and can run a hook
// after the store answered one.
type lookupStore struct {
	store.Store
	lookups     atomic.Int64
	afterLookup func()
}

func (s *lookupStore) APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	s.lookups.Add(1)
	k, err := s.Store.APIKeyGetByHash(ctx, hash)
	if s.afterLookup != nil {
		s.afterLookup()
	}
	return k, err
}

func TestAuthenticateCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	newKey := func(t *testing.T, expires *time.Time) (*lookupStore, *clock, *auth.Authenticator, string, *store.APIKey) {
		st := &lookupStore{Store: newStore(t)}
		ten := newTenant(t, st, "acme")
		clk := &clock{t: time.Now()}
		a := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now, CacheTTL: 5 * time.Second})
		secret, k, err := auth.CreateAPIKey(ctx, st, ten.ID, "ci", store.RoleEditor, "", expires)
		require.NoError(t, err)
		return st, clk, a, secret, k
	}

	t.Run("a key is looked up once per TTL", func(t *testing.T) {
		t.Parallel()
		st, clk, a, secret, k := newKey(t, nil)
		for range 10 {
			p, err := a.Authenticate(ctx, "Bearer "+secret)
			require.NoError(t, err)
			require.Equal(t, &auth.Principal{TenantID: k.TenantID, KeyID: k.ID, Role: store.RoleEditor, Actor: auth.KeyActor(k.ID)}, p)
		}
		require.EqualValues(t, 1, st.lookups.Load())
		clk.Add(5 * time.Second)
		_, err := a.Authenticate(ctx, "Bearer "+secret)
		require.NoError(t, err)
		require.EqualValues(t, 2, st.lookups.Load(), "an entry as old as the TTL is looked up again")
	})

	t.Run("revoked through the wrapped store: refused at once", func(t *testing.T) {
		t.Parallel()
		st, _, a, secret, k := newKey(t, nil)
		_, err := a.Authenticate(ctx, "Bearer "+secret)
		require.NoError(t, err)
		_, err = a.ForgetRevoked(st).APIKeyRevoke(ctx, k.TenantID, k.ID)
		require.NoError(t, err)
		_, err = a.Authenticate(ctx, "Bearer "+secret)
		requireUnauthorized(t, err, secret, "revoked")
	})

	t.Run("revoked elsewhere: refused within the TTL", func(t *testing.T) {
		t.Parallel()
		st, clk, a, secret, k := newKey(t, nil)
		_, err := a.Authenticate(ctx, "Bearer "+secret)
		require.NoError(t, err)
		_, err = st.APIKeyRevoke(ctx, k.TenantID, k.ID)
		require.NoError(t, err)
		clk.Add(5 * time.Second)
		_, err = a.Authenticate(ctx, "Bearer "+secret)
		requireUnauthorized(t, err, secret, "revoked")
	})

	t.Run("a lookup racing a revocation is not cached", func(t *testing.T) {
		t.Parallel()
		st, _, a, secret, k := newKey(t, nil)
		st.afterLookup = func() {
			st.afterLookup = nil
			_, err := a.ForgetRevoked(st.Store).APIKeyRevoke(ctx, k.TenantID, k.ID)
			require.NoError(t, err)
		}
		_, err := a.Authenticate(ctx, "Bearer "+secret)
		require.NoError(t, err, "the store answered before the revocation")
		_, err = a.Authenticate(ctx, "Bearer "+secret)
		requireUnauthorized(t, err, secret, "revoked")
	})

	t.Run("expiry is checked on every hit", func(t *testing.T) {
		t.Parallel()
		exp := time.Now().Add(2 * time.Second)
		st, clk, a, secret, _ := newKey(t, &exp)
		_, err := a.Authenticate(ctx, "Bearer "+secret)
		require.NoError(t, err)
		clk.Add(3 * time.Second)
		_, err = a.Authenticate(ctx, "Bearer "+secret)
		requireUnauthorized(t, err, secret, "expired")
		require.EqualValues(t, 1, st.lookups.Load(), "the cached key's own expiry refused it")
	})

	t.Run("unknown keys are not cached", func(t *testing.T) {
		t.Parallel()
		st, _, a, _, _ := newKey(t, nil)
		unknown, _, _, err := auth.NewAPIKey()
		require.NoError(t, err)
		for range 3 {
			_, err := a.Authenticate(ctx, "Bearer "+unknown)
			requireUnauthorized(t, err, unknown, "invalid API key")
		}
		require.EqualValues(t, 3, st.lookups.Load())
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"store", 0}, {"cached", auth.DefaultCacheTTL}} {
		b.Run(bc.name, func(b *testing.B) {
			st := newStore(b)
			ten := newTenant(b, st, "acme")
			a := auth.NewAuthenticator(st, auth.Settings{CacheTTL: bc.ttl})
			secret, _, err := auth.CreateAPIKey(ctx, st, ten.ID, "ci", store.RoleEditor, "", nil)
			require.NoError(b, err)
			header := "Bearer " + secret
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
