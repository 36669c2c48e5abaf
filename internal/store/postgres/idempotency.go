package postgres

import (
	"context"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// IdempotencyGet implements [store.Store].
func (s *Store) IdempotencyGet(ctx context.Context, tenantID, key string) (*store.IdempotencyRecord, error) {
	rec, err := scanIdempotency(s.pool.QueryRow(ctx, qIdempotencyGet, tenantID, key, now()))
	if err != nil {
		return nil, fmt.Errorf("get idempotency key %q: %w", key, translate(err))
	}
	return rec, nil
}

// IdempotencyPut implements [store.Store].
func (s *Store) IdempotencyPut(ctx context.Context, p *store.IdempotencyPutParams) (*store.IdempotencyRecord, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("put idempotency key: %w", err)
	}
	body := p.ResponseBody
	if body == nil {
		body = []byte{}
	}
	rec, err := scanIdempotency(s.pool.QueryRow(ctx, qIdempotencyPut, p.TenantID, p.Key, p.RequestHash,
		p.ResponseStatus, body, now(), p.ExpiresAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("put idempotency key %q: %w: an unexpired record exists", p.Key, store.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("put idempotency key %q: %w", p.Key, translate(err))
	}
	return rec, nil
}

// IdempotencyDeleteExpired implements [store.Store].
func (s *Store) IdempotencyDeleteExpired(ctx context.Context, at time.Time) (int64, error) {
	res, err := s.pool.Exec(ctx, qIdempotencyDeleteExpired, at)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", translate(err))
	}
	return res.RowsAffected(), nil
}
