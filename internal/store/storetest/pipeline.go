package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testPipeline(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	cfg := json.RawMessage(`{"processors":{"phoenix_topk":{"k":20,"critical":"^(nginx|java)$"}},"service":{"pipelines":{"metrics":{"processors":["phoenix_topk"]}}}}`)
	yml := "processors:\n  phoenix_topk:\n    k: 20\n"
	p, err := s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: "my-topk", Description: "top 20", Config: cfg, YAML: yml, CreatedBy: "alice"})
	require.NoError(t, err)
	require.NotEmpty(t, p.ID)
	require.Equal(t, a, p.TenantID)
	require.Equal(t, "my-topk", p.Name)
	require.Equal(t, "top 20", p.Description)
	require.JSONEq(t, string(cfg), string(p.Config))
	require.Equal(t, yml, p.YAML)
	require.Equal(t, "alice", p.CreatedBy)
	require.Equal(t, int64(1), p.Version)
	recent(t, p.CreatedAt)

	got, err := s.PipelineGet(c, a, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, got)
	got, err = s.PipelineGetByName(c, a, "my-topk")
	require.NoError(t, err)
	require.Equal(t, p, got)

	_, err = s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: "my-topk"})
	require.ErrorIs(t, err, store.ErrConflict, "names are unique within a tenant")
	pb, err := s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: b, Name: "my-topk"})
	require.NoError(t, err, "the same name in another tenant")
	require.JSONEq(t, `{}`, string(pb.Config))
	_, err = s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: "bad", Config: json.RawMessage(`[`)})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Update.
	cfg2 := json.RawMessage(`{"processors":{"phoenix_topk":{"k":10}}}`)
	u, err := s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: a, ID: p.ID, Version: 1, Config: cfg2, YAML: ptr("k: 10\n")})
	require.NoError(t, err)
	require.Equal(t, int64(2), u.Version)
	require.JSONEq(t, string(cfg2), string(u.Config))
	require.Equal(t, "k: 10\n", u.YAML)
	require.Equal(t, "top 20", u.Description, "nil fields are kept")
	u, err = s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: a, ID: p.ID, Version: 2, Name: ptr("renamed"), Description: ptr("")})
	require.NoError(t, err)
	require.Equal(t, "renamed", u.Name)
	require.Empty(t, u.Description)
	_, err = s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: a, ID: p.ID, Version: 2, Name: ptr("again")})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	_, err = s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: a, ID: "missing", Version: 1, Name: ptr("again")})
	require.ErrorIs(t, err, store.ErrNotFound)
	other, err := s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: "other"})
	require.NoError(t, err)
	_, err = s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: a, ID: other.ID, Version: 1, Name: ptr("renamed")})
	require.ErrorIs(t, err, store.ErrConflict, "renaming onto a taken name")

	// Tenant isolation.
	_, err = s.PipelineGet(c, b, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.PipelineGetByName(c, b, "renamed")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.PipelineUpdate(c, &store.PipelineUpdateParams{TenantID: b, ID: p.ID, Version: 3, Name: ptr("x")})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.PipelineDelete(c, b, p.ID), store.ErrNotFound)
	page, err := s.PipelineList(c, &store.PipelineListParams{TenantID: b})
	require.NoError(t, err)
	require.Equal(t, []*store.Pipeline{pb}, page.Items)

	// List: prefix and paging.
	for i := range 12 {
		_, err := s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: fmt.Sprintf("bulk-%02d", i)})
		require.NoError(t, err)
	}
	var names []string
	lp := store.PipelineListParams{TenantID: a, NamePrefix: "bulk-", Limit: 5}
	for {
		page, err := s.PipelineList(c, &lp)
		require.NoError(t, err)
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if page.NextCursor == "" {
			break
		}
		lp.Cursor = page.NextCursor
	}
	require.Len(t, names, 12)
	require.Equal(t, "bulk-11", names[0])
	require.Equal(t, "bulk-00", names[11])
	_, err = s.PipelineList(c, &store.PipelineListParams{TenantID: a, Cursor: "%%%"})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Delete.
	require.NoError(t, s.PipelineDelete(c, a, p.ID))
	_, err = s.PipelineGet(c, a, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.PipelineDelete(c, a, p.ID), store.ErrNotFound)
	_, err = s.PipelineCreate(c, &store.PipelineCreateParams{TenantID: a, Name: "renamed"})
	require.NoError(t, err, "a deleted pipeline's name is free again")
}

func testDeployment(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	params := json.RawMessage(`{"k":20}`)
	sel := json.RawMessage(`{"hosts":["h1","h2"],"labels":{"env":"prod"}}`)
	rollout := json.RawMessage(`{"batches":[{"hosts":["h1"],"state":"pending"},{"hosts":["h2"],"state":"pending"}]}`)
	d1, err := s.DeploymentCreate(c, &store.DeploymentCreateParams{
		TenantID: a, Name: "prod topk", PipelineRef: "process-topk-v1", Params: params, Selector: sel,
		State: "pending", Rollout: rollout, ExperimentID: "exp-1", CreatedBy: "alice",
	})
	require.NoError(t, err)
	require.Equal(t, a, d1.TenantID)
	require.Equal(t, "prod topk", d1.Name)
	require.Equal(t, "process-topk-v1", d1.PipelineRef)
	require.JSONEq(t, string(params), string(d1.Params))
	require.JSONEq(t, string(sel), string(d1.Selector))
	require.JSONEq(t, string(rollout), string(d1.Rollout))
	require.Equal(t, "pending", d1.State)
	require.Empty(t, d1.PreviousID)
	require.Equal(t, "exp-1", d1.ExperimentID)
	require.Equal(t, "alice", d1.CreatedBy)
	require.Equal(t, int64(1), d1.Version)
	recent(t, d1.CreatedAt)

	got, err := s.DeploymentGet(c, a, d1.ID)
	require.NoError(t, err)
	require.Equal(t, d1, got)

	d2, err := s.DeploymentCreate(c, &store.DeploymentCreateParams{TenantID: a, PipelineRef: "process-baseline-v1", State: "pending", PreviousID: d1.ID})
	require.NoError(t, err)
	require.Equal(t, d1.ID, d2.PreviousID)
	require.JSONEq(t, `{}`, string(d2.Params))
	require.JSONEq(t, `{}`, string(d2.Selector))
	require.JSONEq(t, `{}`, string(d2.Rollout))
	_, err = s.DeploymentCreate(c, &store.DeploymentCreateParams{TenantID: a, State: "pending"})
	require.ErrorIs(t, err, store.ErrInvalid, "pipeline_ref is required")
	_, err = s.DeploymentCreate(c, &store.DeploymentCreateParams{TenantID: a, PipelineRef: "p", State: "pending", Selector: json.RawMessage(`{`)})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.DeploymentCreate(c, &store.DeploymentCreateParams{TenantID: a, ID: d1.ID, PipelineRef: "p", State: "pending"})
	require.ErrorIs(t, err, store.ErrConflict)

	// Update moves state and rollout progress with optimistic concurrency.
	progress := json.RawMessage(`{"batches":[{"hosts":["h1"],"state":"done"},{"hosts":["h2"],"state":"pending"}]}`)
	u, err := s.DeploymentUpdate(c, &store.DeploymentUpdateParams{TenantID: a, ID: d1.ID, Version: 1, State: ptr("rolling"), Rollout: progress})
	require.NoError(t, err)
	require.Equal(t, "rolling", u.State)
	require.JSONEq(t, string(progress), string(u.Rollout))
	require.JSONEq(t, string(sel), string(u.Selector), "nil fields are kept")
	require.Equal(t, int64(2), u.Version)
	_, err = s.DeploymentUpdate(c, &store.DeploymentUpdateParams{TenantID: a, ID: d1.ID, Version: 1, State: ptr("active")})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	_, err = s.DeploymentUpdate(c, &store.DeploymentUpdateParams{TenantID: a, ID: "missing", Version: 1, State: ptr("active")})
	require.ErrorIs(t, err, store.ErrNotFound)
	u, err = s.DeploymentUpdate(c, &store.DeploymentUpdateParams{TenantID: a, ID: d1.ID, Version: 2, State: ptr("active"), Params: json.RawMessage(`{"k":5}`), Selector: json.RawMessage(`{"hosts":["h1"]}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"k":5}`, string(u.Params))
	require.JSONEq(t, `{"hosts":["h1"]}`, string(u.Selector))

	// List filters.
	list := func(p store.DeploymentListParams) []string {
		page, err := s.DeploymentList(c, &p)
		require.NoError(t, err)
		var ids []string
		for _, d := range page.Items {
			ids = append(ids, d.ID)
		}
		return ids
	}
	require.Equal(t, []string{d2.ID, d1.ID}, list(store.DeploymentListParams{TenantID: a}))
	require.Equal(t, []string{d1.ID}, list(store.DeploymentListParams{TenantID: a, States: []string{"active", "rolling"}}))
	require.Equal(t, []string{d2.ID}, list(store.DeploymentListParams{TenantID: a, PipelineRef: "process-baseline-v1"}))
	page, err := s.DeploymentList(c, &store.DeploymentListParams{TenantID: a, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []*store.Deployment{d2}, page.Items)
	page, err = s.DeploymentList(c, &store.DeploymentListParams{TenantID: a, Limit: 1, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Equal(t, d1.ID, page.Items[0].ID)
	require.Empty(t, page.NextCursor)

	// Tenant isolation.
	_, err = s.DeploymentGet(c, b, d1.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.DeploymentUpdate(c, &store.DeploymentUpdateParams{TenantID: b, ID: d1.ID, Version: 3, State: ptr("x")})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DeploymentDelete(c, b, d1.ID), store.ErrNotFound)
	require.Empty(t, list(store.DeploymentListParams{TenantID: b}))

	require.NoError(t, s.DeploymentDelete(c, a, d1.ID))
	_, err = s.DeploymentGet(c, a, d1.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DeploymentDelete(c, a, d1.ID), store.ErrNotFound)
	got, err = s.DeploymentGet(c, a, d2.ID)
	require.NoError(t, err)
	require.Equal(t, d1.ID, got.PreviousID, "the rollback reference outlives the deployment it names")
}
