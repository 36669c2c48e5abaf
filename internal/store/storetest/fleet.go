package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testAgent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	health := json.RawMessage(`{"healthy":true,"status":"StatusOK","components":{"pipeline:metrics":{"healthy":true}}}`)
	p := &store.AgentUpsertParams{
		TenantID: a, InstanceUID: "0190c1a2-aaaa-7bbb-8ccc-000000000001", HostName: "h1",
		Labels: map[string]string{"env": "prod", "os.type": "linux"}, AgentVersion: "0.4.0",
		Capabilities: 1<<0 | 1<<1 | 1<<12 | 1<<63, Healthy: true, Health: health,
		EffectiveConfigHash: "cfg-1", RemoteConfigHash: "rc-1", RemoteConfigStatus: "APPLIED", Connected: true,
	}
	ag, err := s.AgentUpsert(c, p)
	require.NoError(t, err)
	require.Equal(t, a, ag.TenantID)
	require.Equal(t, p.InstanceUID, ag.InstanceUID)
	require.Equal(t, "h1", ag.HostName)
	require.Equal(t, p.Labels, ag.Labels)
	require.Equal(t, "0.4.0", ag.AgentVersion)
	require.Equal(t, p.Capabilities, ag.Capabilities, "all 64 capability bits survive")
	require.True(t, ag.Healthy)
	require.JSONEq(t, string(health), string(ag.Health))
	require.Equal(t, "cfg-1", ag.EffectiveConfigHash)
	require.Equal(t, "rc-1", ag.RemoteConfigHash)
	require.Equal(t, "APPLIED", ag.RemoteConfigStatus)
	require.Empty(t, ag.RemoteConfigMessage)
	require.True(t, ag.Connected)
	recent(t, ag.LastSeenAt)
	recent(t, ag.CreatedAt)

	got, err := s.AgentGet(c, a, p.InstanceUID)
	require.NoError(t, err)
	require.Equal(t, ag, got)

	// A second upsert replaces the status and keeps CreatedAt.
	seen := time.Now().Add(time.Second).UTC().Truncate(time.Microsecond)
	p2 := *p
	p2.Labels = nil
	p2.Healthy = false
	p2.Health = nil
	p2.RemoteConfigStatus = "FAILED"
	p2.RemoteConfigMessage = "invalid processor phoenix_topk: k must be positive"
	p2.SeenAt = seen
	up, err := s.AgentUpsert(c, &p2)
	require.NoError(t, err)
	require.Nil(t, up.Labels)
	require.False(t, up.Healthy)
	require.Nil(t, up.Health)
	require.Equal(t, "FAILED", up.RemoteConfigStatus)
	require.Equal(t, p2.RemoteConfigMessage, up.RemoteConfigMessage)
	require.True(t, seen.Equal(up.LastSeenAt))
	require.True(t, ag.CreatedAt.Equal(up.CreatedAt))

	_, err = s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: a})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: "no-such-tenant", InstanceUID: "x"})
	require.ErrorIs(t, err, store.ErrNotFound)

	// The same instance UID in tenant B is a different agent.
	pb := *p
	pb.TenantID = b
	pb.HostName = "hb"
	agb, err := s.AgentUpsert(c, &pb)
	require.NoError(t, err)
	require.Equal(t, "hb", agb.HostName)
	got, err = s.AgentGet(c, a, p.InstanceUID)
	require.NoError(t, err)
	require.Equal(t, "h1", got.HostName)

	// More agents for listing.
	for i := range 5 {
		_, err := s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: a, InstanceUID: fmt.Sprint("uid-", i), HostName: fmt.Sprint("host-", i%2), Connected: i%2 == 0})
		require.NoError(t, err)
	}
	listUIDs := func(p store.AgentListParams) []string {
		var out []string
		for {
			page, err := s.AgentList(c, &p)
			require.NoError(t, err)
			for _, ag := range page.Items {
				out = append(out, ag.InstanceUID)
			}
			if page.NextCursor == "" {
				return out
			}
			p.Cursor = page.NextCursor
		}
	}
	require.Equal(t, []string{"uid-4", "uid-3", "uid-2", "uid-1", "uid-0", p.InstanceUID}, listUIDs(store.AgentListParams{TenantID: a, Limit: 2}))
	require.Equal(t, []string{"uid-4", "uid-2", "uid-0", p.InstanceUID}, listUIDs(store.AgentListParams{TenantID: a, Connected: ptr(true)}))
	require.Equal(t, []string{"uid-3", "uid-1"}, listUIDs(store.AgentListParams{TenantID: a, Connected: ptr(false)}))
	require.Equal(t, []string{"uid-3", "uid-1"}, listUIDs(store.AgentListParams{TenantID: a, HostName: "host-1"}))
	require.Equal(t, []string{p.InstanceUID}, listUIDs(store.AgentListParams{TenantID: b}))

	// Disconnects.
	dis, err := s.AgentMarkDisconnected(c, a, p.InstanceUID)
	require.NoError(t, err)
	require.False(t, dis.Connected)
	require.False(t, dis.LastSeenAt.Before(seen), "last seen never moves back")
	_, err = s.AgentMarkDisconnected(c, a, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.AgentGet(c, b, "uid-0")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.AgentMarkDisconnected(c, b, "uid-0")
	require.ErrorIs(t, err, store.ErrNotFound, "tenant B cannot disconnect A's agent")
	got, err = s.AgentGet(c, b, p.InstanceUID)
	require.NoError(t, err)
	require.True(t, got.Connected, "A's disconnect leaves B's agent alone")

	// Stale agents of every tenant are marked disconnected.
	old := time.Now().Add(-time.Hour)
	_, err = s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: a, InstanceUID: "stale-a", Connected: true, SeenAt: old})
	require.NoError(t, err)
	_, err = s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: b, InstanceUID: "stale-b", Connected: true, SeenAt: old})
	require.NoError(t, err)
	_, err = s.AgentUpsert(c, &store.AgentUpsertParams{TenantID: b, InstanceUID: "stale-gone", Connected: false, SeenAt: old})
	require.NoError(t, err)
	n, err := s.AgentMarkStale(c, time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	for _, k := range [][2]string{{a, "stale-a"}, {b, "stale-b"}} {
		got, err := s.AgentGet(c, k[0], k[1])
		require.NoError(t, err)
		require.False(t, got.Connected)
	}
	got, err = s.AgentGet(c, a, "uid-0")
	require.NoError(t, err)
	require.True(t, got.Connected, "recently seen agents stay connected")
}

func testEnrollmentToken(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	t1, err := s.EnrollmentTokenCreate(c, &store.EnrollmentTokenCreateParams{
		TenantID: a, Name: "prod hosts", Prefix: "phxe_12", Hash: "tok-1", Labels: map[string]string{"env": "prod"}, CreatedBy: "alice", ExpiresAt: &exp,
	})
	require.NoError(t, err)
	require.NotEmpty(t, t1.ID)
	require.Equal(t, a, t1.TenantID)
	require.Equal(t, "prod hosts", t1.Name)
	require.Equal(t, "phxe_12", t1.Prefix)
	require.Equal(t, "tok-1", t1.Hash)
	require.Equal(t, map[string]string{"env": "prod"}, t1.Labels)
	require.Equal(t, "alice", t1.CreatedBy)
	require.True(t, exp.Equal(*t1.ExpiresAt))
	require.Nil(t, t1.RevokedAt)
	recent(t, t1.CreatedAt)
	require.True(t, t1.Usable(time.Now()))
	require.False(t, t1.Usable(exp))

	t2, err := s.EnrollmentTokenCreate(c, &store.EnrollmentTokenCreateParams{TenantID: a, Prefix: "phxe_34", Hash: "tok-2"})
	require.NoError(t, err)
	require.Nil(t, t2.Labels)
	tb, err := s.EnrollmentTokenCreate(c, &store.EnrollmentTokenCreateParams{TenantID: b, Prefix: "phxe_56", Hash: "tok-3"})
	require.NoError(t, err)

	_, err = s.EnrollmentTokenCreate(c, &store.EnrollmentTokenCreateParams{TenantID: b, Prefix: "x", Hash: "tok-1"})
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.EnrollmentTokenCreate(c, &store.EnrollmentTokenCreateParams{TenantID: a, Prefix: "x"})
	require.ErrorIs(t, err, store.ErrInvalid)

	got, err := s.EnrollmentTokenGetByHash(c, "tok-3")
	require.NoError(t, err)
	require.Equal(t, tb, got)
	_, err = s.EnrollmentTokenGetByHash(c, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	list, err := s.EnrollmentTokenList(c, a)
	require.NoError(t, err)
	require.Equal(t, []*store.EnrollmentToken{t2, t1}, list)
	list, err = s.EnrollmentTokenList(c, b)
	require.NoError(t, err)
	require.Equal(t, []*store.EnrollmentToken{tb}, list)

	_, err = s.EnrollmentTokenRevoke(c, b, t1.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	r1, err := s.EnrollmentTokenRevoke(c, a, t1.ID)
	require.NoError(t, err)
	require.NotNil(t, r1.RevokedAt)
	require.False(t, r1.Usable(time.Now()))
	r2, err := s.EnrollmentTokenRevoke(c, a, t1.ID)
	require.NoError(t, err)
	require.True(t, r1.RevokedAt.Equal(*r2.RevokedAt))
	_, err = s.EnrollmentTokenRevoke(c, a, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
}
