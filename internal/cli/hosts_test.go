package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/agent"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/server"
)

// TestPipelineStatusAndGetConfigWithARealAgent runs a real agent (the
// Phoenix collector scraping this machine's processes) against the
// server and reads the fleet table and the host's configuration through
// the CLI.
func TestPipelineStatusAndGetConfigWithARealAgent(t *testing.T) {
	te := newTestEnvWith(t, func(c *server.Config) { c.CollectionInterval = time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := client.New(te.srv.Addr(), te.key)
	tok, err := c.TokenCreate(ctx, api.TokenCreate{Name: "status-test"})
	require.NoError(t, err)

	const host = "status-host-1"
	ag, err := agent.New(agent.Config{
		ServerURL: "http://" + te.srv.Addr(), Token: tok.Secret, StateDir: t.TempDir(),
		HostName: host, Labels: map[string]string{"env": "status"},
	}, agent.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})

	// The agent applies the baseline pipeline the fleet computes for it,
	// and its measurements arrive: processes, series, agent CPU and memory.
	var h api.Host
	require.Eventually(t, func() bool {
		r := te.run("pipeline", "status", "--host", host, "-o", "json")
		if r.code != 0 {
			return false
		}
		var list api.HostList
		if json.Unmarshal([]byte(r.stdout), &list) != nil || len(list.Items) != 1 {
			return false
		}
		h = list.Items[0]
		f := h.Figures
		return h.Status == "applied" && f != nil && f.InputProcesses != nil && f.OutputSeries != nil &&
			f.AgentCPUCores != nil && f.AgentMemoryBytes != nil && f.ReductionPercent != nil
	}, 60*time.Second, 500*time.Millisecond, "host never reported applied with figures")
	require.Equal(t, "process-baseline-v1", h.Pipeline)
	require.Equal(t, "status", h.Labels["env"])
	require.Greater(t, *h.Figures.InputProcesses, 1.0, "this machine runs more than one process")
	require.Greater(t, *h.Figures.OutputSeries, *h.Figures.InputProcesses)
	require.InDelta(t, 0, *h.Figures.ReductionPercent, 0.001, "the baseline keeps every series")
	require.Greater(t, *h.Figures.AgentMemoryBytes, float64(1<<20))

	r := te.run("pipeline", "status", "--selector", "env=status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "HOST")
	require.Contains(t, r.stdout, host)
	require.Contains(t, r.stdout, "applied")
	require.Contains(t, r.stdout, "0.0%")
	r = te.run("pipeline", "status", "--selector", "env=elsewhere")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No hosts with a connected agent.")

	// get-config prints exactly what the agent reports it runs.
	r = te.run("pipeline", "get-config", "--host", host)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "host_metrics")
	require.Contains(t, r.stdout, "phoenix_meter/active")
	require.Contains(t, r.stdout, host)
	r = te.run("pipeline", "get-config", "--host", host, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var hc api.HostConfig
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &hc))
	require.Equal(t, host, hc.Host)
	require.Equal(t, "process-baseline-v1", hc.Pipeline)
	require.Len(t, h.Agents, 1)
	require.Equal(t, h.Agents[0].RemoteConfigHash, hc.Hash)

	// A deployment of another pipeline changes the configuration, and the
	// agent follows it.
	r = te.run("pipeline", "deploy", "process-topk-v1", "--selector", "env=status", "--param", "k=5")
	require.Equal(t, 0, r.code, r.stderr)
	require.Eventually(t, func() bool {
		got, err := c.HostGet(ctx, host)
		return err == nil && got.Pipeline == "process-topk-v1" && got.Status == "applied"
	}, 60*time.Second, 500*time.Millisecond)
	r = te.run("pipeline", "get-config", "--host", host)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "phoenix_topk")
}
