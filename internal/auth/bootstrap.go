package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/phoenix/platform/internal/store"
)

const (
	// BootstrapTenant is the name of the tenant [Bootstrap] creates.
	BootstrapTenant = "default"
	// BootstrapKeyName is the name of the admin key [Bootstrap] creates.
	BootstrapKeyName = "bootstrap"
)

// BootstrapStore is the part of [store.Store] that [Bootstrap] uses.
type BootstrapStore interface {
	TenantList(ctx context.Context) ([]*store.Tenant, error)
	TenantCreate(ctx context.Context, p *store.TenantCreateParams) (*store.Tenant, error)
	APIKeyList(ctx context.Context, tenantID string) ([]*store.APIKey, error)
	APIKeyCreate(ctx context.Context, p *store.APIKeyCreateParams) (*store.APIKey, error)
}

// Bootstrap prepares a fresh installation: when the store has no tenant it
// creates the tenant "default" and an admin API key named "bootstrap", and
// returns the key's secret with created true. The caller shows the secret
// once; it cannot be recovered later. Otherwise it returns created false.
//
// Concurrent callers (several replicas starting against one empty database)
// create one tenant and one key between them: the tenant name is unique, and
// the bootstrap key has an ID derived from the tenant ID, so a second create
// of either is refused with [store.ErrConflict] and that caller returns
// created false. If a previous start stopped between creating the tenant and
// its key, the next one creates the key (the "default" tenant being the only
// tenant and having no key at all).
func Bootstrap(ctx context.Context, st BootstrapStore) (secret string, created bool, err error) {
	tenants, err := st.TenantList(ctx)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	var tenant *store.Tenant
	switch {
	case len(tenants) == 0:
		tenant, err = st.TenantCreate(ctx, &store.TenantCreateParams{Name: BootstrapTenant})
		if errors.Is(err, store.ErrConflict) {
			return "", false, nil // another caller is bootstrapping
		}
		if err != nil {
			return "", false, fmt.Errorf("bootstrap: %w", err)
		}
	case len(tenants) == 1 && tenants[0].Name == BootstrapTenant:
		keys, err := st.APIKeyList(ctx, tenants[0].ID)
		if err != nil {
			return "", false, fmt.Errorf("bootstrap: %w", err)
		}
		if len(keys) > 0 {
			return "", false, nil
		}
		tenant = tenants[0]
	default:
		return "", false, nil
	}

	secret, prefix, hash, err := NewAPIKey()
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	_, err = st.APIKeyCreate(ctx, &store.APIKeyCreateParams{
		TenantID:  tenant.ID,
		ID:        bootstrapKeyID(tenant.ID),
		Name:      BootstrapKeyName,
		Prefix:    prefix,
		Hash:      hash,
		Role:      store.RoleAdmin,
		CreatedBy: BootstrapKeyName,
	})
	if errors.Is(err, store.ErrConflict) {
		return "", false, nil // another caller created the key
	}
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	return secret, true, nil
}

// bootstrapKeyID derives the ID of a tenant's bootstrap key from the tenant
// ID, as a version 8 (custom) UUID so that every store accepts it as an ID.
func bootstrapKeyID(tenantID string) string {
	sum := sha256.Sum256([]byte("phoenix bootstrap api key\x00" + tenantID))
	b := sum[:16]
	b[6] = 0x80 | b[6]&0x0f // version 8
	b[8] = 0x80 | b[8]&0x3f // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
