package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testIdempotency(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	body := []byte(`{"id":"exp-1","state":"draft"}`)
	rec, err := s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k-1", RequestHash: "req-1", ResponseStatus: 201, ResponseBody: body, ExpiresAt: exp})
	require.NoError(t, err)
	require.Equal(t, a, rec.TenantID)
	require.Equal(t, "k-1", rec.Key)
	require.Equal(t, "req-1", rec.RequestHash)
	require.Equal(t, 201, rec.ResponseStatus)
	require.Equal(t, body, rec.ResponseBody)
	require.True(t, exp.Equal(rec.ExpiresAt))
	recent(t, rec.CreatedAt)

	got, err := s.IdempotencyGet(c, a, "k-1")
	require.NoError(t, err)
	require.Equal(t, rec, got)

	// The first record wins while it lives.
	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k-1", RequestHash: "req-2", ResponseStatus: 500, ExpiresAt: exp})
	require.ErrorIs(t, err, store.ErrConflict)
	got, err = s.IdempotencyGet(c, a, "k-1")
	require.NoError(t, err)
	require.Equal(t, "req-1", got.RequestHash)

	// Keys are per tenant.
	_, err = s.IdempotencyGet(c, b, "k-1")
	require.ErrorIs(t, err, store.ErrNotFound)
	recB, err := s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: b, Key: "k-1", RequestHash: "req-b", ResponseStatus: 200, ExpiresAt: exp})
	require.NoError(t, err)
	require.Empty(t, recB.ResponseBody)
	got, err = s.IdempotencyGet(c, a, "k-1")
	require.NoError(t, err)
	require.Equal(t, "req-1", got.RequestHash)

	// Expired records are not replayed, are replaced, and are collected.
	past := time.Now().Add(-time.Minute)
	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k-old", RequestHash: "old", ResponseStatus: 200, ExpiresAt: past})
	require.NoError(t, err)
	_, err = s.IdempotencyGet(c, a, "k-old")
	require.ErrorIs(t, err, store.ErrNotFound)
	fresh, err := s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k-old", RequestHash: "new", ResponseStatus: 202, ExpiresAt: exp})
	require.NoError(t, err, "an expired record is replaced")
	require.Equal(t, "new", fresh.RequestHash)
	got, err = s.IdempotencyGet(c, a, "k-old")
	require.NoError(t, err)
	require.Equal(t, 202, got.ResponseStatus)

	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "gc-a", RequestHash: "x", ResponseStatus: 200, ExpiresAt: past})
	require.NoError(t, err)
	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: b, Key: "gc-b", RequestHash: "x", ResponseStatus: 200, ExpiresAt: past})
	require.NoError(t, err)
	n, err := s.IdempotencyDeleteExpired(c, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(2), n, "expired records of every tenant")
	n, err = s.IdempotencyDeleteExpired(c, time.Now())
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = s.IdempotencyGet(c, a, "k-1")
	require.NoError(t, err, "live records are kept")

	for name, p := range map[string]*store.IdempotencyPutParams{
		"no key":     {TenantID: a, RequestHash: "x", ResponseStatus: 200, ExpiresAt: exp},
		"no hash":    {TenantID: a, Key: "x", ResponseStatus: 200, ExpiresAt: exp},
		"bad status": {TenantID: a, Key: "x", RequestHash: "x", ResponseStatus: 42, ExpiresAt: exp},
		"no expiry":  {TenantID: a, Key: "x", RequestHash: "x", ResponseStatus: 200},
	} {
		_, err := s.IdempotencyPut(c, p)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
}
