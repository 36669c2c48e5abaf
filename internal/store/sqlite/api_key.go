package sqlite

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
	k, err := scanAPIKey(s.writer(ctx).QueryRowContext(ctx, qAPIKeyCreate, p.TenantID, id, p.Name, p.Prefix, p.Hash,
		p.Role, p.CreatedBy, micros(now()), nullMicros(p.ExpiresAt)))
	if err != nil {
		return nil, fmt.Errorf("create api key %s: %w", id, translate(err))
	}
	return k, nil
}

// APIKeyGetByHash implements [store.Store].
func (s *Store) APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.reader(ctx).QueryRowContext(ctx, qAPIKeyGetByHash, hash))
	if err != nil {
		return nil, fmt.Errorf("get api key by hash: %w", translate(err))
	}
	return k, nil
}

// APIKeyList implements [store.Store].
func (s *Store) APIKeyList(ctx context.Context, tenantID string) ([]*store.APIKey, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, qAPIKeyList, tenantID)
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
	res, err := s.writer(ctx).ExecContext(ctx, qAPIKeyTouch, tenantID, id, micros(at))
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("touch api key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// APIKeyRevoke implements [store.Store].
func (s *Store) APIKeyRevoke(ctx context.Context, tenantID, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.writer(ctx).QueryRowContext(ctx, qAPIKeyRevoke, tenantID, id, micros(now())))
	if err != nil {
		return nil, fmt.Errorf("revoke api key %s: %w", id, translate(err))
	}
	return k, nil
}
