package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phoenix/platform/internal/store"
)

// IdempotencyGet implements [store.Store].
func (s *Store) IdempotencyGet(ctx context.Context, tenantID, key string) (*store.IdempotencyRecord, error) {
	rec, err := scanIdempotency(s.db(ctx).QueryRow(ctx, qIdempotencyGet, tenantID, key, now()))
	if err != nil {
		return nil, fmt.Errorf("get idempotency key %q: %w", key, translate(err))
	}
	return rec, nil
}

// IdempotencyClaim implements [store.Store]. The claim commits
// asynchronously (see query/idempotency.sql); when it finds a live record,
// that record stays locked by the claim's transaction until it is read, so
// the record returned is the one that stopped the claim.
func (s *Store) IdempotencyClaim(ctx context.Context, p *store.IdempotencyClaimParams) (*store.IdempotencyRecord, bool, error) {
	if err := p.Validate(); err != nil {
		return nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var (
		rec     *store.IdempotencyRecord
		claimed bool
	)
	at := now()
	// Inside an Atomic call the claim commits with the call's transaction,
	// whose writes must reach the disk.
	_, inAtomic := s.ambientTx(ctx)
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if !inAtomic {
			b.Queue(qIdempotencyClaimAsync)
		}
		b.Queue(qIdempotencyClaim, p.TenantID, p.Key, p.RequestHash, at, p.ExpiresAt)
		res := tx.SendBatch(ctx, b)
		if !inAtomic {
			if _, err := res.Exec(); err != nil {
				_ = res.Close()
				return err
			}
		}
		var err error
		rec, err = scanIdempotency(res.QueryRow())
		if cerr := res.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err == nil {
			claimed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rec, err = scanIdempotency(tx.QueryRow(ctx, qIdempotencyGet, p.TenantID, p.Key, at))
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim idempotency key %q: %w", p.Key, translate(err))
	}
	return rec, claimed, nil
}

// IdempotencyRelease implements [store.Store].
func (s *Store) IdempotencyRelease(ctx context.Context, tenantID, key, requestHash string) error {
	if _, err := s.db(ctx).Exec(ctx, qIdempotencyRelease, tenantID, key, requestHash); err != nil {
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
	rec, err := scanIdempotency(s.db(ctx).QueryRow(ctx, qIdempotencyPut, p.TenantID, p.Key, p.RequestHash,
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
	res, err := s.db(ctx).Exec(ctx, qIdempotencyDeleteExpired, at)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", translate(err))
	}
	return res.RowsAffected(), nil
}
