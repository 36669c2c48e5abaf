package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// ExperimentCreate implements [store.Store].
func (s *Store) ExperimentCreate(ctx context.Context, p *store.ExperimentCreateParams) (*store.Experiment, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create experiment: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	e, err := scanExperiment(s.writer(ctx).QueryRowContext(ctx, qExperimentCreate, p.TenantID, id, p.OwnerID, p.Name,
		p.State, jsonOr(p.Spec, "{}"), micros(now())))
	if err != nil {
		return nil, fmt.Errorf("create experiment %s: %w", id, translate(err))
	}
	return e, nil
}

// ExperimentGet implements [store.Store].
func (s *Store) ExperimentGet(ctx context.Context, tenantID, id string) (*store.Experiment, error) {
	e, err := scanExperiment(s.reader(ctx).QueryRowContext(ctx, qExperimentGet, tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("get experiment %s: %w", id, translate(err))
	}
	return e, nil
}

// ExperimentList implements [store.Store].
func (s *Store) ExperimentList(ctx context.Context, p *store.ExperimentListParams) (*store.Page[*store.Experiment], error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	c, _ := decodeCursor(p.Cursor) // checked by Validate
	limit := store.PageLimit(p.Limit)
	l := newListQuery(qExperimentList, p.TenantID)
	l.in("state", p.States)
	if p.OwnerID != "" {
		l.and("owner_id = ?", p.OwnerID)
	}
	if p.NamePrefix != "" {
		l.and("substr(name, 1, length(?)) = ?", p.NamePrefix, p.NamePrefix)
	}
	q, args := l.page("created_at", "id", c, limit)
	rows, err := s.reader(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", translate(err))
	}
	out, err := collect(rows, scanExperiment)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", translate(err))
	}
	return store.NextPage(out, limit, func(e *store.Experiment) (time.Time, string) { return e.CreatedAt, e.ID }), nil
}

// ExperimentListActive implements [store.Store].
func (s *Store) ExperimentListActive(ctx context.Context) ([]*store.Experiment, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, qExperimentListActive)
	if err != nil {
		return nil, fmt.Errorf("list active experiments: %w", translate(err))
	}
	out, err := collect(rows, scanExperiment)
	if err != nil {
		return nil, fmt.Errorf("list active experiments: %w", translate(err))
	}
	return out, nil
}

// ExperimentUpdate implements [store.Store].
func (s *Store) ExperimentUpdate(ctx context.Context, p *store.ExperimentUpdateParams) (*store.Experiment, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("update experiment: %w", err)
	}
	var e *store.Experiment
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanExperiment(tx.QueryRowContext(ctx, qExperimentUpdate, p.TenantID, p.ID, p.Version,
			strArg(p.Name), strArg(p.OwnerID), jsonArg(p.Spec), micros(now())))
		if errors.Is(err, sql.ErrNoRows) {
			return experimentVersionMiss(ctx, tx, p.TenantID, p.ID, p.Version)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update experiment %s: %w", p.ID, translate(err))
	}
	return e, nil
}

// experimentVersionMiss explains an optimistic write that matched no row:
// the experiment is gone, or it moved past the expected version.
func experimentVersionMiss(ctx context.Context, tx *sql.Tx, tenantID, id string, want int64) error {
	var state string
	var current int64
	if err := tx.QueryRowContext(ctx, qExperimentExists, tenantID, id).Scan(&state, &current); err != nil {
		return err
	}
	return fmt.Errorf("%w: expected version %d, current version %d", store.ErrVersionConflict, want, current)
}

// ExperimentSetResult implements [store.Store].
func (s *Store) ExperimentSetResult(ctx context.Context, p *store.ExperimentSetResultParams) (*store.Experiment, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("set experiment result: %w", err)
	}
	var e *store.Experiment
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanExperiment(tx.QueryRowContext(ctx, qExperimentSetResult, p.TenantID, p.ID, p.Version,
			string(p.Result), micros(now())))
		if errors.Is(err, sql.ErrNoRows) {
			return experimentVersionMiss(ctx, tx, p.TenantID, p.ID, p.Version)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set experiment result %s: %w", p.ID, translate(err))
	}
	return e, nil
}

// ExperimentDelete implements [store.Store].
func (s *Store) ExperimentDelete(ctx context.Context, tenantID, id string) error {
	return execOne(ctx, s.writer(ctx), "delete experiment "+id, qExperimentDelete, tenantID, id)
}

// ExperimentTransition implements [store.Store].
func (s *Store) ExperimentTransition(ctx context.Context, p *store.ExperimentTransitionParams) (*store.Experiment, *store.ExperimentEvent, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("transition experiment: %w", err)
	}
	at := p.At.UTC().Truncate(time.Microsecond)
	if p.At.IsZero() {
		at = now()
	}
	var (
		e  *store.Experiment
		ev *store.ExperimentEvent
	)
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanExperiment(tx.QueryRowContext(ctx, qExperimentTransition, p.TenantID, p.ID, p.From, p.To,
			micros(at), p.SetStarted, p.SetEnded, jsonArg(p.Result)))
		if errors.Is(err, sql.ErrNoRows) {
			var current string
			var version int64
			if err := tx.QueryRowContext(ctx, qExperimentExists, p.TenantID, p.ID).Scan(&current, &version); err != nil {
				return err
			}
			return &store.TransitionError{ID: p.ID, From: p.From, To: p.To, Current: current}
		}
		if err != nil {
			return err
		}
		ev, err = scanEvent(tx.QueryRowContext(ctx, qExperimentEventInsert, p.TenantID, p.ID, p.From, p.To,
			p.Actor, p.Reason, e.Version, micros(at)))
		return err
	})
	if err != nil {
		var te *store.TransitionError
		if errors.As(err, &te) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("transition experiment %s from %q to %q: %w", p.ID, p.From, p.To, translate(err))
	}
	return e, ev, nil
}

// ExperimentEventList implements [store.Store].
func (s *Store) ExperimentEventList(ctx context.Context, tenantID, experimentID string) ([]*store.ExperimentEvent, error) {
	// One read transaction, so the existence check and the events agree;
	// inside an Atomic call, its transaction is that one.
	q := s.reader(ctx)
	if _, ok := s.ambientTx(ctx); !ok {
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("list experiment events %s: %w", experimentID, err)
		}
		defer func() { _ = tx.Rollback() }()
		q = tx
	}
	var state string
	var version int64
	if err := q.QueryRowContext(ctx, qExperimentExists, tenantID, experimentID).Scan(&state, &version); err != nil {
		return nil, fmt.Errorf("list experiment events %s: %w", experimentID, translate(err))
	}
	rows, err := q.QueryContext(ctx, qExperimentEventList, tenantID, experimentID)
	if err != nil {
		return nil, fmt.Errorf("list experiment events %s: %w", experimentID, translate(err))
	}
	out, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list experiment events %s: %w", experimentID, translate(err))
	}
	return out, nil
}

// execOne runs a statement that must change exactly one row; zero rows is
// ErrNotFound.
func execOne(ctx context.Context, db querier, op, q string, args ...any) error {
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}
