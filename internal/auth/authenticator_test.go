package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// countingStore is a real store that counts APIKeyTouch calls and can be
// made to fail lookups.
type countingStore struct {
	store.Store
	touches   atomic.Int64
	lookupErr error
}

func (s *countingStore) APIKeyTouch(ctx context.Context, tenantID, id string, at time.Time) error {
	s.touches.Add(1)
	return s.Store.APIKeyTouch(ctx, tenantID, id, at)
}

func (s *countingStore) APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	if s.lookupErr != nil {
		return nil, s.lookupErr
	}
	return s.Store.APIKeyGetByHash(ctx, hash)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func requireUnauthorized(t *testing.T, err error, secret, msgPart string) {
	t.Helper()
	var ae *apierror.Error
	require.True(t, errors.As(err, &ae), "got %v", err)
	require.Equal(t, apierror.CodeUnauthorized, ae.Code)
	require.Equal(t, 401, ae.HTTPStatus())
	require.Contains(t, ae.Message, msgPart)
	if secret != "" {
		require.NotContains(t, err.Error(), secret, "the secret is never echoed")
		require.NotContains(t, err.Error(), secret[12:], "no part of the secret past the display prefix is echoed")
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{Store: newStore(t)}
	ten := newTenant(t, st, "acme")
	clk := &clock{t: time.Now()}
	a := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now})

	secret, key, err := auth.CreateAPIKey(ctx, st, ten.ID, "ci", store.RoleEditor, "key:someone", nil)
	require.NoError(t, err)

	p, err := a.Authenticate(ctx, "Bearer "+secret)
	require.NoError(t, err)
	require.Equal(t, &auth.Principal{TenantID: ten.ID, KeyID: key.ID, Role: store.RoleEditor, Actor: "key:" + key.ID}, p)

	// The scheme is case-insensitive and surrounding space is ignored.
	_, err = a.Authenticate(ctx, "  bearer   "+secret+" ")
	require.NoError(t, err)

	// Revoked.
	_, err = st.APIKeyRevoke(ctx, ten.ID, key.ID)
	require.NoError(t, err)
	_, err = a.Authenticate(ctx, "Bearer "+secret)
	requireUnauthorized(t, err, secret, "revoked")
}

func TestAuthenticateExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	clk := &clock{t: time.Now()}
	a := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now})
	exp := time.Now().Add(time.Hour)
	secret, _, err := auth.CreateAPIKey(ctx, st, ten.ID, "short", store.RoleViewer, "", &exp)
	require.NoError(t, err)

	_, err = a.Authenticate(ctx, "Bearer "+secret)
	require.NoError(t, err)
	clk.Add(time.Hour + time.Second)
	_, err = a.Authenticate(ctx, "Bearer "+secret)
	requireUnauthorized(t, err, secret, "expired")
}

func TestAuthenticateRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	a := auth.NewAuthenticator(st, auth.Settings{})
	valid, _, err := auth.CreateAPIKey(ctx, st, ten.ID, "ci", store.RoleAdmin, "", nil)
	require.NoError(t, err)
	unknown, _, _, err := auth.NewAPIKey()
	require.NoError(t, err)
	token, _, err := auth.CreateEnrollmentToken(ctx, st, ten.ID, "agents", "", nil, nil)
	require.NoError(t, err)

	cases := []struct {
		name, header, secret, msg string
	}{
		{"empty", "", "", "missing credentials"},
		{"blank", "   ", "", "missing credentials"},
		{"no scheme", valid, valid, "malformed Authorization header"},
		{"basic scheme", "Basic " + valid, valid, "malformed Authorization header"},
		{"scheme only", "Bearer", "", "malformed Authorization header"},
		{"empty secret", "Bearer ", "", "malformed Authorization header"},
		{"unknown key", "Bearer " + unknown, unknown, "invalid API key"},
		{"uppercase", "Bearer " + strings.ToUpper(valid), strings.ToUpper(valid), "malformed API key"},
		{"truncated", "Bearer " + valid[:len(valid)-1], valid[:len(valid)-1], "malformed API key"},
		{"too long", "Bearer " + valid + "a", valid + "a", "malformed API key"},
		{"bad character", "Bearer " + valid[:len(valid)-1] + "1", valid[:len(valid)-1] + "1", "malformed API key"},
		{"wrong prefix", "Bearer phy_" + valid[4:], "phy_" + valid[4:], "malformed API key"},
		{"enrollment token as key", "Bearer " + token, token, "malformed API key"},
		{"two secrets", "Bearer " + valid + " " + valid, valid + " " + valid, "malformed API key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := a.Authenticate(ctx, c.header)
			require.Nil(t, p)
			requireUnauthorized(t, err, c.secret, c.msg)
		})
	}
}

func TestAuthenticateStoreFailureIsInternal(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: newStore(t), lookupErr: errors.New("database is locked")}
	secret, _, _, err := auth.NewAPIKey()
	require.NoError(t, err)
	_, err = auth.NewAuthenticator(st, auth.Settings{}).Authenticate(context.Background(), "Bearer "+secret)
	ae := apierror.From(err)
	require.Equal(t, apierror.CodeInternal, ae.Code, "a broken database is not a bad credential")
	require.ErrorContains(t, err, "database is locked")
	require.NotContains(t, err.Error(), secret)
}

func TestAuthenticateTouchesAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{Store: newStore(t)}
	ten := newTenant(t, st, "acme")
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	a := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now})
	s1, k1, err := auth.CreateAPIKey(ctx, st, ten.ID, "one", store.RoleViewer, "", nil)
	require.NoError(t, err)
	s2, k2, err := auth.CreateAPIKey(ctx, st, ten.ID, "two", store.RoleViewer, "", nil)
	require.NoError(t, err)

	lastUsed := func(id string) *time.Time {
		keys, err := st.APIKeyList(ctx, ten.ID)
		require.NoError(t, err)
		for _, k := range keys {
			if k.ID == id {
				return k.LastUsedAt
			}
		}
		t.Fatalf("key %s not listed", id)
		return nil
	}
	first := clk.Now()

	// Many concurrent requests with one key within a minute write once.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := a.Authenticate(ctx, "Bearer "+s1)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, st.touches.Load())
	require.NotNil(t, lastUsed(k1.ID))
	require.True(t, first.Equal(*lastUsed(k1.ID)), "last use is %v, want %v", lastUsed(k1.ID), first)
	require.Nil(t, lastUsed(k2.ID))

	// Another key is throttled on its own.
	_, err = a.Authenticate(ctx, "Bearer "+s2)
	require.NoError(t, err)
	require.EqualValues(t, 2, st.touches.Load())

	clk.Add(59 * time.Second)
	_, err = a.Authenticate(ctx, "Bearer "+s1)
	require.NoError(t, err)
	require.EqualValues(t, 2, st.touches.Load(), "within the interval nothing is written")

	clk.Add(time.Second)
	_, err = a.Authenticate(ctx, "Bearer "+s1)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.touches.Load())
	require.True(t, first.Add(time.Minute).Equal(*lastUsed(k1.ID)))

	// A fresh authenticator (another replica, or after a restart) trusts the
	// stored last use and does not write again within the interval.
	b := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now})
	_, err = b.Authenticate(ctx, "Bearer "+s1)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.touches.Load())
}

func TestAuthenticateAgent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	clk := &clock{t: time.Now()}
	a := auth.NewAuthenticator(st, auth.Settings{Now: clk.Now})

	labels := map[string]string{"env": "prod", "team": "platform"}
	secret, tok, err := auth.CreateEnrollmentToken(ctx, st, ten.ID, "prod hosts", "key:k", labels, nil)
	require.NoError(t, err)
	require.Regexp(t, `^phxa_[a-z2-7]{52}$`, secret)
	require.Equal(t, secret[:12], tok.Prefix)
	require.Equal(t, auth.HashSecret(secret), tok.Hash)

	id, err := a.AuthenticateAgent(ctx, "Bearer "+secret)
	require.NoError(t, err)
	require.Equal(t, &auth.AgentIdentity{TenantID: ten.ID, TokenID: tok.ID, Labels: labels}, id)
	id.Labels["env"] = "changed"
	again, err := a.AuthenticateAgent(ctx, "Bearer "+secret)
	require.NoError(t, err)
	require.Equal(t, "prod", again.Labels["env"], "labels are the caller's copy")

	// No labels is an empty map, not nil.
	bare, _, err := auth.CreateEnrollmentToken(ctx, st, ten.ID, "bare", "", nil, nil)
	require.NoError(t, err)
	id, err = a.AuthenticateAgent(ctx, "Bearer "+bare)
	require.NoError(t, err)
	require.NotNil(t, id.Labels)
	require.Empty(t, id.Labels)

	// An API key is not an enrollment token.
	key, _, err := auth.CreateAPIKey(ctx, st, ten.ID, "ci", store.RoleAdmin, "", nil)
	require.NoError(t, err)
	_, err = a.AuthenticateAgent(ctx, "Bearer "+key)
	requireUnauthorized(t, err, key, "malformed enrollment token")

	unknown, _, _, err := auth.NewEnrollmentToken()
	require.NoError(t, err)
	_, err = a.AuthenticateAgent(ctx, "Bearer "+unknown)
	requireUnauthorized(t, err, unknown, "invalid enrollment token")

	_, err = a.AuthenticateAgent(ctx, "")
	requireUnauthorized(t, err, "", "missing credentials")

	// Expired.
	exp := time.Now().Add(time.Minute)
	short, _, err := auth.CreateEnrollmentToken(ctx, st, ten.ID, "short", "", nil, &exp)
	require.NoError(t, err)
	_, err = a.AuthenticateAgent(ctx, "Bearer "+short)
	require.NoError(t, err)
	clk.Add(2 * time.Minute)
	_, err = a.AuthenticateAgent(ctx, "Bearer "+short)
	requireUnauthorized(t, err, short, "expired")

	// Revoked.
	_, err = st.EnrollmentTokenRevoke(ctx, ten.ID, tok.ID)
	require.NoError(t, err)
	_, err = a.AuthenticateAgent(ctx, "Bearer "+secret)
	requireUnauthorized(t, err, secret, "revoked")
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, ok := auth.PrincipalFrom(ctx)
	require.False(t, ok)
	require.Nil(t, p)

	want := &auth.Principal{TenantID: "t", KeyID: "k", Role: store.RoleViewer, Actor: auth.KeyActor("k")}
	got, ok := auth.PrincipalFrom(auth.WithPrincipal(ctx, want))
	require.True(t, ok)
	require.Same(t, want, got)
	require.Equal(t, "key:k", got.Actor)

	_, ok = auth.PrincipalFrom(auth.WithPrincipal(ctx, nil))
	require.False(t, ok, "a nil principal is no principal")
}
