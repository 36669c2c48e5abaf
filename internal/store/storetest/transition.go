package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testExperimentTransition(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, Name: "e", State: "draft"})
	require.NoError(t, err)

	at := time.Date(2031, 5, 6, 7, 8, 9, 10_000, time.UTC)
	moved, ev, err := s.ExperimentTransition(c, &store.ExperimentTransitionParams{
		TenantID: a, ID: e.ID, From: "draft", To: "deploying", Actor: "alice", Reason: "start requested", At: at, SetStarted: true,
	})
	require.NoError(t, err)
	require.Equal(t, "deploying", moved.State)
	require.Equal(t, int64(2), moved.Version)
	require.True(t, at.Equal(*moved.StartedAt))
	require.True(t, at.Equal(moved.UpdatedAt))
	require.Nil(t, moved.EndedAt)
	require.Positive(t, ev.Seq)
	require.Equal(t, store.ExperimentEvent{
		Seq: ev.Seq, TenantID: a, ExperimentID: e.ID, From: "draft", To: "deploying",
		Actor: "alice", Reason: "start requested", Version: 2, At: at,
	}, *ev)

	// A lost compare-and-set names the current state and writes nothing.
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "draft", To: "deploying", Actor: "bob"})
	require.ErrorIs(t, err, store.ErrStateConflict)
	var te *store.TransitionError
	require.ErrorAs(t, err, &te)
	require.Equal(t, store.TransitionError{ID: e.ID, From: "draft", To: "deploying", Current: "deploying"}, *te)
	got, err := s.ExperimentGet(c, a, e.ID)
	require.NoError(t, err)
	require.Equal(t, moved, got)

	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: "missing", From: "draft", To: "deploying"})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotErrorIs(t, err, store.ErrStateConflict)
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, To: "running"})
	require.ErrorIs(t, err, store.ErrInvalid, "from is required")

	// A transition carries the result in the same write, and the clock
	// defaults to now.
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "deploying", To: "running", Actor: "controller"})
	require.NoError(t, err)
	_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "running", To: "analyzing", Actor: "controller"})
	require.NoError(t, err)
	verdict := json.RawMessage(`{"verdict":"promote"}`)
	done, last, err := s.ExperimentTransition(c, &store.ExperimentTransitionParams{
		TenantID: a, ID: e.ID, From: "analyzing", To: "completed", Actor: "controller", SetEnded: true, Result: verdict,
	})
	require.NoError(t, err)
	require.Equal(t, "completed", done.State)
	require.JSONEq(t, string(verdict), string(done.Result))
	require.True(t, at.Equal(*done.StartedAt), "StartedAt is kept")
	require.NotNil(t, done.EndedAt)
	recent(t, *done.EndedAt)
	recent(t, last.At)
	require.Equal(t, int64(5), done.Version)

	events, err := s.ExperimentEventList(c, a, e.ID)
	require.NoError(t, err)
	require.Len(t, events, 4)
	var path []string
	for i, ev := range events {
		path = append(path, ev.From+">"+ev.To)
		require.Equal(t, int64(i+2), ev.Version)
		if i > 0 {
			require.Greater(t, ev.Seq, events[i-1].Seq)
		}
	}
	require.Equal(t, []string{"draft>deploying", "deploying>running", "running>analyzing", "analyzing>completed"}, path)
	require.Equal(t, last, events[3])

	// Optimistic writes see transitions as changes.
	_, err = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 1, Name: ptr("x")})
	require.ErrorIs(t, err, store.ErrVersionConflict)

	// The controller's work list spans tenants and holds active states only.
	want := map[string]string{}
	for i, state := range []string{"draft", "deploying", "running", "analyzing", "completed", "cancelled", "failed", "promoted"} {
		for _, tenant := range []string{a, b} {
			x, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: tenant, Name: fmt.Sprint("x", i), State: "draft"})
			require.NoError(t, err)
			if state != "draft" {
				_, _, err = s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: tenant, ID: x.ID, From: "draft", To: state})
				require.NoError(t, err)
			}
			switch state {
			case "deploying", "running", "analyzing":
				want[tenant+"/"+x.ID] = state
			}
		}
	}
	active, err := s.ExperimentListActive(c)
	require.NoError(t, err)
	gotActive := map[string]string{}
	for i, x := range active {
		gotActive[x.TenantID+"/"+x.ID] = x.State
		if i > 0 {
			require.False(t, x.CreatedAt.Before(active[i-1].CreatedAt), "oldest first")
		}
	}
	require.Equal(t, want, gotActive)
	require.ElementsMatch(t, store.ActiveStates, []string{"deploying", "running", "analyzing"})
}

func testConcurrency(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, _ := twoTenants(t, s)
	const racers = 16

	t.Run("transition", func(t *testing.T) {
		for round := range 3 {
			e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, Name: fmt.Sprint("race", round), State: "draft"})
			require.NoError(t, err)

			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, racers)
			for i := range racers {
				wg.Go(func() {
					<-start
					_, _, errs[i] = s.ExperimentTransition(c, &store.ExperimentTransitionParams{
						TenantID: a, ID: e.ID, From: "draft", To: "deploying", Actor: fmt.Sprint("racer-", i),
					})
				})
			}
			close(start)
			wg.Wait()

			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
					continue
				}
				var te *store.TransitionError
				require.True(t, errors.As(err, &te), "unexpected error: %v", err)
				require.Equal(t, "deploying", te.Current)
			}
			require.Equal(t, 1, wins, "exactly one racer wins")
			events, err := s.ExperimentEventList(c, a, e.ID)
			require.NoError(t, err)
			require.Len(t, events, 1, "exactly one event is recorded")
			got, err := s.ExperimentGet(c, a, e.ID)
			require.NoError(t, err)
			require.Equal(t, int64(2), got.Version)
			require.Equal(t, events[0].Actor, fmt.Sprint("racer-", indexOfNil(errs)))
		}
	})

	t.Run("update", func(t *testing.T) {
		e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, Name: "edit", State: "draft"})
		require.NoError(t, err)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, racers)
		for i := range racers {
			wg.Go(func() {
				<-start
				_, errs[i] = s.ExperimentUpdate(c, &store.ExperimentUpdateParams{TenantID: a, ID: e.ID, Version: 1, Name: ptr(fmt.Sprint("by-", i))})
			})
		}
		close(start)
		wg.Wait()
		winner := indexOfNil(errs)
		require.GreaterOrEqual(t, winner, 0)
		for i, err := range errs {
			if i != winner {
				require.ErrorIs(t, err, store.ErrVersionConflict)
			}
		}
		got, err := s.ExperimentGet(c, a, e.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), got.Version)
		require.Equal(t, fmt.Sprint("by-", winner), got.Name)
	})

	t.Run("mixed writers and readers", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8*20)
		for w := range 8 {
			wg.Go(func() {
				for i := range 20 {
					var err error
					if i%2 == 0 {
						_, err = s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, OwnerID: fmt.Sprint("w", w), Name: "load", State: "draft"})
					} else {
						_, err = s.ExperimentList(c, &store.ExperimentListParams{TenantID: a, OwnerID: fmt.Sprint("w", w), Limit: 5})
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "concurrent writes never fail with a busy database")
		}
		page, err := s.ExperimentList(c, &store.ExperimentListParams{TenantID: a, NamePrefix: "load", Limit: store.MaxPageLimit})
		require.NoError(t, err)
		require.Len(t, page.Items, 8*10)
	})
}

// indexOfNil returns the index of the only nil error, or -1 unless exactly one
// is nil.
func indexOfNil(errs []error) int {
	idx := -1
	for i, err := range errs {
		if err == nil {
			if idx >= 0 {
				return -1
			}
			idx = i
		}
	}
	return idx
}
