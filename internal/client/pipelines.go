package client

import (
	"context"
	"iter"
	"net/url"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/pipeline"
)

// PipelineListParams filters GET /api/v1/pipelines.
type PipelineListParams struct {
	// NamePrefix keeps pipelines whose name starts with it.
	NamePrefix string
	// Cursor continues a previous page.
	Cursor string
	// Limit is the page size (1..500; 0 is the server's default).
	Limit int
}

// CatalogList lists the catalog's pipeline strategies.
func (c *Client) CatalogList(ctx context.Context) (*api.CatalogList, error) {
	return call[api.CatalogList](ctx, c, request{method: "GET", path: "/api/v1/catalog"})
}

// CatalogGet returns one catalog pipeline with its parameters.
func (c *Client) CatalogGet(ctx context.Context, name string) (*pipeline.Template, error) {
	return call[pipeline.Template](ctx, c, request{method: "GET", path: "/api/v1/catalog/" + pathID(name)})
}

// PipelineValidate asks the server to validate a pipeline document, a
// collector config or a catalog pipeline with parameters. An invalid one is
// a VALIDATION_ERROR *Error listing each bad field.
func (c *Client) PipelineValidate(ctx context.Context, in api.PipelineValidate) (*api.ValidationResult, error) {
	return call[api.ValidationResult](ctx, c, request{method: "POST", path: "/api/v1/pipelines/validate", body: in})
}

// PipelineCreate creates a user pipeline from its YAML document.
func (c *Client) PipelineCreate(ctx context.Context, yamlText string) (*api.Pipeline, error) {
	return call[api.Pipeline](ctx, c, request{method: "POST", path: "/api/v1/pipelines", body: api.PipelineWrite{YAML: yamlText}, idempotent: true})
}

// PipelineList returns one page of the tenant's own pipelines.
func (c *Client) PipelineList(ctx context.Context, p PipelineListParams) (*api.PipelineList, error) {
	q := url.Values{}
	if p.NamePrefix != "" {
		q.Set("name_prefix", p.NamePrefix)
	}
	return call[api.PipelineList](ctx, c, request{method: "GET", path: "/api/v1/pipelines", query: pageQuery(q, p.Cursor, p.Limit)})
}

// PipelineAll yields every user pipeline matching p, following the pages.
func (c *Client) PipelineAll(ctx context.Context, p PipelineListParams) iter.Seq2[api.Pipeline, error] {
	return pages(func(cursor string) ([]api.Pipeline, string, error) {
		p.Cursor = cursor
		page, err := c.PipelineList(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, p.Cursor)
}

// PipelineGet returns one user pipeline by ID.
func (c *Client) PipelineGet(ctx context.Context, id string) (*api.Pipeline, error) {
	return call[api.Pipeline](ctx, c, request{method: "GET", path: "/api/v1/pipelines/" + pathID(id)})
}

// PipelineReplace replaces a user pipeline's document; version is the
// version that was read.
func (c *Client) PipelineReplace(ctx context.Context, id, yamlText string, version int64) (*api.Pipeline, error) {
	return call[api.Pipeline](ctx, c, request{method: "PUT", path: "/api/v1/pipelines/" + pathID(id), body: api.PipelineWrite{YAML: yamlText, Version: version}})
}

// PipelineDelete deletes a user pipeline.
func (c *Client) PipelineDelete(ctx context.Context, id string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/pipelines/" + pathID(id)}, nil)
}
