package experiment_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

// fakeDeployer is a hand-written Deployer: agents become ready after
// readyAfter calls, or fail when failWith is set.
type fakeDeployer struct {
	mu         sync.Mutex
	readyAfter int
	failWith   map[string]string
	calls      map[string]int
	teardowns  map[string]int
	promoted   map[string]int
}

func newFakeDeployer(readyAfter int) *fakeDeployer {
	return &fakeDeployer{readyAfter: readyAfter, calls: map[string]int{}, teardowns: map[string]int{}, promoted: map[string]int{}}
}

func (d *fakeDeployer) Deploy(_ context.Context, e *experiment.Experiment) (experiment.DeployStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[e.ID]++
	if d.failWith != nil {
		return experiment.DeployStatus{Failed: d.failWith}, nil
	}
	return experiment.DeployStatus{Ready: d.calls[e.ID] > d.readyAfter, Hosts: e.Spec.Target.Hosts}, nil
}

func (d *fakeDeployer) Teardown(_ context.Context, e *experiment.Experiment) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.teardowns[e.ID]++
	return nil
}

func (d *fakeDeployer) Promote(_ context.Context, e *experiment.Experiment, _ string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.promoted[e.ID]++
	return "dep-" + e.ID, nil
}

func (d *fakeDeployer) Unpromote(_ context.Context, e *experiment.Experiment, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.promoted[e.ID]--
	return nil
}

// fakeAnalyzer returns a fixed verdict; decided makes interim analyses
// conclusive.
type fakeAnalyzer struct {
	verdict string
	decided bool
	err     error
}

func (a *fakeAnalyzer) Analyze(_ context.Context, e *experiment.Experiment, final bool) (*experiment.Analysis, error) {
	if a.err != nil {
		return nil, a.err
	}
	rep, _ := json.Marshal(map[string]any{"verdict": a.verdict, "final": final})
	return &experiment.Analysis{Verdict: a.verdict, Decided: a.decided, Report: rep}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.DefaultOptions(path))
	require.NoError(t, err)
	return st
}

func newTenant(t *testing.T, st store.Store) string {
	t.Helper()
	tn, err := st.TenantCreate(context.Background(), &store.TenantCreateParams{Name: "acme-" + store.NewID()})
	require.NoError(t, err)
	return tn.ID
}

func spec() experiment.Spec {
	return experiment.Spec{
		Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
		Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
		Target:    experiment.Target{Hosts: []string{"host-a"}},
		Duration:  experiment.Duration(5 * time.Minute),
	}
}

func states(t *testing.T, st store.Store, tenant, id string) []string {
	t.Helper()
	evs, err := st.ExperimentEventList(context.Background(), tenant, id)
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, e.From+">"+e.To)
	}
	return out
}

func TestControllerDrivesToCompletion(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	tenant := newTenant(t, st)
	clk := &clock{t: time.Now()}
	dep := newFakeDeployer(1)
	svc := experiment.NewService(st, dep)
	experiment.SetClock(svc, clk.Now)
	ctl := experiment.NewController(svc, dep, &fakeAnalyzer{verdict: experiment.VerdictPromote}, experiment.ControllerConfig{}, nil)

	exp, err := svc.Create(ctx, experiment.CreateParams{TenantID: tenant, Name: "topk", Spec: spec()})
	require.NoError(t, err)
	require.Equal(t, experiment.StateDraft, exp.State)
	_, err = svc.Start(ctx, tenant, exp.ID, "alice")
	require.NoError(t, err)

	require.NoError(t, ctl.Step(ctx)) // agents not ready yet
	got, _ := svc.Get(ctx, tenant, exp.ID)
	require.Equal(t, experiment.StateDeploying, got.State)
	require.NoError(t, ctl.Step(ctx))
	got, _ = svc.Get(ctx, tenant, exp.ID)
	require.Equal(t, experiment.StateRunning, got.State)
	require.NotNil(t, got.StartedAt)

	require.NoError(t, ctl.Step(ctx)) // interim analysis
	got, _ = svc.Get(ctx, tenant, exp.ID)
	require.Contains(t, string(got.Result), `"interim":true`)

	clk.Add(6 * time.Minute)
	require.NoError(t, ctl.Step(ctx))
	require.NoError(t, ctl.Step(ctx))
	got, _ = svc.Get(ctx, tenant, exp.ID)
	require.Equal(t, experiment.StateCompleted, got.State)
	require.Equal(t, experiment.VerdictPromote, got.Verdict())
	require.NotNil(t, got.EndedAt)
	require.Equal(t, 1, dep.teardowns[exp.ID])
	require.Equal(t, []string{"draft>deploying", "deploying>running", "running>analyzing", "analyzing>completed"}, states(t, st, tenant, exp.ID))

	_, err = svc.Promote(ctx, tenant, exp.ID, "alice", false)
	require.NoError(t, err)
	require.Equal(t, 1, dep.promoted[exp.ID])
	_, err = svc.Rollback(ctx, tenant, exp.ID, "alice")
	require.NoError(t, err)
	require.Equal(t, 0, dep.promoted[exp.ID])
}

func TestControllerFailsOnAgentErrors(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	tenant := newTenant(t, st)
	dep := newFakeDeployer(0)
	dep.failWith = map[string]string{"host-a": "collector refused config: processors::phoenix_topk: k must be positive"}
	svc := experiment.NewService(st, dep)
	ctl := experiment.NewController(svc, dep, &fakeAnalyzer{}, experiment.ControllerConfig{}, nil)
	exp, err := svc.Create(ctx, experiment.CreateParams{TenantID: tenant, Name: "bad", Spec: spec()})
	require.NoError(t, err)
	_, err = svc.Start(ctx, tenant, exp.ID, "alice")
	require.NoError(t, err)
	require.NoError(t, ctl.Step(ctx))
	evs, err := st.ExperimentEventList(ctx, tenant, exp.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, "failed", last.To)
	require.Contains(t, last.Reason, "host-a: collector refused config")
}

func TestInvalidTransitionsAreConflicts(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	tenant := newTenant(t, st)
	svc := experiment.NewService(st, newFakeDeployer(0))
	exp, err := svc.Create(ctx, experiment.CreateParams{TenantID: tenant, Name: "x", Spec: spec()})
	require.NoError(t, err)
	_, err = svc.Promote(ctx, tenant, exp.ID, "alice", true)
	var ae *apierror.Error
	require.True(t, errors.As(err, &ae), err)
	require.Equal(t, apierror.CodeConflict, ae.Code)
	require.Equal(t, "draft", ae.Details["current_state"])

	_, err = svc.Start(ctx, tenant, exp.ID, "alice")
	require.NoError(t, err)
	_, err = svc.Update(ctx, experiment.UpdateParams{TenantID: tenant, ID: exp.ID, Version: exp.Version + 1})
	require.True(t, errors.As(err, &ae))
	require.Equal(t, apierror.CodeConflict, ae.Code, "only drafts are editable")
}

// TestRestartBetweenEveryState reopens the store and builds a new controller
// before every step, as if the server were killed between each pair of
// states, and checks the experiment still completes with each transition
// recorded exactly once.
func TestRestartBetweenEveryState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	dep := newFakeDeployer(0)
	an := &fakeAnalyzer{verdict: experiment.VerdictReject}

	st := openStore(t, dir)
	tenant := newTenant(t, st)
	svc := experiment.NewService(st, dep)
	exp, err := svc.Create(ctx, experiment.CreateParams{TenantID: tenant, Name: "restart", Spec: spec()})
	require.NoError(t, err)
	_, err = svc.Start(ctx, tenant, exp.ID, "alice")
	require.NoError(t, err)
	require.NoError(t, st.Close())

	for i := 0; i < 8; i++ {
		st := openStore(t, dir)
		svc := experiment.NewService(st, dep)
		experiment.SetClock(svc, clk.Now)
		ctl := experiment.NewController(svc, dep, an, experiment.ControllerConfig{InterimEvery: -1}, nil)
		// Two controllers of the same generation race each step.
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = ctl.Step(ctx) }()
		}
		wg.Wait()
		clk.Add(2 * time.Minute)
		require.NoError(t, st.Close())
	}
	st = openStore(t, dir)
	defer st.Close()
	require.Equal(t, []string{"draft>deploying", "deploying>running", "running>analyzing", "analyzing>completed"}, states(t, st, tenant, exp.ID))
	got, err := st.ExperimentGet(ctx, tenant, exp.ID)
	require.NoError(t, err)
	require.Equal(t, "completed", got.State)
}

func TestSpecValidationNamesFields(t *testing.T) {
	s := experiment.Spec{Mode: "loud", CriticalProcesses: []string{"("}, Duration: experiment.Duration(time.Second)}
	err := s.Validate()
	var ae *apierror.Error
	require.True(t, errors.As(err, &ae))
	var fields []string
	for _, f := range ae.Fields {
		fields = append(fields, f.Field)
	}
	require.ElementsMatch(t, []string{"spec.baseline.name", "spec.candidate.name", "spec.target", "spec.duration", "spec.critical_processes[0]", "spec.mode"}, fields)
}

// checkingDeployer is a fakeDeployer that knows which experiments it
// promoted, as the fleet's Deployer does from its deployments.
type checkingDeployer struct{ *fakeDeployer }

func (d checkingDeployer) Promoted(_ context.Context, e *experiment.Experiment) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.promoted[e.ID] > 0, nil
}

func TestControllerFinishesAnInterruptedPromotion(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	tenant := newTenant(t, st)
	dep := checkingDeployer{newFakeDeployer(0)}
	clk := &clock{t: time.Now()}
	svc := experiment.NewService(st, dep)
	experiment.SetClock(svc, clk.Now)
	ctl := experiment.NewController(svc, dep, &fakeAnalyzer{verdict: experiment.VerdictPromote, decided: true}, experiment.ControllerConfig{}, nil)

	// Two experiments reach completed; one is promoted fully, the other
	// only recorded as promoted, as when the server stops before Promote.
	var ids []string
	for _, name := range []string{"full", "interrupted"} {
		exp, err := svc.Create(ctx, experiment.CreateParams{TenantID: tenant, Name: name, Spec: spec()})
		require.NoError(t, err)
		_, err = svc.Start(ctx, tenant, exp.ID, "alice")
		require.NoError(t, err)
		ids = append(ids, exp.ID)
	}
	for range 4 {
		require.NoError(t, ctl.Step(ctx))
		clk.Add(5 * time.Minute)
	}
	_, err := svc.Promote(ctx, tenant, ids[0], "alice", false)
	require.NoError(t, err)
	done, err := svc.Get(ctx, tenant, ids[1])
	require.NoError(t, err)
	require.Equal(t, experiment.StateCompleted, done.State)
	_, err = svc.Transition(ctx, done, experiment.StatePromoted, "alice", "promoted")
	require.NoError(t, err)
	require.Equal(t, 0, dep.promoted[ids[1]])

	require.NoError(t, ctl.FinishPromotions(ctx))
	require.Equal(t, 1, dep.promoted[ids[0]], "a finished promotion is left alone")
	require.Equal(t, 1, dep.promoted[ids[1]], "the interrupted one is promoted")
	require.NoError(t, ctl.FinishPromotions(ctx))
	require.Equal(t, 1, dep.promoted[ids[1]], "and only once")
}
