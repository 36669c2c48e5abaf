package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// DeploymentCreate implements [store.Store].
func (s *Store) DeploymentCreate(ctx context.Context, p *store.DeploymentCreateParams) (*store.Deployment, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	d, err := scanDeployment(s.writer(ctx).QueryRowContext(ctx, qDeploymentCreate, p.TenantID, id, p.Name, p.PipelineRef,
		jsonOr(p.Params, "{}"), jsonOr(p.Selector, "{}"), p.State, jsonOr(p.Rollout, "{}"),
		p.PreviousID, p.ExperimentID, p.CreatedBy, micros(now())))
	if err != nil {
		return nil, fmt.Errorf("create deployment %s: %w", id, translate(err))
	}
	return d, nil
}

// DeploymentGet implements [store.Store].
func (s *Store) DeploymentGet(ctx context.Context, tenantID, id string) (*store.Deployment, error) {
	d, err := scanDeployment(s.reader(ctx).QueryRowContext(ctx, qDeploymentGet, tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", id, translate(err))
	}
	return d, nil
}

// DeploymentList implements [store.Store].
func (s *Store) DeploymentList(ctx context.Context, p *store.DeploymentListParams) (*store.Page[*store.Deployment], error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	c, _ := decodeCursor(p.Cursor)
	limit := store.PageLimit(p.Limit)
	l := newListQuery(qDeploymentList, p.TenantID)
	l.in("state", p.States)
	if p.PipelineRef != "" {
		l.and("pipeline_ref = ?", p.PipelineRef)
	}
	q, args := l.page("created_at", "id", c, limit)
	rows, err := s.reader(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", translate(err))
	}
	out, err := collect(rows, scanDeployment)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", translate(err))
	}
	return store.NextPage(out, limit, func(d *store.Deployment) (time.Time, string) { return d.CreatedAt, d.ID }), nil
}

// DeploymentUpdate implements [store.Store].
func (s *Store) DeploymentUpdate(ctx context.Context, p *store.DeploymentUpdateParams) (*store.Deployment, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("update deployment: %w", err)
	}
	var d *store.Deployment
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, qDeploymentUpdate, p.TenantID, p.ID, p.Version,
			strArg(p.State), jsonArg(p.Params), jsonArg(p.Selector), jsonArg(p.Rollout), micros(now())))
		if errors.Is(err, sql.ErrNoRows) {
			return versionMiss(ctx, tx, qDeploymentExists, p.TenantID, p.ID, p.Version)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update deployment %s: %w", p.ID, translate(err))
	}
	return d, nil
}

// DeploymentDelete implements [store.Store].
func (s *Store) DeploymentDelete(ctx context.Context, tenantID, id string) error {
	return execOne(ctx, s.writer(ctx), "delete deployment "+id, qDeploymentDelete, tenantID, id)
}
