package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"

	"github.com/phoenix/platform/internal/api"
)

// AgentListParams filters GET /api/v1/agents.
type AgentListParams struct {
	// Connected, when set, keeps agents that are (or are not) connected.
	Connected *bool
	// Host keeps the agents of this host name.
	Host string
	// Cursor continues a previous page.
	Cursor string
	// Limit is the page size (1..500; 0 is the server's default).
	Limit int
}

// AgentList returns one page of enrolled agents.
func (c *Client) AgentList(ctx context.Context, p AgentListParams) (*api.AgentList, error) {
	q := url.Values{}
	if p.Connected != nil {
		q.Set("connected", strconv.FormatBool(*p.Connected))
	}
	if p.Host != "" {
		q.Set("host", p.Host)
	}
	return call[api.AgentList](ctx, c, request{method: "GET", path: "/api/v1/agents", query: pageQuery(q, p.Cursor, p.Limit)})
}

// AgentAll yields every agent matching p, following the pages.
func (c *Client) AgentAll(ctx context.Context, p AgentListParams) iter.Seq2[api.Agent, error] {
	return pages(func(cursor string) ([]api.Agent, string, error) {
		p.Cursor = cursor
		page, err := c.AgentList(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, p.Cursor)
}

// AgentGet returns an agent by its instance UID.
func (c *Client) AgentGet(ctx context.Context, id string) (*api.Agent, error) {
	return call[api.Agent](ctx, c, request{method: "GET", path: "/api/v1/agents/" + pathID(id)})
}
