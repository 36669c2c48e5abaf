package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
)

func jsonMarshal(v any) (json.RawMessage, error) { return json.Marshal(v) }

// fleetOf starts n agents host-0..host-<n-1> with the label fleet=r and
// waits until they run the previous deployment's pipeline.
func fleetOf(t *testing.T, e *env, n int) []*testAgent {
	secret, _ := e.token(map[string]string{"fleet": "r"})
	var agents []*testAgent
	for i := range n {
		agents = append(agents, e.startAgent(secret, agentOpts{host: fmt.Sprintf("host-%d", i)}))
	}
	require.Eventually(t, func() bool {
		for _, a := range agents {
			if !strings.Contains(a.lastCollector(), "phoenix_priority/active") || !e.settled(a) || !e.appliedRow(a) {
				return false
			}
		}
		return true
	}, wait, tick, "every agent runs the previous deployment")
	return agents
}

func rolloutOf(t *testing.T, e *env, id string) fleet.Rollout {
	r, err := fleet.DecodeRollout(e.getDeployment(id).Rollout)
	require.NoError(t, err)
	return r
}

// step drives the rollouts until cond holds.
func step(t *testing.T, e *env, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		require.NoError(t, e.fleet().StepRollouts(context.Background()))
		return cond()
	}, wait, 30*time.Millisecond, msg)
}

func TestStagedRolloutRollsBackFailedBatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthAsked := map[string]int{}
	e := newEnv(t, fleet.Config{}, fleet.Settings{Healthy: func(_ context.Context, _, host string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		healthAsked[host]++
		return true, nil
	}})
	prev := e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"fleet": "r"}, nil)
	agents := fleetOf(t, e, 6)
	agents[3].failWhen(func(cfg []byte) string {
		if contains(cfg, "phoenix_topk") {
			return "phoenix_topk: out of memory"
		}
		return ""
	})

	d := e.deployment(fleet.DeploymentPending, "process-topk-v1", map[string]string{"fleet": "r"},
		&fleet.Rollout{BatchSize: 1, Growth: 5, HealthGate: experiment.Duration(100 * time.Millisecond)})

	// Batch 1: host-0 only.
	step(t, e, func() bool {
		r := rolloutOf(t, e, d.ID)
		return r.Batch == 1 && len(r.Hosts) == 1 && r.Hosts[0].Status == fleet.StatusApplied
	}, "the first batch applies")
	require.Equal(t, fleet.DeploymentRollingOut, e.getDeployment(d.ID).State)
	require.Contains(t, agents[0].lastCollector(), "phoenix_topk/active")
	for _, a := range agents[1:] {
		require.NotContains(t, a.lastCollector(), "phoenix_topk", "hosts outside the batch keep the previous pipeline")
	}

	// Batch 2: the five others; host-3 fails.
	step(t, e, func() bool { return e.getDeployment(d.ID).State == fleet.DeploymentFailed }, "the failed batch is rolled back")
	require.Equal(t, []string{fleet.DeploymentRollingOut, fleet.DeploymentPaused, fleet.DeploymentFailed},
		slices.Compact(e.st.statesOf(d.ID)), "paused with the reason, then rolled back")
	r := rolloutOf(t, e, d.ID)
	require.Equal(t, 2, r.Batch)
	require.Contains(t, r.Reason, "host host-3")
	require.Contains(t, r.Reason, "phoenix_topk: out of memory")
	require.Equal(t, "host-3", r.Hosts[3].Host)
	require.Equal(t, fleet.StatusFailed, r.Hosts[3].Status)
	require.Equal(t, agents[3].uidString(), r.Hosts[3].Agents[0].InstanceUID)
	require.Contains(t, r.Hosts[3].Agents[0].Message, "out of memory")
	require.Len(t, r.Hosts, 6)
	require.Equal(t, "host-0", r.Hosts[0].Host)
	require.Equal(t, 1, r.Hosts[0].Batch)
	require.Equal(t, 2, r.Hosts[5].Batch)
	require.NotNil(t, r.FinishedAt)
	mu.Lock()
	require.Positive(t, healthAsked["host-0"], "the health gate asked about the first batch")
	mu.Unlock()
	require.Equal(t, fleet.DeploymentActive, e.getDeployment(prev.ID).State, "the previous deployment stays active")

	// Every host returns to the previous pipeline, host-0 and host-3 included.
	require.Eventually(t, func() bool {
		for _, a := range agents {
			cfg := a.lastCollector()
			if strings.Contains(cfg, "phoenix_topk") || !strings.Contains(cfg, "phoenix_priority/active") || !e.settled(a) {
				return false
			}
		}
		return true
	}, wait, tick, "all hosts run the previous deployment's pipeline again")
	for _, a := range agents {
		g, _ := e.live(a)
		require.Equal(t, prev.ID, g.DeploymentID)
	}
}

func TestRolloutContinuesAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	prev := e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"fleet": "r"}, nil)
	agents := fleetOf(t, e, 3)

	d := e.deployment(fleet.DeploymentPending, "process-topk-v1", map[string]string{"fleet": "r"},
		&fleet.Rollout{BatchSize: 1, Growth: 2, HealthGate: experiment.Duration(300 * time.Millisecond)})
	step(t, e, func() bool {
		r := rolloutOf(t, e, d.ID)
		return r.Batch == 1 && len(r.Hosts) == 1 && r.Hosts[0].Status == fleet.StatusApplied && r.GateSince != nil
	}, "the first batch applies")
	first := agents[0].receivedCount()

	// Restart: a new server over the same store; the agents reconnect.
	e.newFleet()
	require.Eventually(t, func() bool { return e.fleet().Summary(e.tenant).Connected == 3 }, wait, tick, "agents reconnect")

	step(t, e, func() bool { return e.getDeployment(d.ID).State == fleet.DeploymentActive }, "the rollout finishes")
	r := rolloutOf(t, e, d.ID)
	require.Equal(t, 2, r.Batch, "the new server continued with batch 2")
	require.Len(t, r.Hosts, 3)
	for i, want := range []fleet.HostRollout{
		{Host: "host-0", Batch: 1, Status: fleet.StatusApplied},
		{Host: "host-1", Batch: 2, Status: fleet.StatusApplied},
		{Host: "host-2", Batch: 2, Status: fleet.StatusApplied},
	} {
		got := r.Hosts[i]
		require.Equal(t, want, fleet.HostRollout{Host: got.Host, Batch: got.Batch, Status: got.Status})
		require.Equal(t, []fleet.AgentRollout{{InstanceUID: agents[i].uidString(), Status: fleet.StatusApplied}}, got.Agents)
	}
	require.Equal(t, []string{prev.ID}, r.Superseded)
	require.Equal(t, fleet.DeploymentSuperseded, e.getDeployment(prev.ID).State)
	require.Equal(t, first, agents[0].receivedCount(), "host-0 already ran the new pipeline: nothing was resent")
	require.Eventually(t, func() bool {
		for _, a := range agents {
			if !strings.Contains(a.lastCollector(), "phoenix_topk/active") || !e.settled(a) {
				return false
			}
		}
		return true
	}, wait, tick)

	// Rolling back restores the superseded deployment.
	_, err := e.fleet().Rollback(context.Background(), e.tenant, d.ID, "key:ops")
	require.NoError(t, err)
	require.Equal(t, fleet.DeploymentRolledBack, e.getDeployment(d.ID).State)
	require.Equal(t, fleet.DeploymentActive, e.getDeployment(prev.ID).State)
	require.Eventually(t, func() bool {
		for _, a := range agents {
			if strings.Contains(a.lastCollector(), "phoenix_topk") || !e.settled(a) {
				return false
			}
		}
		return true
	}, wait, tick)
	_, err = e.fleet().Rollback(context.Background(), e.tenant, prev.ID, "key:ops")
	require.NoError(t, err, "the restored deployment can itself be rolled back")
}

func TestRolloutWithoutAgentsActivatesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	d := e.deployment(fleet.DeploymentPending, "process-topk-v1", map[string]string{"fleet": "empty"}, nil)
	bad := e.deployment(fleet.DeploymentPending, "no-such-pipeline", map[string]string{"fleet": "empty"}, nil)
	step(t, e, func() bool {
		return e.getDeployment(d.ID).State == fleet.DeploymentActive && e.getDeployment(bad.ID).State == fleet.DeploymentFailed
	}, "an empty target activates; an unknown pipeline fails")
	require.Contains(t, rolloutOf(t, e, bad.ID).Reason, "unknown pipeline")
}

func TestRolloutBatchSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"fleet": "r"}, nil)
	fleetOf(t, e, 5)
	d := e.deployment(fleet.DeploymentPending, "process-topk-v1", map[string]string{"fleet": "r"},
		&fleet.Rollout{BatchSize: 1, Growth: 1.5, HealthGate: experiment.Duration(time.Millisecond)})
	var sizes []int
	step(t, e, func() bool {
		r := rolloutOf(t, e, d.ID)
		for len(sizes) < r.Batch {
			sizes = append(sizes, 0)
		}
		if r.Batch > 0 {
			n := 0
			for _, h := range r.Hosts {
				if h.Batch == r.Batch {
					n++
				}
			}
			sizes[r.Batch-1] = n
		}
		return e.getDeployment(d.ID).State == fleet.DeploymentActive
	}, "the rollout finishes")
	// 1, then ceil(1*1.5)=2, then ceil(2*1.5)=3 of which 2 remain.
	require.Equal(t, []int{1, 2, 2}, sizes)
}

func TestRolloutBatchTimeoutRollsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// stuck makes host-1 never report: its agent does not answer the
		// new configuration, or the health check never approves it.
		silentAgent bool
		want        []string
	}{
		{name: "agent never reports applied", silentAgent: true,
			want: []string{"batch 2 timed out after 1.1s", "1 host(s) did not report applied and healthy", "host-1 (applying: configuration sent)"}},
		{name: "host never reports healthy measurements",
			want: []string{"batch 2 timed out after 1.1s", "host-1 (applied, no healthy measurements)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := fleet.Settings{}
			if !tc.silentAgent {
				set.Healthy = func(_ context.Context, _, host string) (bool, error) { return host != "host-1", nil }
			}
			e := newEnv(t, fleet.Config{}, set)
			prev := e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"fleet": "r"}, nil)
			agents := fleetOf(t, e, 3)
			if tc.silentAgent {
				release := make(chan struct{})
				// Runs before the agents' own cleanup, which stops them.
				t.Cleanup(func() { close(release) })
				agents[1].failWhen(func(cfg []byte) string {
					if contains(cfg, "phoenix_topk") {
						<-release
					}
					return ""
				})
			}

			d := e.deployment(fleet.DeploymentPending, "process-topk-v1", map[string]string{"fleet": "r"},
				&fleet.Rollout{BatchSize: 1, Growth: 5, HealthGate: experiment.Duration(100 * time.Millisecond),
					BatchTimeout: experiment.Duration(time.Second)})
			step(t, e, func() bool { return e.getDeployment(d.ID).State == fleet.DeploymentFailed }, "the batch times out and is rolled back")
			require.Equal(t, []string{fleet.DeploymentRollingOut, fleet.DeploymentPaused, fleet.DeploymentFailed},
				slices.Compact(e.st.statesOf(d.ID)), "paused with the reason, then rolled back")

			r := rolloutOf(t, e, d.ID)
			require.Equal(t, 2, r.Batch, "batch 1 (host-0) passed; batch 2 timed out")
			for _, w := range tc.want {
				require.Contains(t, r.Reason, w)
			}
			require.NotContains(t, r.Reason, "host-2", "host-2 applied and is not named")
			require.NotContains(t, r.Reason, "host-0")
			require.Len(t, r.Hosts, 3)
			require.NotNil(t, r.BatchStartedAt)
			require.NotNil(t, r.FinishedAt)
			require.GreaterOrEqual(t, r.FinishedAt.Sub(*r.BatchStartedAt), 1100*time.Millisecond,
				"the rollout waited for the batch timeout and the health gate")
			require.Equal(t, fleet.DeploymentActive, e.getDeployment(prev.ID).State, "the previous deployment stays active")

			// The hosts that answer return to the previous pipeline.
			require.Eventually(t, func() bool {
				for _, a := range []*testAgent{agents[0], agents[2]} {
					cfg := a.lastCollector()
					if strings.Contains(cfg, "phoenix_topk") || !strings.Contains(cfg, "phoenix_priority/active") || !e.settled(a) {
						return false
					}
				}
				return true
			}, wait, tick, "hosts return to the previous deployment's pipeline")
		})
	}
}

func TestRolloutValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, fleet.Rollout{}.Validate(), "zero fields take the defaults")
	require.NoError(t, fleet.DefaultRollout().Validate())
	for _, tc := range []struct {
		name string
		r    fleet.Rollout
		want string
	}{
		{"negative batch size", fleet.Rollout{BatchSize: -1}, "batch_size: must not be negative"},
		{"growth below 1", fleet.Rollout{Growth: 0.5}, "growth: must be at least 1"},
		{"negative health gate", fleet.Rollout{HealthGate: experiment.Duration(-time.Second)}, "health_gate: must be between 0 and 1h0m0s"},
		{"health gate too long", fleet.Rollout{HealthGate: experiment.Duration(2 * time.Hour)}, "health_gate: must be between 0 and 1h0m0s"},
		{"negative batch timeout", fleet.Rollout{BatchTimeout: experiment.Duration(-time.Second)}, "batch_timeout: must be between 0 and 24h0m0s"},
		{"batch timeout too long", fleet.Rollout{BatchTimeout: experiment.Duration(25 * time.Hour)}, "batch_timeout: must be between 0 and 24h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.r.Validate(), tc.want)
		})
	}
	r := fleet.Rollout{}.WithDefaults()
	require.Equal(t, fleet.DefaultBatchTimeout, r.BatchTimeout.Std())
	require.Equal(t, 5*time.Minute, fleet.DefaultBatchTimeout)
	require.Equal(t, fleet.DefaultRollout(), r)
}
