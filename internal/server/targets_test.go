package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

func TestDisconnectedHostsAreThoseThatLeftMidExperiment(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "phoenix.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	tenant, err := st.TenantCreate(ctx, &store.TenantCreateParams{Name: "t"})
	require.NoError(t, err)

	started := time.Now().Add(-time.Hour).UTC()
	agent := func(uid, host string, labels map[string]string, connected bool, seen time.Time) {
		_, err := st.AgentUpsert(ctx, &store.AgentUpsertParams{TenantID: tenant.ID, InstanceUID: uid, HostName: host,
			Labels: labels, Connected: connected, SeenAt: seen})
		require.NoError(t, err)
	}
	prod := map[string]string{"env": "prod"}
	agent("a1", "web-1", prod, true, time.Now())                            // still connected
	agent("a2", "web-2", prod, false, started.Add(10*time.Minute))          // left mid-experiment
	agent("a3", "web-3", prod, false, started.Add(-10*time.Minute))         // gone before it started: missing, not disconnected
	agent("a4", "web-4", prod, false, started.Add(20*time.Minute))          // one of two agents left ...
	agent("a5", "web-4", prod, true, time.Now())                            // ... the other is still there
	agent("a6", "db-1", map[string]string{"env": "dev"}, false, time.Now()) // not a target

	exp := &experiment.Experiment{TenantID: tenant.ID, StartedAt: &started,
		Spec: experiment.Spec{Target: experiment.Target{Selector: prod}}}
	got, err := disconnectedHosts(ctx, st, exp)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "web-2", got[0].Host)
	require.WithinDuration(t, started.Add(10*time.Minute), got[0].LastSeenAt, time.Second)

	exp.Spec.Target = experiment.Target{Hosts: []string{"web-1", "db-1"}}
	got, err = disconnectedHosts(ctx, st, exp)
	require.NoError(t, err)
	require.Equal(t, []analysis.DisconnectedHost{{Host: "db-1", LastSeenAt: got[0].LastSeenAt}}, got)

	exp.StartedAt = nil
	got, err = disconnectedHosts(ctx, st, exp)
	require.NoError(t, err)
	require.Empty(t, got, "an experiment that has not started has no disconnected hosts")

	n, err := countAgents(ctx, st, tenant.ID, experiment.Target{Selector: prod})
	require.NoError(t, err)
	require.Equal(t, 5, n)
}
