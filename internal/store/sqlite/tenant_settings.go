package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/phoenix/platform/internal/store"
)

// TenantSettingsGet implements [store.Store].
func (s *Store) TenantSettingsGet(ctx context.Context, tenantID string) (*store.TenantSettings, error) {
	ts, err := scanTenantSettings(s.reader(ctx).QueryRowContext(ctx, qTenantSettingsGet, tenantID))
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
	at := micros(now())
	if p.Version == 0 {
		ts, err := scanTenantSettings(s.writer(ctx).QueryRowContext(ctx, qTenantSettingsUpsert, p.TenantID, string(p.Pricing), at, p.UpdatedBy))
		if err != nil {
			return nil, fmt.Errorf("put settings of tenant %s: %w", p.TenantID, translate(err))
		}
		return ts, nil
	}
	var ts *store.TenantSettings
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		ts, err = scanTenantSettings(tx.QueryRowContext(ctx, qTenantSettingsUpdate, p.TenantID, p.Version, string(p.Pricing), at, p.UpdatedBy))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var current int64
		if err := tx.QueryRowContext(ctx, qTenantSettingsVersion, p.TenantID).Scan(&current); err != nil {
			return err
		}
		return fmt.Errorf("%w: expected version %d, current version %d", store.ErrVersionConflict, p.Version, current)
	})
	if err != nil {
		return nil, fmt.Errorf("put settings of tenant %s: %w", p.TenantID, translate(err))
	}
	return ts, nil
}
