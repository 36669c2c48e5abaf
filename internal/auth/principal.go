package auth

import "context"

// Principal is an authenticated caller of the API: an API key of a tenant
// with its role.
type Principal struct {
	// TenantID is the tenant the key belongs to; every request is scoped to it.
	TenantID string
	// KeyID identifies the API key within its tenant.
	KeyID string
	// Role is store.RoleAdmin, store.RoleEditor or store.RoleViewer.
	Role string
	// Actor names the caller in audit entries and experiment events, e.g.
	// "key:0190f1c2-...".
	Actor string
}

// AgentIdentity is an agent authenticated by an enrollment token.
type AgentIdentity struct {
	// TenantID is the tenant the agent joins.
	TenantID string
	// TokenID identifies the enrollment token within its tenant.
	TokenID string
	// Labels are the token's labels, to attach to the agent. The map is the
	// caller's.
	Labels map[string]string
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// KeyActor returns the actor name of an API key: "key:" + its ID.
func KeyActor(keyID string) string { return "key:" + keyID }
