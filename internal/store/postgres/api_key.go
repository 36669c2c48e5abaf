package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// APIKeyCreate implements [store.Store].
func (s *Store) APIKeyCreate(ctx context.Context, p *store.APIKeyCreateParams) (*store.APIKey, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	k, err := scanAPIKey(s.db(ctx).QueryRow(ctx, qAPIKeyCreate, p.TenantID, id, p.Name, p.Prefix, p.Hash,
		p.Role, p.CreatedBy, now(), p.ExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("create api key %s: %w", id, translate(err))
	}
	return k, nil
}

// APIKeyGetByHash implements [store.Store].
func (s *Store) APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.db(ctx).QueryRow(ctx, qAPIKeyGetByHash, hash))
	if err != nil {
		return nil, fmt.Errorf("get api key by hash: %w", translate(err))
	}
	return k, nil
}

// APIKeyList implements [store.Store].
func (s *Store) APIKeyList(ctx context.Context, tenantID string) ([]*store.APIKey, error) {
	rows, err := s.db(ctx).Query(ctx, qAPIKeyList, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", translate(err))
	}
	out, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", translate(err))
	}
	return out, nil
}

// APIKeyTouch implements [store.Store].
func (s *Store) APIKeyTouch(ctx context.Context, tenantID, id string, at time.Time) error {
	res, err := s.db(ctx).Exec(ctx, qAPIKeyTouch, tenantID, id, at)
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, translate(err))
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("touch api key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// APIKeyRevoke implements [store.Store].
func (s *Store) APIKeyRevoke(ctx context.Context, tenantID, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.db(ctx).QueryRow(ctx, qAPIKeyRevoke, tenantID, id, now()))
	if err != nil {
		return nil, fmt.Errorf("revoke api key %s: %w", id, translate(err))
	}
	return k, nil
}
