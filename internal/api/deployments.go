package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/store"
)

// Rollout configures a staged rollout.
type Rollout struct {
	// BatchSize is the number of hosts of the first batch (default 1).
	BatchSize int `json:"batch_size,omitempty"`
	// Growth multiplies the batch size after each healthy batch (default 5).
	Growth float64 `json:"growth,omitempty"`
	// HealthGate is how long a batch must stay applied and producing
	// measurements before the next starts (default 30s).
	HealthGate experiment.Duration `json:"health_gate,omitempty"`
	// BatchTimeout is how long a batch may take to report applied and
	// healthy, health gate not counted, before the rollout is rolled back
	// (default 5m).
	BatchTimeout experiment.Duration `json:"batch_timeout,omitempty"`
}

// Deployment is a pipeline rolled out to the hosts a selector matches.
type Deployment struct {
	ID           string                 `json:"id"`
	Name         string                 `json:"name,omitempty"`
	Pipeline     experiment.PipelineRef `json:"pipeline"`
	Selector     map[string]string      `json:"selector"`
	State        string                 `json:"state"`
	Rollout      json.RawMessage        `json:"rollout,omitempty"`
	PreviousID   string                 `json:"previous_id,omitempty"`
	ExperimentID string                 `json:"experiment_id,omitempty"`
	CreatedBy    string                 `json:"created_by,omitempty"`
	Version      int64                  `json:"version"`
	CreatedAt    time.Time              `json:"created_at"`
	UpdatedAt    time.Time              `json:"updated_at"`
}

// DeploymentList is a page of deployments.
type DeploymentList struct {
	Items      []Deployment `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// DeploymentCreate is the body of POST /api/v1/deployments.
type DeploymentCreate struct {
	Name     string                 `json:"name,omitempty"`
	Pipeline experiment.PipelineRef `json:"pipeline"`
	Selector map[string]string      `json:"selector"`
	Rollout  Rollout                `json:"rollout,omitempty"`
}

var selectorKey = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,128}$`)

func (a *API) deploymentRoutes() []*route {
	const res = "deployments"
	return []*route{
		{Method: "POST", Path: "/api/v1/deployments", Summary: "Deploy a pipeline to the hosts a selector matches", Tag: res, Resource: res, Action: "write",
			Request: DeploymentCreate{}, Response: Deployment{}, Status: http.StatusCreated, Idempotent: true, Handle: a.deploymentCreate},
		{Method: "GET", Path: "/api/v1/deployments", Summary: "List deployments, newest first", Tag: res, Resource: res, Action: "read",
			Response: DeploymentList{}, Query: []string{"state", "pipeline", "cursor", "limit"}, Handle: a.deploymentList},
		{Method: "GET", Path: "/api/v1/deployments/{id}", Summary: "Get a deployment", Tag: res, Resource: res, Action: "read",
			Response: Deployment{}, Handle: a.deploymentGet},
		{Method: "POST", Path: "/api/v1/deployments/{id}/rollback", Summary: "Return the selector to its previous deployment", Tag: res, Resource: res, Action: "write",
			Response: Deployment{}, Handle: a.deploymentRollback},
	}
}

func deploymentOut(d *store.Deployment) (Deployment, error) {
	out := Deployment{ID: d.ID, Name: d.Name, Pipeline: experiment.PipelineRef{Name: d.PipelineRef}, State: d.State,
		Rollout: d.Rollout, PreviousID: d.PreviousID, ExperimentID: d.ExperimentID, CreatedBy: d.CreatedBy,
		Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if len(d.Params) > 0 && string(d.Params) != "null" {
		if err := json.Unmarshal(d.Params, &out.Pipeline.Params); err != nil {
			return out, fmt.Errorf("decode params of deployment %s: %w", d.ID, err)
		}
	}
	if err := json.Unmarshal(d.Selector, &out.Selector); err != nil {
		return out, fmt.Errorf("decode selector of deployment %s: %w", d.ID, err)
	}
	return out, nil
}

func (in *DeploymentCreate) validate() []apierror.FieldError {
	var errs []apierror.FieldError
	if in.Pipeline.Name == "" {
		errs = append(errs, apierror.FieldError{Field: "pipeline.name", Message: "required"})
	}
	if len(in.Selector) == 0 {
		errs = append(errs, apierror.FieldError{Field: "selector", Message: "required: at least one label, e.g. {\"host.name\": \"web-1\"}"})
	}
	for k, v := range in.Selector {
		if !selectorKey.MatchString(k) || len(v) > 256 {
			errs = append(errs, apierror.FieldError{Field: "selector." + k, Message: "label key must match " + selectorKey.String() + " and value be at most 256 characters"})
		}
	}
	r := in.Rollout
	if r.BatchSize < 0 || r.BatchSize > 100000 {
		errs = append(errs, apierror.FieldError{Field: "rollout.batch_size", Message: "must be between 1 and 100000"})
	}
	if r.Growth != 0 && (r.Growth < 1 || r.Growth > 100) {
		errs = append(errs, apierror.FieldError{Field: "rollout.growth", Message: "must be between 1 and 100"})
	}
	if r.HealthGate < 0 || r.HealthGate.Std() > time.Hour {
		errs = append(errs, apierror.FieldError{Field: "rollout.health_gate", Message: "must be between 0 and 1h"})
	}
	if r.BatchTimeout < 0 || r.BatchTimeout.Std() > fleet.MaxBatchTimeout {
		errs = append(errs, apierror.FieldError{Field: "rollout.batch_timeout", Message: "must be between 0 and " + fleet.MaxBatchTimeout.String()})
	}
	return errs
}

func (a *API) deploymentCreate(c *call) (any, error) {
	var in DeploymentCreate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	errs := in.validate()
	if in.Pipeline.Name != "" {
		if _, err := fleet.ResolvePipeline(c.r.Context(), a.deps.Store, a.deps.Catalog, c.tenant(), in.Pipeline); err != nil {
			if ae := toAPIError(err); ae.Code == apierror.CodeValidation {
				for _, f := range ae.Fields {
					errs = append(errs, apierror.FieldError{Field: "pipeline." + f.Field, Message: f.Message})
				}
			} else {
				errs = append(errs, apierror.FieldError{Field: "pipeline", Message: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return nil, apierror.Validation(errs...)
	}
	if in.Rollout.BatchSize == 0 {
		in.Rollout.BatchSize = 1
	}
	if in.Rollout.Growth == 0 {
		in.Rollout.Growth = 5
	}
	if in.Rollout.HealthGate == 0 {
		in.Rollout.HealthGate = experiment.Duration(30 * time.Second)
	}
	if in.Rollout.BatchTimeout == 0 {
		in.Rollout.BatchTimeout = experiment.Duration(fleet.DefaultBatchTimeout)
	}
	return a.createDeployment(c, in, "")
}

func (a *API) createDeployment(c *call, in DeploymentCreate, previousID string) (any, error) {
	params, _ := json.Marshal(in.Pipeline.Params)
	sel, _ := json.Marshal(in.Selector)
	rollout, _ := json.Marshal(in.Rollout)
	d, err := a.deps.Store.DeploymentCreate(c.r.Context(), &store.DeploymentCreateParams{
		TenantID: c.tenant(), Name: in.Name, PipelineRef: in.Pipeline.Name, Params: params, Selector: sel,
		State: fleet.DeploymentPending, Rollout: rollout, PreviousID: previousID, CreatedBy: c.actor(),
	})
	if err != nil {
		return nil, err
	}
	a.audit(c, "deployment.create", "deployment", d.ID, map[string]any{"pipeline": in.Pipeline.Name, "selector": in.Selector})
	a.reconcile(c)
	c.w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
	setETag(c.w, d.Version)
	return deploymentOut(d)
}

func (a *API) deploymentList(c *call) (any, error) {
	limit, err := c.limit()
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	page, err := a.deps.Store.DeploymentList(c.r.Context(), &store.DeploymentListParams{
		TenantID: c.tenant(), States: q["state"], PipelineRef: q.Get("pipeline"), Cursor: q.Get("cursor"), Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	out := DeploymentList{Items: make([]Deployment, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, d := range page.Items {
		do, err := deploymentOut(d)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, do)
	}
	return out, nil
}

func (a *API) deploymentGet(c *call) (any, error) {
	id := c.r.PathValue("id")
	d, err := a.deps.Store.DeploymentGet(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "deployment", id)
	}
	setETag(c.w, d.Version)
	return deploymentOut(d)
}

func (a *API) deploymentRollback(c *call) (any, error) {
	id := c.r.PathValue("id")
	if a.deps.Fleet == nil {
		return nil, apierror.New(apierror.CodeUnavailable, "rollback needs the fleet, which is not running")
	}
	d, err := a.deps.Fleet.Rollback(c.r.Context(), c.tenant(), id, c.actor())
	if err != nil {
		return nil, notFoundAs(err, "deployment", id)
	}
	a.audit(c, "deployment.rollback", "deployment", id, nil)
	a.reconcile(c)
	setETag(c.w, d.Version)
	return deploymentOut(d)
}

// reconcile pushes the tenant's changed configs now rather than at the
// fleet's next pass; a failure is logged, the next pass retries.
func (a *API) reconcile(c *call) {
	if a.deps.Fleet == nil {
		return
	}
	if err := a.deps.Fleet.Reconcile(c.r.Context(), c.tenant()); err != nil {
		a.log.WarnContext(c.r.Context(), "reconcile fleet", "err", err)
	}
}
