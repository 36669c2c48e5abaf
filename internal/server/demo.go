package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/loadsim"
	"github.com/phoenix/platform/internal/store"
)

// Names and defaults of the `phoenix dev --demo` run.
const (
	// DemoExperimentPrefix starts the name of every demo experiment.
	DemoExperimentPrefix = "demo: "
	// DemoKeyName names the viewer API key the demo prints for watching;
	// each start revokes the previous one, since only hashes are kept.
	DemoKeyName = "phoenix-dev-demo"
	// DemoProfile is the load the demo runs.
	DemoProfile = "realistic"
	// DemoDuration is how long the demo experiment collects.
	DemoDuration = 4 * time.Minute
)

// demoActor is the actor of what the demo does.
const demoActor = "phoenix-dev-demo"

// Demo is what RunDemo started: the load, the experiment and a key to
// watch it with.
type Demo struct {
	// Sim is the realistic load; Stop it when done.
	Sim *loadsim.Simulator
	// Experiment is the demo experiment, new or resumed.
	Experiment *experiment.Experiment
	// Resumed is true when an earlier start's experiment is still active.
	Resumed bool
	// Key is a viewer API key for watching the experiment.
	Key string
}

// RunDemo starts the realistic load on this host and an experiment of
// process-baseline-v1 against process-topk-v1 on it, once the local agent
// has connected. An active demo experiment of an earlier start is resumed
// instead of creating another. The load stops when ctx is done or Stop is
// called on it.
func (d *Dev) RunDemo(ctx context.Context) (*Demo, error) {
	tenantID, err := bootstrapTenant(ctx, d.Store())
	if err != nil {
		return nil, err
	}
	cfg, err := loadsim.NewConfig(DemoProfile)
	if err != nil {
		return nil, fmt.Errorf("demo load: %w", err)
	}
	sim, err := loadsim.Start(ctx, cfg, loadsim.Settings{
		Logger: d.Logger().With(slog.String("role", "loadsim")), Registerer: d.Registry(),
	})
	if err != nil {
		return nil, fmt.Errorf("start the demo load: %w", err)
	}
	demo := &Demo{Sim: sim}
	fail := func(err error) (*Demo, error) {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, sim.Stop(sctx))
	}

	if demo.Key, err = demoKey(ctx, d.Store(), tenantID); err != nil {
		return fail(err)
	}
	page, err := d.Store().ExperimentList(ctx, &store.ExperimentListParams{
		TenantID: tenantID, NamePrefix: DemoExperimentPrefix,
		States: []string{string(experiment.StateDraft), string(experiment.StateDeploying), string(experiment.StateRunning), string(experiment.StateAnalyzing)},
		Limit:  1,
	})
	if err != nil {
		return fail(fmt.Errorf("find an active demo experiment: %w", err))
	}
	if len(page.Items) > 0 {
		exp, err := experiment.FromStore(page.Items[0])
		if err != nil {
			return fail(err)
		}
		demo.Experiment, demo.Resumed = exp, true
		if exp.State == experiment.StateDraft {
			if demo.Experiment, err = d.svc.Start(ctx, tenantID, exp.ID, demoActor); err != nil {
				return fail(fmt.Errorf("start demo experiment: %w", err))
			}
		}
		return demo, nil
	}

	exp, err := d.svc.Create(ctx, experiment.CreateParams{
		TenantID: tenantID, OwnerID: demoActor,
		Name: DemoExperimentPrefix + "top-k vs baseline on " + d.agentHost,
		Spec: experiment.Spec{
			Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
			Candidate: experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 20}},
			Target:    experiment.Target{Hosts: []string{d.agentHost}},
			Duration:  experiment.Duration(DemoDuration),
		},
	})
	if err != nil {
		return fail(fmt.Errorf("create demo experiment: %w", err))
	}
	if demo.Experiment, err = d.svc.Start(ctx, tenantID, exp.ID, demoActor); err != nil {
		return fail(fmt.Errorf("start demo experiment: %w", err))
	}
	return demo, nil
}

// PrintDemo tells where to watch the demo.
func (d *Dev) PrintDemo(w io.Writer, demo *Demo) {
	st := demo.Sim.Config()
	verb := "started"
	if demo.Resumed {
		verb = "resumed"
	}
	fmt.Fprintf(w, "  Demo: the %s load (%d processes) runs on this host, and experiment %q %s:\n", st.Profile, st.Processes, demo.Experiment.Name, verb)
	fmt.Fprintf(w, "  process-baseline-v1 against process-topk-v1 (k=20) for %s, then a verdict.\n", demo.Experiment.Spec.Duration.Std())
	fmt.Fprintf(w, "  Watch it:\n")
	fmt.Fprintf(w, "      export PHOENIX_SERVER=http://%s PHOENIX_API_KEY=%s\n", d.Addr(), demo.Key)
	fmt.Fprintf(w, "      phoenix experiment watch %s\n", demo.Experiment.ID)
	fmt.Fprintf(w, "  or GET http://%s/api/v1/experiments/%s/analysis; the fleet table: phoenix pipeline status\n\n", d.Addr(), demo.Experiment.ID)
}

// bootstrapTenant returns the ID of the tenant `phoenix dev` runs in.
func bootstrapTenant(ctx context.Context, st store.Store) (string, error) {
	tenants, err := st.TenantList(ctx)
	if err != nil {
		return "", fmt.Errorf("find the bootstrap tenant: %w", err)
	}
	for _, t := range tenants {
		if t.Name == auth.BootstrapTenant {
			return t.ID, nil
		}
	}
	return "", errors.New("phoenix dev needs the bootstrap tenant \"default\"; use a fresh data_dir")
}

// demoKey revokes the demo keys of earlier starts and returns a new viewer
// key.
func demoKey(ctx context.Context, st store.Store, tenantID string) (string, error) {
	keys, err := st.APIKeyList(ctx, tenantID)
	if err != nil {
		return "", fmt.Errorf("list API keys: %w", err)
	}
	for _, k := range keys {
		if k.Name == DemoKeyName && k.RevokedAt == nil {
			if _, err := st.APIKeyRevoke(ctx, tenantID, k.ID); err != nil {
				return "", fmt.Errorf("revoke old demo key: %w", err)
			}
		}
	}
	secret, _, err := auth.CreateAPIKey(ctx, st, tenantID, DemoKeyName, "viewer", demoActor, nil)
	if err != nil {
		return "", fmt.Errorf("create demo key: %w", err)
	}
	return secret, nil
}
