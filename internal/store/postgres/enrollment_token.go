package postgres

import (
	"context"
	"fmt"

	"github.com/phoenix/platform/internal/store"
)

// EnrollmentTokenCreate implements [store.Store].
func (s *Store) EnrollmentTokenCreate(ctx context.Context, p *store.EnrollmentTokenCreateParams) (*store.EnrollmentToken, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create enrollment token: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	lbls, err := labelsArg(p.Labels)
	if err != nil {
		return nil, fmt.Errorf("create enrollment token %s: %w", id, err)
	}
	t, err := scanEnrollmentToken(s.db(ctx).QueryRow(ctx, qEnrollmentTokenCreate, p.TenantID, id, p.Name,
		p.Prefix, p.Hash, lbls, p.CreatedBy, now(), p.ExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("create enrollment token %s: %w", id, translate(err))
	}
	return t, nil
}

// EnrollmentTokenGetByHash implements [store.Store].
func (s *Store) EnrollmentTokenGetByHash(ctx context.Context, hash string) (*store.EnrollmentToken, error) {
	t, err := scanEnrollmentToken(s.db(ctx).QueryRow(ctx, qEnrollmentTokenGetByHash, hash))
	if err != nil {
		return nil, fmt.Errorf("get enrollment token by hash: %w", translate(err))
	}
	return t, nil
}

// EnrollmentTokenList implements [store.Store].
func (s *Store) EnrollmentTokenList(ctx context.Context, tenantID string) ([]*store.EnrollmentToken, error) {
	rows, err := s.db(ctx).Query(ctx, qEnrollmentTokenList, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", translate(err))
	}
	out, err := collect(rows, scanEnrollmentToken)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", translate(err))
	}
	return out, nil
}

// EnrollmentTokenRevoke implements [store.Store].
func (s *Store) EnrollmentTokenRevoke(ctx context.Context, tenantID, id string) (*store.EnrollmentToken, error) {
	t, err := scanEnrollmentToken(s.db(ctx).QueryRow(ctx, qEnrollmentTokenRevoke, tenantID, id, now()))
	if err != nil {
		return nil, fmt.Errorf("revoke enrollment token %s: %w", id, translate(err))
	}
	return t, nil
}
