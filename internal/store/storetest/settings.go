package storetest

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

// pricingA and pricingB are pricing documents as the API stores them.
var (
	pricingA = json.RawMessage(`[{"name":"contract","model":"per_gb","unit_price":0.25,"free_tier":100,"free_tier_per_host":0,"currency":"EUR"}]`)
	pricingB = json.RawMessage(`[{"name":"series","model":"per_active_series","unit_price":0.006,"free_tier":0,"free_tier_per_host":0}]`)
)

func testTenantSettings(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	// None stored yet.
	_, err := s.TenantSettingsGet(c, a)
	require.ErrorIs(t, err, store.ErrNotFound)

	// The first write inserts at version 1; a read returns the same.
	ts, err := s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingA, UpdatedBy: "alice"})
	require.NoError(t, err)
	require.Equal(t, a, ts.TenantID)
	require.JSONEq(t, string(pricingA), string(ts.Pricing))
	require.Equal(t, int64(1), ts.Version)
	require.Equal(t, "alice", ts.UpdatedBy)
	recent(t, ts.UpdatedAt)
	got, err := s.TenantSettingsGet(c, a)
	require.NoError(t, err)
	require.Equal(t, ts, got)

	// An optimistic write at the current version moves to the next one.
	ts2, err := s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingB, Version: 1, UpdatedBy: "bob"})
	require.NoError(t, err)
	require.Equal(t, int64(2), ts2.Version)
	require.JSONEq(t, string(pricingB), string(ts2.Pricing))
	require.Equal(t, "bob", ts2.UpdatedBy)
	require.False(t, ts2.UpdatedAt.Before(ts.UpdatedAt))

	// A stale version is refused and writes nothing.
	_, err = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingA, Version: 1, UpdatedBy: "carol"})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	require.Contains(t, err.Error(), "current version 2")
	_, err = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingA, Version: 7})
	require.ErrorIs(t, err, store.ErrVersionConflict, "a version from the future is a mismatch too")
	got, err = s.TenantSettingsGet(c, a)
	require.NoError(t, err)
	require.Equal(t, ts2, got)

	// Version 0 writes whatever is stored.
	ts3, err := s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingA})
	require.NoError(t, err)
	require.Equal(t, int64(3), ts3.Version)
	require.Empty(t, ts3.UpdatedBy)
	require.JSONEq(t, string(pricingA), string(ts3.Pricing))

	// Tenant isolation: B sees nothing of A's, and its writes touch only its
	// own row.
	_, err = s.TenantSettingsGet(c, b)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: b, Pricing: pricingB, Version: 3})
	require.ErrorIs(t, err, store.ErrVersionConflict, "B has no settings at A's version")
	tb, err := s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: b, Pricing: pricingB, UpdatedBy: "bea"})
	require.NoError(t, err)
	require.Equal(t, b, tb.TenantID)
	require.Equal(t, int64(1), tb.Version, "versions are per tenant")
	got, err = s.TenantSettingsGet(c, a)
	require.NoError(t, err)
	require.Equal(t, ts3, got, "B's write left A's settings alone")
	got, err = s.TenantSettingsGet(c, b)
	require.NoError(t, err)
	require.Equal(t, tb, got)

	// An unknown tenant has no settings and cannot get any.
	_, err = s.TenantSettingsGet(c, "ghost")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: "ghost", Pricing: pricingA})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: "ghost", Pricing: pricingA, Version: 1})
	require.ErrorIs(t, err, store.ErrNotFound)

	// Bad params are refused before the database.
	for name, p := range map[string]*store.TenantSettingsPutParams{
		"nil":              nil,
		"no tenant":        {Pricing: pricingA},
		"no pricing":       {TenantID: a},
		"malformed JSON":   {TenantID: a, Pricing: json.RawMessage(`[{"name":`)},
		"negative version": {TenantID: a, Pricing: pricingA, Version: -1},
	} {
		_, err := s.TenantSettingsPut(c, p)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
	got, err = s.TenantSettingsGet(c, a)
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Version, "refused writes change nothing")

	// Concurrent optimistic writes at the same version: exactly one wins.
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = s.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: a, Pricing: pricingB, Version: 3})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, store.ErrVersionConflict)
	}
	require.Equal(t, 1, won)
	got, err = s.TenantSettingsGet(c, a)
	require.NoError(t, err)
	require.Equal(t, int64(4), got.Version)
}

// testTenantSettingsUpgrade opens a database at schema version 1, from
// before tenant settings existed, and checks that the next open migrates it
// without losing rows and that settings written then survive another
// restart.
func testTenantSettingsUpgrade(t *testing.T, newStore NewStore, cfg config) {
	if cfg.reopen == nil || cfg.openAtVersion == nil {
		t.Skip("the driver gave no WithReopen and WithOpenAtVersion hooks")
	}
	c := ctx(t)
	latest, err := newStore(t).SchemaVersion(c)
	require.NoError(t, err)
	require.Greater(t, latest, 1)

	old := cfg.openAtVersion(t, 1)
	v, err := old.SchemaVersion(c)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	tn, err := old.TenantCreate(c, &store.TenantCreateParams{Name: "from-v1"})
	require.NoError(t, err)
	e, err := old.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: tn.ID, Name: "old", State: "draft"})
	require.NoError(t, err)
	require.NoError(t, old.Close())

	up, err := cfg.reopen(t, old)
	require.NoError(t, err)
	v, err = up.SchemaVersion(c)
	require.NoError(t, err)
	require.Equal(t, latest, v)
	gotTenant, err := up.TenantGet(c, tn.ID)
	require.NoError(t, err)
	require.Equal(t, tn, gotTenant)
	gotExp, err := up.ExperimentGet(c, tn.ID, e.ID)
	require.NoError(t, err)
	require.Equal(t, e, gotExp)
	_, err = up.TenantSettingsGet(c, tn.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "an upgraded tenant has no settings")
	ts, err := up.TenantSettingsPut(c, &store.TenantSettingsPutParams{TenantID: tn.ID, Pricing: pricingA, UpdatedBy: "alice"})
	require.NoError(t, err)
	require.NoError(t, up.Close())

	again, err := cfg.reopen(t, up)
	require.NoError(t, err)
	v, err = again.SchemaVersion(c)
	require.NoError(t, err)
	require.Equal(t, latest, v)
	got, err := again.TenantSettingsGet(c, tn.ID)
	require.NoError(t, err)
	require.Equal(t, ts, got)
	require.NoError(t, again.Close())
}
