package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// Experiment is an experiment with its spec decoded.
type Experiment struct {
	ID        string
	TenantID  string
	OwnerID   string
	Name      string
	State     State
	Spec      Spec
	Result    json.RawMessage
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	StartedAt *time.Time
	EndedAt   *time.Time
}

// Verdicts of an analysis.
const (
	VerdictPromote      = "promote"
	VerdictReject       = "reject"
	VerdictInconclusive = "inconclusive"
)

// Analysis is what an Analyzer concludes at one point in time.
type Analysis struct {
	// Verdict is VerdictPromote, VerdictReject or VerdictInconclusive.
	Verdict string
	// Decided is true when the evidence is conclusive before the deadline
	// (the sequential rule allows stopping early).
	Decided bool
	// Report is the full analysis, stored on the experiment as its result.
	Report json.RawMessage
}

// DeployStatus reports how far the rollout of an experiment's pipelines got.
type DeployStatus struct {
	// Ready is true once every target agent applied the variant pipelines.
	Ready bool
	// Hosts are the hosts the experiment runs on.
	Hosts []string
	// Failed explains, per host, why an agent could not apply them; any
	// entry fails the experiment.
	Failed map[string]string
	// Message describes the progress for people.
	Message string
}

// Deployer puts experiment pipelines on agents and takes them off. Every
// method is idempotent: the controller calls them again after a restart.
// The fleet implements it.
type Deployer interface {
	// Deploy makes sure the experiment's variant pipelines are pushed to its
	// target agents and reports whether they applied them.
	Deploy(ctx context.Context, exp *Experiment) (DeployStatus, error)
	// Teardown removes the experiment's pipelines, restoring what ran before.
	Teardown(ctx context.Context, exp *Experiment) error
	// Promote rolls the candidate out as the target group's deployment and
	// returns the deployment's ID.
	Promote(ctx context.Context, exp *Experiment, actor string) (string, error)
	// Unpromote rolls back the deployment Promote created.
	Unpromote(ctx context.Context, exp *Experiment, actor string) error
}

// PromotionChecker is implemented by a Deployer that can tell whether
// Promote has run for an experiment. The promoted state is written before
// Promote creates the rollout, so a server that stops between the two
// leaves a promoted experiment without one; the controller finds those
// when it starts leading and promotes them again.
type PromotionChecker interface {
	Promoted(ctx context.Context, exp *Experiment) (bool, error)
}

// Analyzer turns an experiment's measurements into a verdict. The analysis
// work implements it. final is false for interim analyses while running.
type Analyzer interface {
	Analyze(ctx context.Context, exp *Experiment, final bool) (*Analysis, error)
}

// FromStore decodes a stored experiment.
func FromStore(e *store.Experiment) (*Experiment, error) {
	x := &Experiment{
		ID: e.ID, TenantID: e.TenantID, OwnerID: e.OwnerID, Name: e.Name,
		State: State(e.State), Result: e.Result, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, StartedAt: e.StartedAt, EndedAt: e.EndedAt,
	}
	if len(e.Spec) > 0 {
		if err := json.Unmarshal(e.Spec, &x.Spec); err != nil {
			return nil, fmt.Errorf("decode spec of experiment %s: %w", e.ID, err)
		}
	}
	return x, nil
}

// Deadline is when a running experiment stops collecting.
func (e *Experiment) Deadline() time.Time {
	if e.StartedAt == nil {
		return time.Time{}
	}
	return e.StartedAt.Add(e.Spec.WithDefaults().Duration.Std())
}

// Verdict returns the verdict stored in the result, if any.
func (e *Experiment) Verdict() string {
	var r struct {
		Verdict string `json:"verdict"`
	}
	if len(e.Result) == 0 || json.Unmarshal(e.Result, &r) != nil {
		return ""
	}
	return r.Verdict
}
