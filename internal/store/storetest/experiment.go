package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testExperiment(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	spec := json.RawMessage(`{"baseline":"process-baseline-v1","candidate":"process-topk-v1","duration":"5m","hosts":["h1"]}`)
	e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, OwnerID: "alice", Name: "topk trial", State: "draft", Spec: spec})
	require.NoError(t, err)
	require.NotEmpty(t, e.ID)
	require.Equal(t, a, e.TenantID)
	require.Equal(t, "alice", e.OwnerID)
	require.Equal(t, "topk trial", e.Name)
	require.Equal(t, "draft", e.State)
	require.JSONEq(t, string(spec), string(e.Spec))
	require.Nil(t, e.Result)
	require.Equal(t, int64(1), e.Version)
	recent(t, e.CreatedAt)
	require.True(t, e.CreatedAt.Equal(e.UpdatedAt))
	require.Nil(t, e.StartedAt)
	require.Nil(t, e.EndedAt)

	got, err := s.ExperimentGet(c, a, e.ID)
	require.NoError(t, err)
	require.Equal(t, e, got)

	// Defaults and caller-chosen IDs.
	e2, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, ID: "exp-fixed", Name: "n", State: "draft"})
	require.NoError(t, err)
	require.Equal(t, "exp-fixed", e2.ID)
	require.JSONEq(t, `{}`, string(e2.Spec))
	_, err = s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, ID: "exp-fixed", Name: "n", State: "draft"})
	require.ErrorIs(t, err, store.ErrConflict)
	eb, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: b, ID: "exp-fixed", Name: "n", State: "draft"})
	require.NoError(t, err, "IDs are scoped by tenant")
	require.Equal(t, b, eb.TenantID)

	// Validation.
	for name, p := range map[string]*store.ExperimentCreateParams{
		"no tenant": {Name: "n", State: "draft"},
		"no name":   {TenantID: a, State: "draft"},
		"no state":  {TenantID: a, Name: "n"},
		"bad json":  {TenantID: a, Name: "n", State: "draft", Spec: json.RawMessage(`{"a":`)},
	} {
		_, err := s.ExperimentCreate(c, p)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
	_, err = s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: "no-such-tenant", Name: "n", State: "draft"})
	require.ErrorIs(t, err, store.ErrNotFound)

	// Update with optimistic concurrency.
	newSpec := json.RawMessage(`{"duration":"10m"}`)
	u, err := s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 1, Name: ptr("renamed"), Spec: newSpec})
	require.NoError(t, err)
	require.Equal(t, int64(2), u.Version)
	require.Equal(t, "renamed", u.Name)
	require.Equal(t, "alice", u.OwnerID, "nil fields are kept")
	require.Equal(t, "draft", u.State)
	require.JSONEq(t, string(newSpec), string(u.Spec))
	require.True(t, e.CreatedAt.Equal(u.CreatedAt))
	require.False(t, u.UpdatedAt.Before(e.UpdatedAt))

	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 1, OwnerID: ptr("bob")})
	require.ErrorIs(t, err, store.ErrVersionConflict, "stale version")
	got, err = s.ExperimentGet(c, a, e.ID)
	require.NoError(t, err)
	require.Equal(t, u, got, "a refused update writes nothing")
	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: "missing", Version: 1, OwnerID: ptr("bob")})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 0})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 2, Name: ptr("")})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Results.
	res := json.RawMessage(`{"verdict":"promote","reduction":{"value":0.62,"ci":[0.58,0.66]}}`)
	r, err := s.ExperimentSetResult(c, &store.ExperimentSetResultParams{TenantID: a, ID: e.ID, Version: 2, Result: res})
	require.NoError(t, err)
	require.JSONEq(t, string(res), string(r.Result))
	require.Equal(t, int64(3), r.Version)
	_, err = s.ExperimentSetResult(c, &store.ExperimentSetResultParams{TenantID: a, ID: e.ID, Version: 2, Result: res})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	r, err = s.ExperimentSetResult(c, &store.ExperimentSetResultParams{TenantID: a, ID: e.ID, Result: json.RawMessage(`{"verdict":"keep"}`)})
	require.NoError(t, err, "version 0 writes unconditionally")
	require.Equal(t, int64(4), r.Version)
	_, err = s.ExperimentSetResult(c, &store.ExperimentSetResultParams{TenantID: a, ID: e.ID, Result: json.RawMessage(`nope`)})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Tenant B sees none of A's experiment, through any method.
	_, err = s.ExperimentGet(c, b, e.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: b, ID: e.ID, Version: 4, Name: ptr("x")})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ExperimentSetResult(c, &store.ExperimentSetResultParams{TenantID: b, ID: e.ID, Result: res})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: b, ID: e.ID, From: "draft", To: "deploying"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ExperimentEventList(c, b, e.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.ExperimentDelete(c, b, e.ID), store.ErrNotFound)
	page, err := s.ExperimentList(c, &store.ExperimentListParams{TenantID: b})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, eb.ID, page.Items[0].ID)
	got, err = s.ExperimentGet(c, a, e.ID)
	require.NoError(t, err)
	require.Equal(t, "renamed", got.Name, "B's attempts changed nothing")

	// Delete removes the experiment and its events.
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "draft", To: "deploying"})
	require.NoError(t, err)
	require.NoError(t, s.ExperimentDelete(c, a, e.ID))
	_, err = s.ExperimentGet(c, a, e.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ExperimentEventList(c, a, e.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.ExperimentDelete(c, a, e.ID), store.ErrNotFound)
	// The same ID can be used again and starts without history.
	again, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, ID: e.ID, Name: "again", State: "draft"})
	require.NoError(t, err)
	evs, err := s.ExperimentEventList(c, a, again.ID)
	require.NoError(t, err)
	require.Empty(t, evs)
}

func testExperimentList(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	// 60 experiments over owners, states and names, plus noise in tenant B.
	states := []string{"draft", "running", "completed"}
	var all []*store.Experiment
	for i := range 60 {
		e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{
			TenantID: a,
			OwnerID:  []string{"alice", "bob"}[i%2],
			Name:     fmt.Sprintf("%s-%02d", []string{"topk", "rollup", "prio"}[i%3], i),
			State:    states[(i/2)%3],
		})
		require.NoError(t, err)
		all = append(all, e)
		_, err = s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: b, OwnerID: "alice", Name: "topk-b", State: "running"})
		require.NoError(t, err)
	}
	newestFirst := func(in []*store.Experiment, keep func(*store.Experiment) bool) []string {
		var ids []string
		for i := len(in) - 1; i >= 0; i-- {
			if keep(in[i]) {
				ids = append(ids, in[i].ID)
			}
		}
		return ids
	}
	ids := func(items []*store.Experiment) []string {
		out := make([]string, len(items))
		for i, e := range items {
			out[i] = e.ID
		}
		return out
	}
	listAll := func(p store.ExperimentListParams) []string {
		var out []string
		for {
			page, err := s.ExperimentList(c, &p)
			require.NoError(t, err)
			out = append(out, ids(page.Items)...)
			if page.NextCursor == "" {
				return out
			}
			p.Cursor = page.NextCursor
		}
	}

	// Default limit, then the rest.
	page, err := s.ExperimentList(c, &store.ExperimentListParams{TenantID: a})
	require.NoError(t, err)
	require.Len(t, page.Items, store.DefaultPageLimit)
	require.NotEmpty(t, page.NextCursor)
	require.Equal(t, all[59], page.Items[0], "full rows, newest first")
	rest, err := s.ExperimentList(c, &store.ExperimentListParams{TenantID: a, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, rest.Items, 10)
	require.Empty(t, rest.NextCursor)

	everything := newestFirst(all, func(*store.Experiment) bool { return true })
	require.Equal(t, everything, listAll(store.ExperimentListParams{TenantID: a, Limit: 7}))
	require.Equal(t, everything, listAll(store.ExperimentListParams{TenantID: a, Limit: 60}), "exact fit")
	require.Equal(t, everything, listAll(store.ExperimentListParams{TenantID: a, Limit: 10_000}), "limit is bounded, not refused")

	tests := []struct {
		name string
		p    store.ExperimentListParams
		keep func(*store.Experiment) bool
	}{
		{"one state", store.ExperimentListParams{States: []string{"running"}},
			func(e *store.Experiment) bool { return e.State == "running" }},
		{"two states", store.ExperimentListParams{States: []string{"running", "completed"}},
			func(e *store.Experiment) bool { return e.State != "draft" }},
		{"owner", store.ExperimentListParams{OwnerID: "bob"},
			func(e *store.Experiment) bool { return e.OwnerID == "bob" }},
		{"name prefix", store.ExperimentListParams{NamePrefix: "roll"},
			func(e *store.Experiment) bool { return e.Name[:4] == "roll" }},
		{"prefix is not a pattern", store.ExperimentListParams{NamePrefix: "%"},
			func(*store.Experiment) bool { return false }},
		{"prefix is case sensitive", store.ExperimentListParams{NamePrefix: "TOPK"},
			func(*store.Experiment) bool { return false }},
		{"all filters", store.ExperimentListParams{States: []string{"draft"}, OwnerID: "alice", NamePrefix: "topk"},
			func(e *store.Experiment) bool {
				return e.State == "draft" && e.OwnerID == "alice" && e.Name[:4] == "topk"
			}},
		{"unknown state", store.ExperimentListParams{States: []string{"nope"}},
			func(*store.Experiment) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.TenantID = a
			tt.p.Limit = 4
			require.Equal(t, newestFirst(all, tt.keep), listAll(tt.p))
		})
	}

	_, err = s.ExperimentList(c, &store.ExperimentListParams{TenantID: a, Cursor: "not-a-cursor"})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.ExperimentList(c, &store.ExperimentListParams{})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Paging while rows are inserted: no row repeats and none is skipped.
	seen := map[string]bool{}
	var got []string
	p := store.ExperimentListParams{TenantID: a, Limit: 9}
	for {
		page, err := s.ExperimentList(c, &p)
		require.NoError(t, err)
		for _, e := range page.Items {
			require.False(t, seen[e.ID], "experiment %s repeated", e.ID)
			seen[e.ID] = true
			got = append(got, e.ID)
		}
		for range 3 {
			_, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, Name: "late", State: "draft"})
			require.NoError(t, err)
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	require.Equal(t, everything, got)

	// Paging one row at a time over rows created close together.
	seen = map[string]bool{}
	p = store.ExperimentListParams{TenantID: a, Limit: 1, NamePrefix: "late"}
	count := 0
	for {
		page, err := s.ExperimentList(c, &p)
		require.NoError(t, err)
		for _, e := range page.Items {
			require.False(t, seen[e.ID])
			seen[e.ID] = true
			count++
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	require.Equal(t, 3*((60+8)/9), count)
}
