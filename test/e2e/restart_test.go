package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
)

// restartDuration is the runtime of the experiment the server restarts in
// the middle of.
const restartDuration = 90 * time.Second

// TestRestartPromoteRollback restarts the server in the middle of an
// experiment (SIGTERM, then a start on the same data directory): the
// experiment resumes and completes. Its candidate is then promoted and the
// promotion rolled back: the host returns to the pipeline it ran before.
func TestRestartPromoteRollback(t *testing.T) {
	requireSuite(t)
	t.Parallel()
	d := startDev(t, 5*time.Second)

	before := d.hostConfig(t)
	require.Equal(t, "process-baseline-v1", before.Pipeline)
	require.Empty(t, before.Experiments)

	var e api.Experiment
	d.json(t, &e, "experiment", "create", "--name", "restart topk", "--baseline", "process-baseline-v1",
		"--candidate", "process-topk-v1", "--hosts", d.host, "--duration", restartDuration.String())
	id := e.ID
	d.json(t, &e, "experiment", "start", id)

	t.Run("restart mid-experiment", func(t *testing.T) {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			e = d.experimentStatus(c, id)
			require.Equal(c, "running", e.State)
			require.NotNil(c, e.StartedAt)
			require.GreaterOrEqual(c, time.Since(*e.StartedAt), restartDuration/3, "runtime before the restart")
		}, 2*time.Minute, time.Second, "the experiment did not run")
		stopped := time.Now()
		d.stop(t)
		d.start(t)
		downtime := time.Since(stopped)

		e = d.experimentStatus(t, id)
		require.Contains(t, []string{"running", "analyzing", "completed"}, e.State, "state after the restart")
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Contains(c, d.hostStatus(c).Experiments, id, "the experiment runs on the host again")
		}, time.Minute, time.Second)

		e = d.waitExperiment(t, id, restartDuration+2*time.Minute)
		r := d.compare(t, id)
		out := kpi(t, r, analysis.KPIOutputSeries)
		t.Logf("restart: server down and back in %s, %s into a %s experiment; completed after %s of runtime: verdict %s (decided %v), %d pairs, output series reduction %.1f%% (95%% CI %.1f%% to %.1f%%), hosts missing %v",
			downtime.Round(100*time.Millisecond), restartDuration/3, restartDuration, e.EndedAt.Sub(*e.StartedAt).Round(time.Second),
			r.Verdict, r.Decided, r.Pairs, pct(out.Reduction.Estimate), pct(out.Reduction.CI.Lo), pct(out.Reduction.CI.Hi), r.Hosts.Missing)
		require.Empty(t, r.Hosts.Missing, "hosts without data")
		require.GreaterOrEqual(t, r.Pairs, 2, "paired observations")
		require.Positive(t, float64(out.Reduction.Estimate), "output series reduction")
	})
	if t.Failed() {
		return
	}

	t.Run("promote then rollback", func(t *testing.T) {
		// The completed experiment's pipelines leave the host.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			hc := d.hostConfig(c)
			require.Empty(c, hc.Experiments)
			h := d.hostStatus(c)
			require.Equal(c, "applied", h.Status)
			require.Equal(c, hc.Hash, h.Agents[0].RemoteConfigHash)
		}, time.Minute, time.Second, "the experiment's pipelines did not leave the host")
		prev := d.hostConfig(t)
		require.Equal(t, before.Pipeline, prev.Pipeline)
		require.Equal(t, before.DeploymentID, prev.DeploymentID)

		args := []string{"experiment", "promote", id}
		if e.Verdict != "promote" {
			t.Logf("verdict %s: promoting with --force", e.Verdict)
			args = append(args, "--force")
		}
		d.json(t, &e, args...)
		require.Equal(t, "promoted", e.State)
		start := time.Now()
		var promoted api.Host
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			promoted = d.hostStatus(c)
			require.Equal(c, "process-topk-v1", promoted.Pipeline)
			require.NotEmpty(c, promoted.DeploymentID)
			require.Equal(c, "applied", promoted.Status)
		}, 2*time.Minute, time.Second, "the promoted pipeline was not applied")
		hc := d.hostConfig(t)
		require.Equal(t, "process-topk-v1", hc.Pipeline)
		require.Contains(t, hc.Config, "phoenix_topk", "the host's collector config runs top-k")
		t.Logf("promote: host runs %s (deployment %s) after %s", promoted.Pipeline, promoted.DeploymentID, time.Since(start).Round(100*time.Millisecond))

		d.json(t, &e, "experiment", "rollback", id)
		start = time.Now()
		var back api.Host
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			back = d.hostStatus(c)
			require.Equal(c, prev.Pipeline, back.Pipeline)
			require.Equal(c, prev.DeploymentID, back.DeploymentID)
			require.Equal(c, "applied", back.Status)
		}, 2*time.Minute, time.Second, "the host did not return to its previous pipeline")
		after := d.hostConfig(t)
		require.Equal(t, prev.Pipeline, after.Pipeline)
		require.Equal(t, prev.DeploymentID, after.DeploymentID)
		require.Equal(t, prev.Hash, after.Hash, "the host runs the configuration it ran before the promotion")
		require.NotContains(t, after.Config, "phoenix_topk")
		var dep api.Deployment
		d.json(t, &dep, "deployment", "show", promoted.DeploymentID)
		require.Equal(t, "rolled_back", dep.State)
		t.Logf("rollback: host back on %s (config %s) after %s; experiment %s, deployment %s %s",
			after.Pipeline, after.Hash[:12], time.Since(start).Round(100*time.Millisecond), e.State, dep.ID, dep.State)
	})
}
