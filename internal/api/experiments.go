package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
)

// Experiment is the API form of an experiment.
type Experiment struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	State     string          `json:"state"`
	OwnerID   string          `json:"owner_id,omitempty"`
	Spec      experiment.Spec `json:"spec"`
	Verdict   string          `json:"verdict,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	StartedAt *time.Time      `json:"started_at,omitempty"`
	EndedAt   *time.Time      `json:"ended_at,omitempty"`
}

// ExperimentList is a page of experiments.
type ExperimentList struct {
	Items      []Experiment `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// ExperimentCreate is the body of POST /api/v1/experiments.
type ExperimentCreate struct {
	Name string          `json:"name"`
	Spec experiment.Spec `json:"spec"`
}

// ExperimentUpdate is the body of PATCH /api/v1/experiments/{id}. Version
// (or an If-Match header) must name the version that was read.
type ExperimentUpdate struct {
	Version int64            `json:"version,omitempty"`
	Name    *string          `json:"name,omitempty"`
	Spec    *experiment.Spec `json:"spec,omitempty"`
}

// ExperimentAction is the optional body of experiment actions.
type ExperimentAction struct {
	Reason string `json:"reason,omitempty"`
	// Force promotes a candidate whose verdict is not promote.
	Force bool `json:"force,omitempty"`
}

// ExperimentEvent is one recorded transition.
type ExperimentEvent struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// ExperimentEvents lists an experiment's transitions, oldest first.
type ExperimentEvents struct {
	Items []ExperimentEvent `json:"items"`
}

func experimentOut(e *experiment.Experiment) Experiment {
	return Experiment{
		ID: e.ID, Name: e.Name, State: string(e.State), OwnerID: e.OwnerID, Spec: e.Spec,
		Verdict: e.Verdict(), Result: e.Result, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, StartedAt: e.StartedAt, EndedAt: e.EndedAt,
	}
}

func (a *API) experimentRoutes() []*route {
	const res = "experiments"
	return []*route{
		{Method: "POST", Path: "/api/v1/experiments", Summary: "Create a draft experiment", Tag: res, Resource: res, Action: "write",
			Request: ExperimentCreate{}, Response: Experiment{}, Status: http.StatusCreated, Idempotent: true, Atomic: true, Handle: a.experimentCreate},
		{Method: "GET", Path: "/api/v1/experiments", Summary: "List experiments, newest first", Tag: res, Resource: res, Action: "read",
			Response: ExperimentList{}, Query: []string{"state", "owner", "name_prefix", "cursor", "limit"}, Handle: a.experimentList},
		{Method: "GET", Path: "/api/v1/experiments/{id}", Summary: "Get an experiment", Tag: res, Resource: res, Action: "read",
			Response: Experiment{}, Handle: a.experimentGet},
		{Method: "PATCH", Path: "/api/v1/experiments/{id}", Summary: "Edit a draft experiment (If-Match or version required)", Tag: res, Resource: res, Action: "write",
			Request: ExperimentUpdate{}, Response: Experiment{}, Handle: a.experimentUpdate},
		{Method: "DELETE", Path: "/api/v1/experiments/{id}", Summary: "Delete an experiment that is not active", Tag: res, Resource: res, Action: "write",
			Status: http.StatusNoContent, Handle: a.experimentDelete},
		{Method: "POST", Path: "/api/v1/experiments/{id}/start", Summary: "Start a draft experiment", Tag: res, Resource: res, Action: "write",
			Request: ExperimentAction{}, Response: Experiment{}, Handle: a.experimentAction("start")},
		{Method: "POST", Path: "/api/v1/experiments/{id}/stop", Summary: "Cancel an experiment and remove its pipelines", Tag: res, Resource: res, Action: "write",
			Request: ExperimentAction{}, Response: Experiment{}, Handle: a.experimentAction("stop")},
		{Method: "POST", Path: "/api/v1/experiments/{id}/promote", Summary: "Roll the candidate out as the target group's deployment", Tag: res, Resource: res, Action: "write",
			Request: ExperimentAction{}, Response: Experiment{}, Handle: a.experimentAction("promote")},
		{Method: "POST", Path: "/api/v1/experiments/{id}/rollback", Summary: "Roll a promotion back", Tag: res, Resource: res, Action: "write",
			Request: ExperimentAction{}, Response: Experiment{}, Handle: a.experimentAction("rollback")},
		{Method: "GET", Path: "/api/v1/experiments/{id}/events", Summary: "List an experiment's transitions", Tag: res, Resource: res, Action: "read",
			Response: ExperimentEvents{}, Handle: a.experimentEvents},
		{Method: "GET", Path: "/api/v1/experiments/{id}/analysis", Summary: "Get the analysis (interim while running)", Tag: res, Resource: res, Action: "read",
			Response: json.RawMessage{}, Handle: a.experimentAnalysis},
	}
}

func (a *API) experimentCreate(c *call) (any, error) {
	var in ExperimentCreate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	e, err := a.deps.Experiments.Create(c.r.Context(), experiment.CreateParams{
		TenantID: c.tenant(), OwnerID: c.actor(), Name: in.Name, Spec: in.Spec,
	})
	if err != nil {
		return nil, err
	}
	a.audit(c, "experiment.create", "experiment", e.ID, nil)
	setETag(c.w, e.Version)
	c.w.Header().Set("Location", "/api/v1/experiments/"+e.ID)
	return experimentOut(e), nil
}

func (a *API) experimentList(c *call) (any, error) {
	q := c.r.URL.Query()
	limit, err := c.limit()
	if err != nil {
		return nil, err
	}
	p := &store.ExperimentListParams{
		TenantID: c.tenant(), OwnerID: q.Get("owner"), NamePrefix: q.Get("name_prefix"),
		Cursor: q.Get("cursor"), Limit: limit,
	}
	for _, s := range q["state"] {
		for _, part := range strings.Split(s, ",") {
			st, err := experiment.ParseState(strings.TrimSpace(part))
			if err != nil {
				return nil, apierror.Validation(apierror.FieldError{Field: "state", Message: err.Error()})
			}
			p.States = append(p.States, string(st))
		}
	}
	page, err := a.deps.Store.ExperimentList(c.r.Context(), p)
	if err != nil {
		return nil, err
	}
	out := experimentListJSON{Items: make([]experimentJSON, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, se := range page.Items {
		e, err := storedExperimentOut(se)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, e)
	}
	return out, nil
}

// experimentGet serves the stored experiment as it is, as the list does:
// reading one needs none of the service's rules.
func (a *API) experimentGet(c *call) (any, error) {
	id := c.r.PathValue("id")
	se, err := a.deps.Store.ExperimentGet(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(fmt.Errorf("get experiment %s: %w", id, err), "experiment", id)
	}
	e, err := storedExperimentOut(se)
	if err != nil {
		return nil, err
	}
	setETag(c.w, e.Version)
	return e, nil
}

func (a *API) getExperiment(c *call) (*experiment.Experiment, error) {
	id := c.r.PathValue("id")
	e, err := a.deps.Experiments.Get(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "experiment", id)
	}
	return e, nil
}

func (a *API) experimentUpdate(c *call) (any, error) {
	var in ExperimentUpdate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	version, err := c.ifMatch()
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = in.Version
	} else if in.Version != 0 && in.Version != version {
		return nil, apierror.Validation(apierror.FieldError{Field: "version", Message: "differs from If-Match"})
	}
	if version == 0 {
		return nil, &apierror.Error{Code: apierror.CodePrecondition, Status: http.StatusPreconditionRequired,
			Message: "send the version you read, as If-Match or in the body, so concurrent edits are not lost"}
	}
	id := c.r.PathValue("id")
	e, err := a.deps.Experiments.Update(c.r.Context(), experiment.UpdateParams{
		TenantID: c.tenant(), ID: id, Version: version, Name: in.Name, Spec: in.Spec,
	})
	if err != nil {
		return nil, notFoundAs(err, "experiment", id)
	}
	a.audit(c, "experiment.update", "experiment", e.ID, nil)
	setETag(c.w, e.Version)
	return experimentOut(e), nil
}

func (a *API) experimentDelete(c *call) (any, error) {
	id := c.r.PathValue("id")
	if err := a.deps.Experiments.Delete(c.r.Context(), c.tenant(), id); err != nil {
		return nil, notFoundAs(err, "experiment", id)
	}
	a.audit(c, "experiment.delete", "experiment", id, nil)
	return nil, nil
}

func (a *API) experimentAction(action string) func(c *call) (any, error) {
	return func(c *call) (any, error) {
		var in ExperimentAction
		if c.r.ContentLength != 0 {
			if err := c.decode(&in); err != nil {
				return nil, err
			}
		}
		id := c.r.PathValue("id")
		ctx, svc := c.r.Context(), a.deps.Experiments
		var e *experiment.Experiment
		var err error
		switch action {
		case "start":
			e, err = svc.Start(ctx, c.tenant(), id, c.actor())
		case "stop":
			e, err = svc.Stop(ctx, c.tenant(), id, c.actor(), in.Reason)
		case "promote":
			e, err = svc.Promote(ctx, c.tenant(), id, c.actor(), in.Force)
		case "rollback":
			e, err = svc.Rollback(ctx, c.tenant(), id, c.actor())
		}
		if err != nil {
			return nil, notFoundAs(err, "experiment", id)
		}
		a.audit(c, "experiment."+action, "experiment", id, map[string]any{"state": e.State})
		setETag(c.w, e.Version)
		return experimentOut(e), nil
	}
}

func (a *API) experimentEvents(c *call) (any, error) {
	id := c.r.PathValue("id")
	evs, err := a.deps.Store.ExperimentEventList(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "experiment", id)
	}
	out := ExperimentEvents{Items: make([]ExperimentEvent, 0, len(evs))}
	for _, e := range evs {
		out.Items = append(out.Items, ExperimentEvent{From: e.From, To: e.To, Actor: e.Actor, Reason: e.Reason, At: e.At})
	}
	return out, nil
}

func (a *API) experimentAnalysis(c *call) (any, error) {
	e, err := a.getExperiment(c)
	if err != nil {
		return nil, err
	}
	if a.deps.Analysis != nil && e.State == experiment.StateRunning {
		return a.deps.Analysis(c.r.Context(), e)
	}
	if len(e.Result) == 0 {
		return nil, apierror.New(apierror.CodeNotFound, "experiment %s has no analysis yet (state %s)", e.ID, e.State)
	}
	return e.Result, nil
}
