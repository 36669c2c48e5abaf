package postgres

import (
	"context"
	"fmt"

	"github.com/phoenix/platform/internal/store"
)

// TenantCreate implements [store.Store].
func (s *Store) TenantCreate(ctx context.Context, p *store.TenantCreateParams) (*store.Tenant, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	t, err := scanTenant(s.db(ctx).QueryRow(ctx, qTenantCreate, id, p.Name, now()))
	if err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", p.Name, translate(err))
	}
	return t, nil
}

// TenantGet implements [store.Store].
func (s *Store) TenantGet(ctx context.Context, id string) (*store.Tenant, error) {
	t, err := scanTenant(s.db(ctx).QueryRow(ctx, qTenantGet, id))
	if err != nil {
		return nil, fmt.Errorf("get tenant %s: %w", id, translate(err))
	}
	return t, nil
}

// TenantList implements [store.Store].
func (s *Store) TenantList(ctx context.Context) ([]*store.Tenant, error) {
	rows, err := s.db(ctx).Query(ctx, qTenantList)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", translate(err))
	}
	out, err := collect(rows, scanTenant)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", translate(err))
	}
	return out, nil
}
