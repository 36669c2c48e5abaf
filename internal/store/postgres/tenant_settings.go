package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phoenix/platform/internal/store"
)

// TenantSettingsGet implements [store.Store].
func (s *Store) TenantSettingsGet(ctx context.Context, tenantID string) (*store.TenantSettings, error) {
	ts, err := scanTenantSettings(s.db(ctx).QueryRow(ctx, qTenantSettingsGet, tenantID))
	if err != nil {
		return nil, fmt.Errorf("get settings of tenant %s: %w", tenantID, translate(err))
	}
	return ts, nil
}

// TenantSettingsPut implements [store.Store].
func (s *Store) TenantSettingsPut(ctx context.Context, p *store.TenantSettingsPutParams) (*store.TenantSettings, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("put tenant settings: %w", err)
	}
	at := now()
	if p.Version == 0 {
		ts, err := scanTenantSettings(s.db(ctx).QueryRow(ctx, qTenantSettingsUpsert, p.TenantID, p.Pricing, at, p.UpdatedBy))
		if err != nil {
			return nil, fmt.Errorf("put settings of tenant %s: %w", p.TenantID, translate(err))
		}
		return ts, nil
	}
	var ts *store.TenantSettings
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		ts, err = scanTenantSettings(tx.QueryRow(ctx, qTenantSettingsUpdate, p.TenantID, p.Version, p.Pricing, at, p.UpdatedBy))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var current int64
		if err := tx.QueryRow(ctx, qTenantSettingsVersion, p.TenantID).Scan(&current); err != nil {
			return err
		}
		return fmt.Errorf("%w: expected version %d, current version %d", store.ErrVersionConflict, p.Version, current)
	})
	if err != nil {
		return nil, fmt.Errorf("put settings of tenant %s: %w", p.TenantID, translate(err))
	}
	return ts, nil
}
