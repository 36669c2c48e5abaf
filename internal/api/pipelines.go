package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// CatalogList lists the catalog's pipelines.
type CatalogList struct {
	Items []*pipeline.Template `json:"items"`
}

// PipelineValidate is the body of POST /api/v1/pipelines/validate: a
// pipeline document or a stock collector config as YAML text, or a
// reference to a catalog pipeline with parameters.
type PipelineValidate struct {
	YAML    string         `json:"yaml,omitempty"`
	Catalog string         `json:"catalog,omitempty"`
	Params  map[string]any `json:"params,omitempty"`
}

// ValidationResult is the answer of a successful validation.
type ValidationResult struct {
	Valid bool `json:"valid"`
}

// Pipeline is a tenant's own pipeline.
type Pipeline struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Document    *pipeline.Document `json:"document"`
	YAML        string             `json:"yaml"`
	Version     int64              `json:"version"`
	CreatedBy   string             `json:"created_by,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

// PipelineList is a page of user pipelines.
type PipelineList struct {
	Items      []Pipeline `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// PipelineWrite is the body that creates or replaces a user pipeline: the
// pipeline document as YAML. Version is required on replace (or If-Match).
type PipelineWrite struct {
	YAML    string `json:"yaml"`
	Version int64  `json:"version,omitempty"`
}

func (a *API) pipelineRoutes() []*route {
	const res = "pipelines"
	return []*route{
		{Method: "GET", Path: "/api/v1/catalog", Summary: "List the catalog's pipeline strategies", Tag: res, Resource: res, Action: "read",
			Response: CatalogList{}, Handle: a.catalogList},
		{Method: "GET", Path: "/api/v1/catalog/{name}", Summary: "Get a catalog pipeline with its parameters", Tag: res, Resource: res, Action: "read",
			Response: pipeline.Template{}, Handle: a.catalogGet},
		{Method: "POST", Path: "/api/v1/pipelines/validate", Summary: "Validate a pipeline document, a collector config or catalog parameters", Tag: res, Resource: res, Action: "read",
			Request: PipelineValidate{}, Response: ValidationResult{}, Handle: a.pipelineValidate},
		{Method: "POST", Path: "/api/v1/pipelines", Summary: "Create a user pipeline", Tag: res, Resource: res, Action: "write",
			Request: PipelineWrite{}, Response: Pipeline{}, Status: http.StatusCreated, Idempotent: true, Atomic: true, Handle: a.pipelineCreate},
		{Method: "GET", Path: "/api/v1/pipelines", Summary: "List user pipelines", Tag: res, Resource: res, Action: "read",
			Response: PipelineList{}, Query: []string{"name_prefix", "cursor", "limit"}, Handle: a.pipelineList},
		{Method: "GET", Path: "/api/v1/pipelines/{id}", Summary: "Get a user pipeline", Tag: res, Resource: res, Action: "read",
			Response: Pipeline{}, Handle: a.pipelineGet},
		{Method: "PUT", Path: "/api/v1/pipelines/{id}", Summary: "Replace a user pipeline (If-Match or version required)", Tag: res, Resource: res, Action: "write",
			Request: PipelineWrite{}, Response: Pipeline{}, Handle: a.pipelineReplace},
		{Method: "DELETE", Path: "/api/v1/pipelines/{id}", Summary: "Delete a user pipeline", Tag: res, Resource: res, Action: "write",
			Status: http.StatusNoContent, Handle: a.pipelineDelete},
	}
}

func (a *API) catalogList(*call) (any, error) {
	return CatalogList{Items: a.deps.Catalog.List()}, nil
}

func (a *API) catalogGet(c *call) (any, error) {
	name := c.r.PathValue("name")
	t, ok := a.deps.Catalog.Get(name)
	if !ok {
		return nil, apierror.NotFound("catalog pipeline", name)
	}
	return t, nil
}

func (a *API) pipelineValidate(c *call) (any, error) {
	var in PipelineValidate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.YAML != "" && in.Catalog != "":
		return nil, apierror.Validation(apierror.FieldError{Field: "yaml", Message: "send yaml or catalog, not both"})
	case in.YAML != "":
		if err := pipeline.Validate([]byte(in.YAML)); err != nil {
			return nil, prefixFields(err, "yaml")
		}
	case in.Catalog != "":
		if err := pipeline.ValidateSpec(pipeline.CatalogSpec(in.Catalog, in.Params)); err != nil {
			return nil, err
		}
	default:
		return nil, apierror.Validation(apierror.FieldError{Field: "yaml", Message: "required (or catalog)"})
	}
	return ValidationResult{Valid: true}, nil
}

// prefixFields puts path in front of each field of a pipeline validation
// error, so a client sees where in its request the problem is.
func prefixFields(err error, path string) error {
	ae := toAPIError(err)
	if ae.Code != apierror.CodeValidation {
		return err
	}
	fields := make([]apierror.FieldError, len(ae.Fields))
	for i, f := range ae.Fields {
		f.Field = path + "." + f.Field
		fields[i] = f
	}
	if len(fields) == 0 {
		return apierror.Validation(apierror.FieldError{Field: path, Message: ae.Message})
	}
	return apierror.Validation(fields...)
}

// parsePipeline parses and validates a user pipeline document.
func parsePipeline(yamlText string) (*pipeline.Document, json.RawMessage, error) {
	if yamlText == "" {
		return nil, nil, apierror.Validation(apierror.FieldError{Field: "yaml", Message: "required"})
	}
	doc, err := pipeline.ParseDocument([]byte(yamlText))
	if err != nil {
		return nil, nil, prefixFields(err, "yaml")
	}
	if err := pipeline.ValidateDocument(doc); err != nil {
		return nil, nil, prefixFields(err, "yaml")
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("encode pipeline: %w", err)
	}
	return doc, raw, nil
}

func pipelineOut(p *store.Pipeline) (Pipeline, error) {
	var doc pipeline.Document
	if err := json.Unmarshal(p.Config, &doc); err != nil {
		return Pipeline{}, fmt.Errorf("decode pipeline %s: %w", p.ID, err)
	}
	return Pipeline{ID: p.ID, Name: p.Name, Description: p.Description, Document: &doc, YAML: p.YAML,
		Version: p.Version, CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}, nil
}

func (a *API) pipelineCreate(c *call) (any, error) {
	var in PipelineWrite
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	doc, raw, err := parsePipeline(in.YAML)
	if err != nil {
		return nil, err
	}
	if _, ok := a.deps.Catalog.Get(doc.Name); ok {
		return nil, apierror.Validation(apierror.FieldError{Field: "yaml.name", Message: fmt.Sprintf("%q is a catalog pipeline; choose another name", doc.Name)})
	}
	p, err := a.deps.Store.PipelineCreate(c.r.Context(), &store.PipelineCreateParams{
		TenantID: c.tenant(), Name: doc.Name, Description: doc.Description, Config: raw, YAML: in.YAML, CreatedBy: c.actor(),
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apierror.New(apierror.CodeConflict, "a pipeline named %q already exists", doc.Name)
		}
		return nil, err
	}
	a.audit(c, "pipeline.create", "pipeline", p.ID, nil)
	setETag(c.w, p.Version)
	c.w.Header().Set("Location", "/api/v1/pipelines/"+p.ID)
	return pipelineOut(p)
}

func (a *API) pipelineList(c *call) (any, error) {
	limit, err := c.limit()
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	page, err := a.deps.Store.PipelineList(c.r.Context(), &store.PipelineListParams{
		TenantID: c.tenant(), NamePrefix: q.Get("name_prefix"), Cursor: q.Get("cursor"), Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	out := PipelineList{Items: make([]Pipeline, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, p := range page.Items {
		po, err := pipelineOut(p)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, po)
	}
	return out, nil
}

func (a *API) pipelineGet(c *call) (any, error) {
	id := c.r.PathValue("id")
	p, err := a.deps.Store.PipelineGet(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "pipeline", id)
	}
	setETag(c.w, p.Version)
	return pipelineOut(p)
}

func (a *API) pipelineReplace(c *call) (any, error) {
	var in PipelineWrite
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	version, err := c.ifMatch()
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = in.Version
	}
	if version == 0 {
		return nil, &apierror.Error{Code: apierror.CodePrecondition, Status: http.StatusPreconditionRequired,
			Message: "send the version you read, as If-Match or in the body"}
	}
	doc, raw, err := parsePipeline(in.YAML)
	if err != nil {
		return nil, err
	}
	id := c.r.PathValue("id")
	p, err := a.deps.Store.PipelineUpdate(c.r.Context(), &store.PipelineUpdateParams{
		TenantID: c.tenant(), ID: id, Version: version, Name: &doc.Name, Description: &doc.Description, Config: raw, YAML: &in.YAML,
	})
	if err != nil {
		return nil, notFoundAs(err, "pipeline", id)
	}
	a.audit(c, "pipeline.update", "pipeline", id, nil)
	setETag(c.w, p.Version)
	return pipelineOut(p)
}

func (a *API) pipelineDelete(c *call) (any, error) {
	id := c.r.PathValue("id")
	if err := a.deps.Store.PipelineDelete(c.r.Context(), c.tenant(), id); err != nil {
		return nil, notFoundAs(err, "pipeline", id)
	}
	a.audit(c, "pipeline.delete", "pipeline", id, nil)
	return nil, nil
}
