package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// Service is the experiment API's logic: it validates specs, keeps edits to
// drafts, and performs the user-driven transitions. The controller performs
// the others.
type Service struct {
	store    store.Store
	deployer Deployer
	// CheckPipeline, when set, reports whether a pipeline reference can be
	// resolved for the tenant (catalog or user pipeline); its error message
	// is shown on the field.
	CheckPipeline func(ctx context.Context, tenantID string, ref PipelineRef) error
	now           func() time.Time
}

// NewService returns a Service over st. deployer may be nil until the fleet
// is wired; promotion then fails with UNAVAILABLE.
func NewService(st store.Store, deployer Deployer) *Service {
	return &Service{store: st, deployer: deployer, now: time.Now}
}

// CreateParams creates a draft experiment.
type CreateParams struct {
	TenantID string
	OwnerID  string
	Name     string
	Spec     Spec
}

func (s *Service) validate(ctx context.Context, tenantID, name string, spec Spec) error {
	var fields []apierror.FieldError
	if strings.TrimSpace(name) == "" {
		fields = append(fields, apierror.FieldError{Field: "name", Message: "required"})
	} else if len(name) > 200 {
		fields = append(fields, apierror.FieldError{Field: "name", Message: "at most 200 characters"})
	}
	if err := spec.Validate(); err != nil {
		var ae *apierror.Error
		if !errors.As(err, &ae) {
			return err
		}
		fields = append(fields, ae.Fields...)
	}
	if s.CheckPipeline != nil {
		for _, v := range []struct {
			field string
			ref   PipelineRef
		}{{"spec.baseline", spec.Baseline}, {"spec.candidate", spec.Candidate}} {
			if v.ref.Name == "" {
				continue
			}
			if err := s.CheckPipeline(ctx, tenantID, v.ref); err != nil {
				fields = append(fields, apierror.FieldError{Field: v.field, Message: err.Error()})
			}
		}
	}
	if len(fields) > 0 {
		return apierror.Validation(fields...)
	}
	return nil
}

// Create validates and stores a draft experiment; its spec is stored with
// defaults filled in, so what is shown is what will run.
func (s *Service) Create(ctx context.Context, p CreateParams) (*Experiment, error) {
	if err := s.validate(ctx, p.TenantID, p.Name, p.Spec); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p.Spec.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	e, err := s.store.ExperimentCreate(ctx, &store.ExperimentCreateParams{
		TenantID: p.TenantID, OwnerID: p.OwnerID, Name: p.Name, State: string(StateDraft), Spec: raw,
	})
	if err != nil {
		return nil, fmt.Errorf("create experiment: %w", err)
	}
	return FromStore(e)
}

// Get returns one experiment of the tenant.
func (s *Service) Get(ctx context.Context, tenantID, id string) (*Experiment, error) {
	e, err := s.store.ExperimentGet(ctx, tenantID, id)
	if err != nil {
		return nil, fmt.Errorf("get experiment %s: %w", id, err)
	}
	return FromStore(e)
}

// UpdateParams edits a draft experiment at a known version.
type UpdateParams struct {
	TenantID string
	ID       string
	Version  int64
	Name     *string
	Spec     *Spec
}

// Update edits a draft. Experiments past draft are not editable (CONFLICT);
// a stale version is a store.ErrVersionConflict.
func (s *Service) Update(ctx context.Context, p UpdateParams) (*Experiment, error) {
	cur, err := s.Get(ctx, p.TenantID, p.ID)
	if err != nil {
		return nil, err
	}
	if cur.State != StateDraft {
		return nil, apierror.New(apierror.CodeConflict, "experiment %s is %s; only draft experiments can be edited", p.ID, cur.State).
			WithDetail("current_state", string(cur.State))
	}
	name, spec := cur.Name, cur.Spec
	if p.Name != nil {
		name = *p.Name
	}
	if p.Spec != nil {
		spec = *p.Spec
	}
	if err := s.validate(ctx, p.TenantID, name, spec); err != nil {
		return nil, err
	}
	up := &store.ExperimentUpdateParams{TenantID: p.TenantID, ID: p.ID, Version: p.Version, Name: p.Name}
	if p.Spec != nil {
		raw, err := json.Marshal(p.Spec.WithDefaults())
		if err != nil {
			return nil, fmt.Errorf("encode spec: %w", err)
		}
		up.Spec = raw
	}
	e, err := s.store.ExperimentUpdate(ctx, up)
	if err != nil {
		return nil, fmt.Errorf("update experiment %s: %w", p.ID, err)
	}
	return FromStore(e)
}

// Delete removes an experiment that is not active.
func (s *Service) Delete(ctx context.Context, tenantID, id string) error {
	cur, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if cur.State.Active() {
		return apierror.New(apierror.CodeConflict, "experiment %s is %s; stop it before deleting it", id, cur.State).
			WithDetail("current_state", string(cur.State))
	}
	if err := s.store.ExperimentDelete(ctx, tenantID, id); err != nil {
		return fmt.Errorf("delete experiment %s: %w", id, err)
	}
	return nil
}

// Transition moves an experiment from its current state to `to`, checking
// the transition table, and records who did it and why.
func (s *Service) Transition(ctx context.Context, exp *Experiment, to State, actor, reason string) (*Experiment, error) {
	if !CanTransition(exp.State, to) {
		return nil, transitionConflict(exp.ID, exp.State, to)
	}
	p := &store.ExperimentTransitionParams{
		TenantID: exp.TenantID, ID: exp.ID, From: string(exp.State), To: string(to),
		Actor: actor, Reason: reason, At: s.now(),
		SetStarted: to == StateRunning,
		SetEnded:   to.Finished() && !exp.State.Finished(),
	}
	e, _, err := s.store.ExperimentTransition(ctx, p)
	if err != nil {
		var te *store.TransitionError
		if errors.As(err, &te) {
			return nil, transitionConflict(exp.ID, State(te.Current), to)
		}
		return nil, fmt.Errorf("transition experiment %s to %s: %w", exp.ID, to, err)
	}
	return FromStore(e)
}

func transitionConflict(id string, current, to State) *apierror.Error {
	return apierror.New(apierror.CodeConflict, "experiment %s cannot go from %s to %s", id, current, to).
		WithDetail("current_state", string(current)).
		WithDetail("allowed", Targets(current))
}

// Start moves a draft to deploying; the controller takes it from there.
func (s *Service) Start(ctx context.Context, tenantID, id, actor string) (*Experiment, error) {
	exp, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return s.Transition(ctx, exp, StateDeploying, actor, "started")
}

// Stop cancels an experiment that has not finished; its pipelines are taken
// off the agents.
func (s *Service) Stop(ctx context.Context, tenantID, id, actor, reason string) (*Experiment, error) {
	exp, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "stopped"
	}
	out, err := s.Transition(ctx, exp, StateCancelled, actor, reason)
	if err != nil {
		return nil, err
	}
	if s.deployer != nil && exp.State != StateDraft {
		if err := s.deployer.Teardown(ctx, out); err != nil {
			return out, fmt.Errorf("remove pipelines of experiment %s: %w", id, err)
		}
	}
	return out, nil
}

// Promote makes the candidate of a completed experiment the target group's
// deployment. A verdict other than promote needs force.
func (s *Service) Promote(ctx context.Context, tenantID, id, actor string, force bool) (*Experiment, error) {
	exp, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if s.deployer == nil {
		return nil, apierror.New(apierror.CodeUnavailable, "promotion needs the fleet, which is not running")
	}
	if exp.State == StateCompleted && exp.Verdict() != VerdictPromote && !force {
		return nil, apierror.New(apierror.CodeConflict, "experiment %s has verdict %q; promote with force to override it", id, exp.Verdict()).
			WithDetail("verdict", exp.Verdict())
	}
	out, err := s.Transition(ctx, exp, StatePromoted, actor, "promoted")
	if err != nil {
		return nil, err
	}
	if _, err := s.deployer.Promote(ctx, out, actor); err != nil {
		return out, fmt.Errorf("roll out candidate of experiment %s: %w", id, err)
	}
	return out, nil
}

// Rollback undoes a promotion: the target group returns to its previous
// deployment and the experiment to completed.
func (s *Service) Rollback(ctx context.Context, tenantID, id, actor string) (*Experiment, error) {
	exp, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if s.deployer == nil {
		return nil, apierror.New(apierror.CodeUnavailable, "rollback needs the fleet, which is not running")
	}
	out, err := s.Transition(ctx, exp, StateCompleted, actor, "promotion rolled back")
	if err != nil {
		return nil, err
	}
	if err := s.deployer.Unpromote(ctx, out, actor); err != nil {
		return out, fmt.Errorf("roll back promotion of experiment %s: %w", id, err)
	}
	return out, nil
}
