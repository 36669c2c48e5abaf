package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// ErrUnknownPipeline means a pipeline reference names neither a catalog
// pipeline nor one of the tenant's pipelines.
var ErrUnknownPipeline = errors.New("unknown pipeline")

// errBadPipeline marks a reference that exists but cannot be used: params
// given to a user pipeline, or a stored definition that does not decode.
var errBadPipeline = errors.New("unusable pipeline")

// PipelineFinder is the part of [store.Store] that resolves user
// pipelines.
type PipelineFinder interface {
	PipelineGetByName(ctx context.Context, tenantID, name string) (*store.Pipeline, error)
	PipelineGet(ctx context.Context, tenantID, id string) (*store.Pipeline, error)
}

// ResolvePipeline turns a pipeline reference into a pipeline spec and
// validates it: a catalog template of cat with the reference's parameters,
// else the tenant's stored pipeline of that name (or, failing that, of
// that ID), whose Config is a pipeline.Document and which takes no
// parameters. An unknown name wraps [ErrUnknownPipeline]; parameters that
// do not fit the template are a *pipeline.ValidationError; a store failure
// is returned as is. A nil cat means pipeline.Default(), the catalog
// pipeline.Compose renders with.
func ResolvePipeline(ctx context.Context, st PipelineFinder, cat *pipeline.Catalog, tenantID string, ref experiment.PipelineRef) (pipeline.Spec, error) {
	s, err := newResolver(st, cat, tenantID).resolve(ctx, ref)
	if err != nil {
		return pipeline.Spec{}, err
	}
	if err := pipeline.ValidateSpec(s); err != nil {
		return pipeline.Spec{}, err
	}
	return s, nil
}

// resolver resolves the references of one tenant, reading each user
// pipeline once. Resolution only decodes; pipeline.Compose validates.
type resolver struct {
	st       PipelineFinder
	cat      *pipeline.Catalog
	tenantID string
	docs     map[string]*pipeline.Document
}

func newResolver(st PipelineFinder, cat *pipeline.Catalog, tenantID string) *resolver {
	if cat == nil {
		cat = pipeline.Default()
	}
	return &resolver{st: st, cat: cat, tenantID: tenantID, docs: map[string]*pipeline.Document{}}
}

func (r *resolver) resolve(ctx context.Context, ref experiment.PipelineRef) (pipeline.Spec, error) {
	if ref.Name == "" {
		return pipeline.Spec{}, fmt.Errorf("%w: no pipeline name", ErrUnknownPipeline)
	}
	if _, ok := r.cat.Get(ref.Name); ok {
		return pipeline.CatalogSpec(ref.Name, ref.Params), nil
	}
	doc, ok := r.docs[ref.Name]
	if !ok {
		p, err := r.st.PipelineGetByName(ctx, r.tenantID, ref.Name)
		if errors.Is(err, store.ErrNotFound) {
			p, err = r.st.PipelineGet(ctx, r.tenantID, ref.Name)
		}
		if errors.Is(err, store.ErrNotFound) {
			return pipeline.Spec{}, fmt.Errorf("%w: no catalog or user pipeline named %q", ErrUnknownPipeline, ref.Name)
		}
		if err != nil {
			return pipeline.Spec{}, fmt.Errorf("resolve pipeline %q: %w", ref.Name, err)
		}
		var d pipeline.Document
		if err := json.Unmarshal(p.Config, &d); err != nil {
			return pipeline.Spec{}, fmt.Errorf("%w: decode pipeline %q: %v", errBadPipeline, ref.Name, err)
		}
		doc = &d
		r.docs[ref.Name] = doc
	}
	if len(ref.Params) > 0 {
		return pipeline.Spec{}, fmt.Errorf("%w: user pipeline %q takes no params", errBadPipeline, ref.Name)
	}
	return pipeline.Spec{Document: doc}, nil
}
