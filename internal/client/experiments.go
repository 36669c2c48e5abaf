package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
)

// ExperimentListParams filters GET /api/v1/experiments. Zero fields do not
// filter; Limit 0 is the server's default page size.
type ExperimentListParams struct {
	// States keeps experiments in any of these states.
	States []string
	// Owner keeps experiments of this owner.
	Owner string
	// NamePrefix keeps experiments whose name starts with it.
	NamePrefix string
	// Cursor continues a previous page (its NextCursor).
	Cursor string
	// Limit is the page size (1..500).
	Limit int
}

// ExperimentCreate creates a draft experiment.
func (c *Client) ExperimentCreate(ctx context.Context, in api.ExperimentCreate) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, request{method: "POST", path: "/api/v1/experiments", body: in, idempotent: true})
}

// ExperimentGet returns one experiment.
func (c *Client) ExperimentGet(ctx context.Context, id string) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, request{method: "GET", path: "/api/v1/experiments/" + pathID(id)})
}

// ExperimentList returns one page of experiments, newest first.
func (c *Client) ExperimentList(ctx context.Context, p ExperimentListParams) (*api.ExperimentList, error) {
	q := url.Values{}
	for _, s := range p.States {
		q.Add("state", s)
	}
	if p.Owner != "" {
		q.Set("owner", p.Owner)
	}
	if p.NamePrefix != "" {
		q.Set("name_prefix", p.NamePrefix)
	}
	return call[api.ExperimentList](ctx, c, request{method: "GET", path: "/api/v1/experiments", query: pageQuery(q, p.Cursor, p.Limit)})
}

// ExperimentAll yields every experiment matching p, following the pages;
// it stops at the first error, which it yields.
func (c *Client) ExperimentAll(ctx context.Context, p ExperimentListParams) iter.Seq2[api.Experiment, error] {
	return pages(func(cursor string) ([]api.Experiment, string, error) {
		p.Cursor = cursor
		page, err := c.ExperimentList(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, p.Cursor)
}

// ExperimentUpdate edits a draft experiment; in.Version must be the version
// that was read.
func (c *Client) ExperimentUpdate(ctx context.Context, id string, in api.ExperimentUpdate) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, request{method: "PATCH", path: "/api/v1/experiments/" + pathID(id), body: in})
}

// ExperimentDelete deletes an experiment that is not active.
func (c *Client) ExperimentDelete(ctx context.Context, id string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/experiments/" + pathID(id)}, nil)
}

func (c *Client) experimentAction(ctx context.Context, id, action string, in api.ExperimentAction) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, request{method: "POST", path: "/api/v1/experiments/" + pathID(id) + "/" + action, body: in})
}

// ExperimentStart starts a draft experiment: it goes to deploying and the
// controller takes it from there.
func (c *Client) ExperimentStart(ctx context.Context, id string) (*api.Experiment, error) {
	return c.experimentAction(ctx, id, "start", api.ExperimentAction{})
}

// ExperimentStop cancels an experiment and removes its pipelines; reason
// is recorded with the transition (empty: "stopped").
func (c *Client) ExperimentStop(ctx context.Context, id, reason string) (*api.Experiment, error) {
	return c.experimentAction(ctx, id, "stop", api.ExperimentAction{Reason: reason})
}

// ExperimentPromote rolls the candidate of a completed experiment out as the
// target group's deployment; force overrides a verdict other than promote.
func (c *Client) ExperimentPromote(ctx context.Context, id string, force bool) (*api.Experiment, error) {
	return c.experimentAction(ctx, id, "promote", api.ExperimentAction{Force: force})
}

// ExperimentRollback rolls a promotion back.
func (c *Client) ExperimentRollback(ctx context.Context, id string) (*api.Experiment, error) {
	return c.experimentAction(ctx, id, "rollback", api.ExperimentAction{})
}

// ExperimentEvents lists an experiment's transitions, oldest first.
func (c *Client) ExperimentEvents(ctx context.Context, id string) (*api.ExperimentEvents, error) {
	return call[api.ExperimentEvents](ctx, c, request{method: "GET", path: "/api/v1/experiments/" + pathID(id) + "/events"})
}

// Analysis is an experiment's analysis report as the server sent it.
type Analysis struct {
	analysis.Report
	// Interim is true for a report stored while the experiment ran.
	Interim bool `json:"interim,omitempty"`
	// Raw is the report's JSON exactly as received.
	Raw json.RawMessage `json:"-"`
}

// ExperimentAnalysis returns the analysis of an experiment: interim while
// it runs, final once completed. An experiment without one yet is a
// NOT_FOUND *Error.
func (c *Client) ExperimentAnalysis(ctx context.Context, id string) (*Analysis, error) {
	var raw json.RawMessage
	if err := c.do(ctx, request{method: "GET", path: "/api/v1/experiments/" + pathID(id) + "/analysis"}, &raw); err != nil {
		return nil, err
	}
	return DecodeAnalysis(raw)
}

// DecodeAnalysis decodes an analysis report, such as an experiment's
// Result.
func DecodeAnalysis(raw json.RawMessage) (*Analysis, error) {
	out := &Analysis{Raw: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, err
	}
	return out, nil
}
