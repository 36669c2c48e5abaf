package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

// done reports whether ctx is done within a short wait.
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func testLeader(t *testing.T, newStore NewStore, cfg config) {
	s := newStore(t)
	c := ctx(t)

	lead, release, ok, err := s.LeaderTry(c, "controller")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, lead.Err())

	for range 2 {
		_, _, ok2, err := s.LeaderTry(c, "controller")
		require.NoError(t, err)
		require.False(t, ok2, "a second contender fails while the first leads")
	}

	otherCtx, otherRelease, ok, err := s.LeaderTry(c, "another-role")
	require.NoError(t, err)
	require.True(t, ok, "names are independent")

	release()
	require.True(t, done(lead), "release ends the leader context")
	release() // idempotent

	lead2, release2, ok, err := s.LeaderTry(c, "controller")
	require.NoError(t, err)
	require.True(t, ok, "a contender succeeds after release")

	// Leadership ends with the caller's context.
	parent, cancel := context.WithCancel(c)
	lead3, release3, ok, err := s.LeaderTry(parent, "scoped")
	require.NoError(t, err)
	require.True(t, ok)
	defer release3()
	cancel()
	require.True(t, done(lead3))
	require.Eventually(t, func() bool {
		lctx, rel, ok, err := s.LeaderTry(c, "scoped")
		if err != nil || !ok {
			return false
		}
		rel()
		return lctx != nil
	}, 5*time.Second, 10*time.Millisecond, "a cancelled leader's lock is released")

	_, _, _, err = s.LeaderTry(c, "")
	require.Error(t, err)

	// A second store on the same database is a second contender.
	if cfg.reopen != nil {
		s2, err := cfg.reopen(t, s)
		require.NoError(t, err)
		_, _, ok, err := s2.LeaderTry(c, "controller")
		require.NoError(t, err)
		require.False(t, ok, "another store on the same database does not lead while the first does")
		release2()
		require.True(t, done(lead2))
		_, rel, ok, err := s2.LeaderTry(c, "controller")
		require.NoError(t, err)
		require.True(t, ok)
		rel()
		require.NoError(t, s2.Close())
	}
	release2()

	// Closing the store ends every leadership it holds.
	require.NoError(t, s.Close())
	require.True(t, done(otherCtx), "Close ends leadership")
	otherRelease()
}

func testMigration(t *testing.T, newStore NewStore, cfg config) {
	if cfg.reopen == nil || cfg.setSchemaVersion == nil {
		t.Skip("the driver gave no WithReopen and WithSchemaVersion hooks")
	}
	s := newStore(t)
	c := ctx(t)

	v, err := s.SchemaVersion(c)
	require.NoError(t, err)
	require.Positive(t, v)
	a, _ := twoTenants(t, s)
	e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{TenantID: a, Name: "survivor", State: "draft"})
	require.NoError(t, err)
	moved, _, err := s.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "draft", To: "deploying"})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Reopening runs the migrations again: nothing changes, nothing is lost.
	cur := s
	for i := range 2 {
		next, err := cfg.reopen(t, cur)
		require.NoError(t, err, "reopen %d", i)
		v2, err := next.SchemaVersion(c)
		require.NoError(t, err)
		require.Equal(t, v, v2)
		got, err := next.ExperimentGet(c, a, e.ID)
		require.NoError(t, err)
		require.Equal(t, moved, got)
		events, err := next.ExperimentEventList(c, a, e.ID)
		require.NoError(t, err)
		require.Len(t, events, 1, "restarts never repeat a transition")
		_, _, err = next.ExperimentTransition(c, &store.ExperimentTransitionParams{TenantID: a, ID: e.ID, From: "draft", To: "deploying"})
		require.ErrorIs(t, err, store.ErrStateConflict)
		require.NoError(t, next.Close())
		cur = next
	}

	// A database migrated by a newer binary is refused, naming both versions.
	cfg.setSchemaVersion(t, cur, v+1)
	bad, err := cfg.reopen(t, cur)
	require.ErrorIs(t, err, store.ErrSchemaTooNew)
	require.Nil(t, bad)
	var sve *store.SchemaVersionError
	require.ErrorAs(t, err, &sve)
	require.Equal(t, store.SchemaVersionError{Database: v + 1, Binary: v}, *sve)
	require.Contains(t, err.Error(), fmt.Sprint(v+1))
	require.Contains(t, err.Error(), fmt.Sprint(v))
}
