package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testTenant(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)

	a, err := s.TenantCreate(c, &store.TenantCreateParams{Name: "acme"})
	require.NoError(t, err)
	require.NotEmpty(t, a.ID)
	require.Equal(t, "acme", a.Name)
	recent(t, a.CreatedAt)

	b, err := s.TenantCreate(c, &store.TenantCreateParams{ID: "fixed-id", Name: "beta"})
	require.NoError(t, err)
	require.Equal(t, "fixed-id", b.ID)

	got, err := s.TenantGet(c, a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)

	_, err = s.TenantGet(c, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = s.TenantCreate(c, &store.TenantCreateParams{Name: "acme"})
	require.ErrorIs(t, err, store.ErrConflict, "tenant names are unique")
	_, err = s.TenantCreate(c, &store.TenantCreateParams{ID: "fixed-id", Name: "other"})
	require.ErrorIs(t, err, store.ErrConflict, "tenant IDs are unique")
	_, err = s.TenantCreate(c, &store.TenantCreateParams{})
	require.ErrorIs(t, err, store.ErrInvalid)

	list, err := s.TenantList(c)
	require.NoError(t, err)
	require.Equal(t, []*store.Tenant{a, b}, list, "ordered by name")
}

func testAPIKey(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	k1, err := s.APIKeyCreate(c, &store.APIKeyCreateParams{
		TenantID: a, Name: "ci", Prefix: "phx_ab12", Hash: "hash-1", Role: store.RoleAdmin, CreatedBy: "bootstrap", ExpiresAt: &exp,
	})
	require.NoError(t, err)
	require.NotEmpty(t, k1.ID)
	require.Equal(t, a, k1.TenantID)
	require.Equal(t, "ci", k1.Name)
	require.Equal(t, "phx_ab12", k1.Prefix)
	require.Equal(t, "hash-1", k1.Hash)
	require.Equal(t, store.RoleAdmin, k1.Role)
	require.Equal(t, "bootstrap", k1.CreatedBy)
	require.True(t, exp.Equal(*k1.ExpiresAt))
	require.Nil(t, k1.LastUsedAt)
	require.Nil(t, k1.RevokedAt)
	recent(t, k1.CreatedAt)
	require.True(t, k1.Usable(time.Now()))
	require.False(t, k1.Usable(exp.Add(time.Second)), "expired")

	k2, err := s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: a, Prefix: "phx_cd34", Hash: "hash-2", Role: store.RoleViewer})
	require.NoError(t, err)
	require.Nil(t, k2.ExpiresAt)
	kb, err := s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: b, Prefix: "phx_ef56", Hash: "hash-3", Role: store.RoleEditor})
	require.NoError(t, err)

	// Errors.
	_, err = s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: b, Prefix: "x", Hash: "hash-1", Role: store.RoleViewer})
	require.ErrorIs(t, err, store.ErrConflict, "hashes are unique across tenants")
	_, err = s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: a, Prefix: "x", Hash: "hash-9", Role: "root"})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: a, Prefix: "x", Role: store.RoleViewer})
	require.ErrorIs(t, err, store.ErrInvalid, "hash is required")
	_, err = s.APIKeyCreate(c, &store.APIKeyCreateParams{TenantID: "no-such-tenant", Prefix: "x", Hash: "hash-9", Role: store.RoleViewer})
	require.ErrorIs(t, err, store.ErrNotFound, "unknown tenant")

	// Lookup by hash crosses tenants: it is how a request finds its tenant.
	got, err := s.APIKeyGetByHash(c, "hash-3")
	require.NoError(t, err)
	require.Equal(t, kb, got)
	_, err = s.APIKeyGetByHash(c, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	list, err := s.APIKeyList(c, a)
	require.NoError(t, err)
	require.Equal(t, []*store.APIKey{k2, k1}, list, "newest first, tenant A only")
	list, err = s.APIKeyList(c, b)
	require.NoError(t, err)
	require.Equal(t, []*store.APIKey{kb}, list)

	// Touch keeps the latest use.
	t1 := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, s.APIKeyTouch(c, a, k1.ID, t1))
	require.NoError(t, s.APIKeyTouch(c, a, k1.ID, t1.Add(-time.Minute)))
	got, err = s.APIKeyGetByHash(c, "hash-1")
	require.NoError(t, err)
	require.True(t, t1.Equal(*got.LastUsedAt))
	require.ErrorIs(t, s.APIKeyTouch(c, b, k1.ID, t1), store.ErrNotFound, "tenant B cannot touch A's key")
	require.ErrorIs(t, s.APIKeyTouch(c, a, "missing", t1), store.ErrNotFound)

	// Revoke is scoped and keeps the first revocation.
	_, err = s.APIKeyRevoke(c, b, k1.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "tenant B cannot revoke A's key")
	r1, err := s.APIKeyRevoke(c, a, k1.ID)
	require.NoError(t, err)
	require.NotNil(t, r1.RevokedAt)
	recent(t, *r1.RevokedAt)
	require.False(t, r1.Usable(time.Now()))
	r2, err := s.APIKeyRevoke(c, a, k1.ID)
	require.NoError(t, err)
	require.True(t, r1.RevokedAt.Equal(*r2.RevokedAt))
	_, err = s.APIKeyRevoke(c, a, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err = s.APIKeyGetByHash(c, "hash-1")
	require.NoError(t, err)
	require.NotNil(t, got.RevokedAt, "revoked keys are still found, and refused by Usable")
}
