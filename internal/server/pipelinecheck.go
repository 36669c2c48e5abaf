package server

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/pipeline"
)

// maxValidCatalogRefs bounds the memory of pipelineCheck; past it, further
// references are checked every time.
const maxValidCatalogRefs = 1024

// pipelineCheck tells the experiment service whether a pipeline reference
// resolves for a tenant. Rendering a catalog template and validating it
// against the collector distribution costs about a millisecond, and its
// outcome depends on the template's name and parameters only (the catalog
// is built into the binary and shadows a tenant's pipelines of the same
// name), so valid catalog references are remembered. References to a
// tenant's own pipelines, which can change, are resolved every time.
type pipelineCheck struct {
	st  fleet.PipelineFinder
	cat *pipeline.Catalog

	mu    sync.RWMutex
	valid map[string]struct{} // catalog name + NUL + params as JSON
}

func newPipelineCheck(st fleet.PipelineFinder, cat *pipeline.Catalog) *pipelineCheck {
	return &pipelineCheck{st: st, cat: cat, valid: make(map[string]struct{})}
}

// Check resolves ref for the tenant; see [experiment.Service.CheckPipeline].
func (c *pipelineCheck) Check(ctx context.Context, tenantID string, ref experiment.PipelineRef) error {
	key, cacheable := c.key(ref)
	if cacheable {
		c.mu.RLock()
		_, ok := c.valid[key]
		c.mu.RUnlock()
		if ok {
			return nil
		}
	}
	if _, err := fleet.ResolvePipeline(ctx, c.st, c.cat, tenantID, ref); err != nil {
		return err
	}
	if cacheable {
		c.mu.Lock()
		if len(c.valid) < maxValidCatalogRefs {
			c.valid[key] = struct{}{}
		}
		c.mu.Unlock()
	}
	return nil
}

// key is the memo key of a catalog reference; ok is false for any other.
// encoding/json sorts map keys, so equal parameters give equal keys.
func (c *pipelineCheck) key(ref experiment.PipelineRef) (key string, ok bool) {
	if ref.Name == "" {
		return "", false
	}
	if _, ok := c.cat.Get(ref.Name); !ok {
		return "", false
	}
	params, err := json.Marshal(ref.Params)
	if err != nil {
		return "", false
	}
	return ref.Name + "\x00" + string(params), true
}
