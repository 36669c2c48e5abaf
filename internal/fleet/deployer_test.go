package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/store"
)

func expSpec(hosts []string, selector map[string]string) experiment.Spec {
	return experiment.Spec{
		Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
		Candidate: experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 10}},
		Target:    experiment.Target{Hosts: hosts, Selector: selector},
		Duration:  experiment.Duration(5 * time.Minute),
	}
}

func TestDeployAddsExperimentPipelinesAndReportsReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(nil)
	a := e.startAgent(secret, agentOpts{host: "exp-host"})
	other := e.startAgent(secret, agentOpts{host: "other-host"})
	require.Eventually(t, func() bool { return e.appliedRow(a) && e.appliedRow(other) }, wait, tick)
	otherCount := other.receivedCount()
	dep := e.fleet().Deployer()
	ctx := context.Background()

	x := e.experiment(string(experiment.StateDeploying), expSpec([]string{"exp-host"}, nil))
	var st experiment.DeployStatus
	require.Eventually(t, func() bool {
		var err error
		st, err = dep.Deploy(ctx, x)
		require.NoError(t, err)
		return st.Ready
	}, wait, 50*time.Millisecond)
	require.Equal(t, []string{"exp-host"}, st.Hosts)
	require.Empty(t, st.Failed)
	cfg := a.lastCollector()
	require.Contains(t, cfg, "metrics/exp-"+x.ID+"-baseline")
	require.Contains(t, cfg, "metrics/exp-"+x.ID+"-candidate")
	require.Contains(t, cfg, "metrics/active")
	// The registry writes the agent's row after the state Deploy read.
	require.Eventually(t, func() bool { return e.appliedRow(a) }, wait, tick)
	require.Equal(t, otherCount, other.receivedCount(), "an agent outside the target is left alone")
	g, _ := e.live(a)
	require.Equal(t, []string{x.ID}, g.Experiments)

	// Once the experiment is over, Teardown takes the pipelines off.
	_, _, err := e.st.ExperimentTransition(ctx, &store.ExperimentTransitionParams{
		TenantID: e.tenant, ID: x.ID, From: string(experiment.StateDeploying), To: string(experiment.StateCancelled), Actor: "test",
	})
	require.NoError(t, err)
	require.NoError(t, dep.Teardown(ctx, x))
	require.Eventually(t, func() bool {
		return !strings.Contains(a.lastCollector(), "exp-"+x.ID) && e.appliedRow(a)
	}, wait, tick)
}

func TestDeployReportsFailedHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(map[string]string{"group": "canary"})
	a := e.startAgent(secret, agentOpts{host: "canary-1"})
	require.Eventually(t, func() bool { return e.appliedRow(a) }, wait, tick)
	a.failWhen(func(cfg []byte) string {
		if contains(cfg, "-candidate") {
			return "phoenix_topk: rank_by is not supported by this agent"
		}
		return ""
	})
	dep := e.fleet().Deployer()
	x := e.experiment(string(experiment.StateDeploying), expSpec(nil, map[string]string{"group": "canary"}))
	var st experiment.DeployStatus
	require.Eventually(t, func() bool {
		var err error
		st, err = dep.Deploy(context.Background(), x)
		require.NoError(t, err)
		return len(st.Failed) > 0
	}, wait, 50*time.Millisecond)
	require.False(t, st.Ready)
	require.Contains(t, st.Failed["canary-1"], "rank_by is not supported by this agent")
	// The registry writes the agent's row after the state Deploy read.
	require.Eventually(t, func() bool { return e.row(a).RemoteConfigStatus == fleet.StatusFailed }, wait, 20*time.Millisecond)
}

func TestDeployWaitsForMissingHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(nil)
	a := e.startAgent(secret, agentOpts{host: "here"})
	require.Eventually(t, func() bool { return e.appliedRow(a) }, wait, tick)
	dep := e.fleet().Deployer()
	ctx := context.Background()

	nobody := e.experiment(string(experiment.StateDeploying), expSpec([]string{"gone"}, nil))
	st, err := dep.Deploy(ctx, nobody)
	require.NoError(t, err)
	require.False(t, st.Ready)
	require.Equal(t, "no connected agent matches hosts gone", st.Message)

	half := e.experiment(string(experiment.StateDeploying), expSpec([]string{"here", "gone"}, nil))
	require.Eventually(t, func() bool { return strings.Contains(a.lastCollector(), "exp-"+half.ID) && e.appliedRow(a) }, wait, tick,
		"the connected host gets the pipelines")
	st, err = dep.Deploy(ctx, half)
	require.NoError(t, err)
	require.False(t, st.Ready)
	require.Contains(t, st.Message, "no connected agent on host(s) gone")

	draft := e.experiment(string(experiment.StateDraft), expSpec([]string{"here"}, nil))
	st, err = dep.Deploy(ctx, draft)
	require.NoError(t, err)
	require.False(t, st.Ready)
	require.Contains(t, st.Message, "not deploying or running")

	bad := expSpec([]string{"here"}, nil)
	bad.Candidate.Name = "no-such-pipeline"
	broken := e.experiment(string(experiment.StateDeploying), bad)
	_, err = dep.Deploy(ctx, broken)
	require.ErrorIs(t, err, fleet.ErrUnknownPipeline)
}

func TestPromoteRollsOutAndUnpromoteRestores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(nil)
	a := e.startAgent(secret, agentOpts{host: "web-1"})
	require.Eventually(t, func() bool { return e.appliedRow(a) }, wait, tick)
	ctx := context.Background()
	prev := e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"host.name": "web-1"}, nil)
	e.reconcile()
	require.Eventually(t, func() bool { return strings.Contains(a.lastCollector(), "phoenix_priority/active") && e.settled(a) }, wait, tick)

	x := e.experiment(string(experiment.StatePromoted), expSpec([]string{"web-1"}, nil))
	dep := e.fleet().Deployer()
	id, err := dep.Promote(ctx, x, "key:admin")
	require.NoError(t, err)
	again, err := dep.Promote(ctx, x, "key:admin")
	require.NoError(t, err)
	require.Equal(t, id, again, "promoting twice creates one deployment")

	d := e.getDeployment(id)
	require.Equal(t, fleet.DeploymentPending, d.State)
	require.Equal(t, x.ID, d.ExperimentID)
	require.Equal(t, prev.ID, d.PreviousID)
	require.Equal(t, "process-topk-v1", d.PipelineRef)
	require.JSONEq(t, `{"host.name":"web-1"}`, string(d.Selector))
	require.JSONEq(t, `{"k":10}`, string(d.Params))
	require.Equal(t, "key:admin", d.CreatedBy)

	// A single host: one batch; the default 30s health gate is shortened.
	r, err := fleet.DecodeRollout(d.Rollout)
	require.NoError(t, err)
	require.Equal(t, fleet.DefaultRollout(), r)
	r.HealthGate = experiment.Duration(time.Millisecond)
	doc, _ := jsonMarshal(r)
	_, err = e.st.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{TenantID: e.tenant, ID: id, Version: d.Version, Rollout: doc})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		require.NoError(t, e.fleet().StepRollouts(ctx))
		return e.getDeployment(id).State == fleet.DeploymentActive
	}, wait, 50*time.Millisecond)
	require.Equal(t, fleet.DeploymentSuperseded, e.getDeployment(prev.ID).State)
	require.Eventually(t, func() bool { return strings.Contains(a.lastCollector(), "phoenix_topk/active") && e.settled(a) }, wait, tick)

	require.NoError(t, dep.Unpromote(ctx, x, "key:admin"))
	require.Equal(t, fleet.DeploymentRolledBack, e.getDeployment(id).State)
	require.Equal(t, fleet.DeploymentActive, e.getDeployment(prev.ID).State)
	require.Eventually(t, func() bool {
		return strings.Contains(a.lastCollector(), "phoenix_priority/active") && !strings.Contains(a.lastCollector(), "phoenix_topk") && e.settled(a)
	}, wait, tick, "the host returns to the previous pipeline")
	require.NoError(t, dep.Unpromote(ctx, x, "key:admin"), "unpromoting twice is harmless")
}
