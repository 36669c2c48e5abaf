package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// IdempotencyGet implements [store.Store].
func (s *Store) IdempotencyGet(ctx context.Context, tenantID, key string) (*store.IdempotencyRecord, error) {
	rec, err := scanIdempotency(s.reader(ctx).QueryRowContext(ctx, qIdempotencyGet, tenantID, key, micros(now())))
	if err != nil {
		return nil, fmt.Errorf("get idempotency key %q: %w", key, translate(err))
	}
	return rec, nil
}

// IdempotencyClaim implements [store.Store]. The insert and, when it finds
// a live record, the read of that record run in one write transaction, so
// the record returned is the one that stopped the claim.
func (s *Store) IdempotencyClaim(ctx context.Context, p *store.IdempotencyClaimParams) (*store.IdempotencyRecord, bool, error) {
	if err := p.Validate(); err != nil {
		return nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var (
		rec     *store.IdempotencyRecord
		claimed bool
	)
	at := micros(now())
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = scanIdempotency(tx.QueryRowContext(ctx, qIdempotencyClaim, p.TenantID, p.Key, p.RequestHash, at, micros(p.ExpiresAt)))
		if err == nil {
			claimed = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rec, err = scanIdempotency(tx.QueryRowContext(ctx, qIdempotencyGet, p.TenantID, p.Key, at))
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim idempotency key %q: %w", p.Key, translate(err))
	}
	return rec, claimed, nil
}

// IdempotencyRelease implements [store.Store].
func (s *Store) IdempotencyRelease(ctx context.Context, tenantID, key, requestHash string) error {
	if _, err := s.writer(ctx).ExecContext(ctx, qIdempotencyRelease, tenantID, key, requestHash); err != nil {
		return fmt.Errorf("release idempotency key %q: %w", key, translate(err))
	}
	return nil
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
	rec, err := scanIdempotency(s.writer(ctx).QueryRowContext(ctx, qIdempotencyPut, p.TenantID, p.Key, p.RequestHash,
		p.ResponseStatus, body, micros(now()), micros(p.ExpiresAt)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("put idempotency key %q: %w: an unexpired record exists", p.Key, store.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("put idempotency key %q: %w", p.Key, translate(err))
	}
	return rec, nil
}

// IdempotencyDeleteExpired implements [store.Store].
func (s *Store) IdempotencyDeleteExpired(ctx context.Context, at time.Time) (int64, error) {
	res, err := s.writer(ctx).ExecContext(ctx, qIdempotencyDeleteExpired, micros(at))
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return n, nil
}
