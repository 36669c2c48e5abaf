package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// noPipelines is a tenant without pipelines of its own that counts lookups.
type noPipelines struct{ lookups int }

func (n *noPipelines) PipelineGetByName(context.Context, string, string) (*store.Pipeline, error) {
	n.lookups++
	return nil, store.ErrNotFound
}

func (n *noPipelines) PipelineGet(context.Context, string, string) (*store.Pipeline, error) {
	n.lookups++
	return nil, store.ErrNotFound
}

func TestPipelineCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &noPipelines{}
	c := newPipelineCheck(st, pipeline.Default())

	cases := []struct {
		name    string
		ref     experiment.PipelineRef
		valid   bool
		memo    int // entries remembered after the check
		lookups int // store lookups after the check
	}{
		{"catalog", experiment.PipelineRef{Name: "process-topk-v1"}, true, 1, 0},
		{"catalog again", experiment.PipelineRef{Name: "process-topk-v1"}, true, 1, 0},
		{"catalog with params", experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 5}}, true, 2, 0},
		{"bad params are never remembered", experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 0}}, false, 2, 0},
		{"bad params again", experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 0}}, false, 2, 0},
		{"a tenant's pipeline is looked up", experiment.PipelineRef{Name: "mine"}, false, 2, 2},
		{"every time", experiment.PipelineRef{Name: "mine"}, false, 2, 4},
	}
	for _, tc := range cases {
		err := c.Check(ctx, "tenant", tc.ref)
		if tc.valid {
			require.NoError(t, err, tc.name)
		} else {
			require.Error(t, err, tc.name)
		}
		require.Len(t, c.valid, tc.memo, tc.name)
		require.Equal(t, tc.lookups, st.lookups, tc.name)
	}
	require.ErrorIs(t, c.Check(ctx, "tenant", experiment.PipelineRef{Name: "mine"}), fleet.ErrUnknownPipeline)
}
