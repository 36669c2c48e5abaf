package client

import (
	"context"
	"iter"
	"net/url"

	"github.com/phoenix/platform/internal/api"
)

// DeploymentListParams filters GET /api/v1/deployments.
type DeploymentListParams struct {
	// States keeps deployments in any of these states.
	States []string
	// Pipeline keeps deployments of this pipeline.
	Pipeline string
	// Cursor continues a previous page.
	Cursor string
	// Limit is the page size (1..500; 0 is the server's default).
	Limit int
}

// DeploymentCreate deploys a pipeline to the hosts a selector matches.
func (c *Client) DeploymentCreate(ctx context.Context, in api.DeploymentCreate) (*api.Deployment, error) {
	return call[api.Deployment](ctx, c, request{method: "POST", path: "/api/v1/deployments", body: in, idempotent: true})
}

// DeploymentList returns one page of deployments, newest first.
func (c *Client) DeploymentList(ctx context.Context, p DeploymentListParams) (*api.DeploymentList, error) {
	q := url.Values{}
	for _, s := range p.States {
		q.Add("state", s)
	}
	if p.Pipeline != "" {
		q.Set("pipeline", p.Pipeline)
	}
	return call[api.DeploymentList](ctx, c, request{method: "GET", path: "/api/v1/deployments", query: pageQuery(q, p.Cursor, p.Limit)})
}

// DeploymentAll yields every deployment matching p, following the pages.
func (c *Client) DeploymentAll(ctx context.Context, p DeploymentListParams) iter.Seq2[api.Deployment, error] {
	return pages(func(cursor string) ([]api.Deployment, string, error) {
		p.Cursor = cursor
		page, err := c.DeploymentList(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, p.Cursor)
}

// DeploymentGet returns one deployment.
func (c *Client) DeploymentGet(ctx context.Context, id string) (*api.Deployment, error) {
	return call[api.Deployment](ctx, c, request{method: "GET", path: "/api/v1/deployments/" + pathID(id)})
}

// DeploymentRollback rolls a deployment back: its hosts return to the
// deployment it replaced. It returns the deployment, now rolled_back;
// rolling back a rolled-back deployment changes nothing.
func (c *Client) DeploymentRollback(ctx context.Context, id string) (*api.Deployment, error) {
	return call[api.Deployment](ctx, c, request{method: "POST", path: "/api/v1/deployments/" + pathID(id) + "/rollback"})
}
