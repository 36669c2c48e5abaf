package storetest

import (
	"fmt"
	"sync"
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

func testIdempotencyClaim(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)
	exp := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	claim := func(tenant, key, hash string) (*store.IdempotencyRecord, bool) {
		t.Helper()
		rec, claimed, err := s.IdempotencyClaim(c, &store.IdempotencyClaimParams{TenantID: tenant, Key: key, RequestHash: hash, ExpiresAt: exp})
		require.NoError(t, err)
		return rec, claimed
	}

	// The first use claims the key with a pending record.
	rec, claimed := claim(a, "k", "req-1")
	require.True(t, claimed)
	require.True(t, rec.Pending())
	require.Equal(t, "req-1", rec.RequestHash)
	require.Empty(t, rec.ResponseBody)
	require.True(t, exp.Equal(rec.ExpiresAt))
	recent(t, rec.CreatedAt)
	got, err := s.IdempotencyGet(c, a, "k")
	require.NoError(t, err)
	require.Equal(t, rec, got, "a claim is visible")

	// Later uses, of the same request or not, find the claim.
	for _, hash := range []string{"req-1", "req-2"} {
		again, claimed := claim(a, "k", hash)
		require.False(t, claimed)
		require.Equal(t, rec, again)
	}
	// Another tenant's key of the same name is its own.
	_, claimed = claim(b, "k", "req-b")
	require.True(t, claimed)

	// Only the claimed request completes the claim; then it is replayed.
	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k", RequestHash: "req-2", ResponseStatus: 201, ResponseBody: []byte(`{}`), ExpiresAt: exp.Add(time.Hour)})
	require.ErrorIs(t, err, store.ErrConflict)
	done, err := s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k", RequestHash: "req-1", ResponseStatus: 201, ResponseBody: []byte(`{"id":"e"}`), ExpiresAt: exp.Add(time.Hour)})
	require.NoError(t, err)
	require.False(t, done.Pending())
	again, claimed := claim(a, "k", "req-1")
	require.False(t, claimed)
	require.Equal(t, done, again)
	_, err = s.IdempotencyPut(c, &store.IdempotencyPutParams{TenantID: a, Key: "k", RequestHash: "req-1", ResponseStatus: 500, ExpiresAt: exp})
	require.ErrorIs(t, err, store.ErrConflict, "a complete record is never overwritten")

	// Releasing drops a pending claim of the request only.
	require.NoError(t, s.IdempotencyRelease(c, a, "k", "req-1"))
	got, err = s.IdempotencyGet(c, a, "k")
	require.NoError(t, err)
	require.Equal(t, done, got, "a complete record is not released")
	_, claimed = claim(a, "r", "req-1")
	require.True(t, claimed)
	require.NoError(t, s.IdempotencyRelease(c, a, "r", "req-other"))
	_, err = s.IdempotencyGet(c, a, "r")
	require.NoError(t, err, "another request's release leaves the claim")
	require.NoError(t, s.IdempotencyRelease(c, a, "r", "req-1"))
	_, err = s.IdempotencyGet(c, a, "r")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, claimed = claim(a, "r", "req-1")
	require.True(t, claimed, "a released key can be claimed again")
	require.NoError(t, s.IdempotencyRelease(c, a, "none", "x"), "releasing nothing is not an error")

	// A lapsed claim (the server stopped while serving) is claimed anew.
	_, claimed, err = s.IdempotencyClaim(c, &store.IdempotencyClaimParams{TenantID: a, Key: "lapsed", RequestHash: "old", ExpiresAt: time.Now().Add(-time.Second)})
	require.NoError(t, err)
	require.True(t, claimed)
	rec, claimed = claim(a, "lapsed", "new")
	require.True(t, claimed)
	require.Equal(t, "new", rec.RequestHash)

	// Of simultaneous first uses of a key exactly one claims it.
	const n = 16
	var wg sync.WaitGroup
	results := make(chan bool, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, claimed, err := s.IdempotencyClaim(c, &store.IdempotencyClaimParams{TenantID: a, Key: "race", RequestHash: fmt.Sprint("req-", i), ExpiresAt: exp})
			results <- claimed
			errs <- err
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	won := 0
	for claimed := range results {
		if claimed {
			won++
		}
	}
	require.Equal(t, 1, won)

	for name, p := range map[string]*store.IdempotencyClaimParams{
		"no tenant": {Key: "x", RequestHash: "x", ExpiresAt: exp},
		"no key":    {TenantID: a, RequestHash: "x", ExpiresAt: exp},
		"no hash":   {TenantID: a, Key: "x", ExpiresAt: exp},
		"no expiry": {TenantID: a, Key: "x", RequestHash: "x"},
	} {
		_, _, err := s.IdempotencyClaim(c, p)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
}
