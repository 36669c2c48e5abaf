package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phoenix/platform/internal/store"
)

// PipelineCreate implements [store.Store].
func (s *Store) PipelineCreate(ctx context.Context, p *store.PipelineCreateParams) (*store.Pipeline, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create pipeline: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	pl, err := scanPipeline(s.db(ctx).QueryRow(ctx, qPipelineCreate, p.TenantID, id, p.Name, p.Description,
		jsonOr(p.Config, "{}"), p.YAML, p.CreatedBy, now()))
	if err != nil {
		return nil, fmt.Errorf("create pipeline %s: %w", p.Name, translate(err))
	}
	return pl, nil
}

// PipelineGet implements [store.Store].
func (s *Store) PipelineGet(ctx context.Context, tenantID, id string) (*store.Pipeline, error) {
	pl, err := scanPipeline(s.db(ctx).QueryRow(ctx, qPipelineGet, tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("get pipeline %s: %w", id, translate(err))
	}
	return pl, nil
}

// PipelineGetByName implements [store.Store].
func (s *Store) PipelineGetByName(ctx context.Context, tenantID, name string) (*store.Pipeline, error) {
	pl, err := scanPipeline(s.db(ctx).QueryRow(ctx, qPipelineGetByName, tenantID, name))
	if err != nil {
		return nil, fmt.Errorf("get pipeline named %s: %w", name, translate(err))
	}
	return pl, nil
}

// PipelineList implements [store.Store].
func (s *Store) PipelineList(ctx context.Context, p *store.PipelineListParams) (*store.Page[*store.Pipeline], error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	c, _ := decodeCursor(p.Cursor)
	limit := store.PageLimit(p.Limit)
	l := newListQuery(qPipelineList, p.TenantID)
	if p.NamePrefix != "" {
		l.and("starts_with(name, " + l.arg(p.NamePrefix) + ")")
	}
	q, args := l.page("created_at", "id", c, limit)
	rows, err := s.db(ctx).Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", translate(err))
	}
	out, err := collect(rows, scanPipeline)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", translate(err))
	}
	return store.NextPage(out, limit, func(p *store.Pipeline) (time.Time, string) { return p.CreatedAt, p.ID }), nil
}

// PipelineUpdate implements [store.Store].
func (s *Store) PipelineUpdate(ctx context.Context, p *store.PipelineUpdateParams) (*store.Pipeline, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("update pipeline: %w", err)
	}
	var pl *store.Pipeline
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		pl, err = scanPipeline(tx.QueryRow(ctx, qPipelineUpdate, p.TenantID, p.ID, p.Version,
			p.Name, p.Description, p.Config, p.YAML, now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return versionMiss(ctx, tx, qPipelineExists, p.TenantID, p.ID, p.Version)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update pipeline %s: %w", p.ID, translate(err))
	}
	return pl, nil
}

// PipelineDelete implements [store.Store].
func (s *Store) PipelineDelete(ctx context.Context, tenantID, id string) error {
	return execOne(ctx, s.db(ctx), "delete pipeline "+id, qPipelineDelete, tenantID, id)
}

// versionMiss explains an optimistic write that matched no row, using a
// query that returns the row's current version.
func versionMiss(ctx context.Context, tx pgx.Tx, q, tenantID, id string, want int64) error {
	var current int64
	if err := tx.QueryRow(ctx, q, tenantID, id).Scan(&current); err != nil {
		return err
	}
	return fmt.Errorf("%w: expected version %d, current version %d", store.ErrVersionConflict, want, current)
}
