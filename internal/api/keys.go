package api

import (
	"encoding/json"
	"net/http"
	"runtime"
	"time"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// APIKey describes a key; Secret is set only in the response that created it.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	Secret     string     `json:"secret,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// APIKeyList lists a tenant's keys.
type APIKeyList struct {
	Items []APIKey `json:"items"`
}

// APIKeyCreate is the body of POST /api/v1/apikeys.
type APIKeyCreate struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Token describes an agent enrollment token; Secret is set only in the
// response that created it.
type Token struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Prefix    string            `json:"prefix"`
	Labels    map[string]string `json:"labels,omitempty"`
	Secret    string            `json:"secret,omitempty"`
	CreatedBy string            `json:"created_by,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
}

// TokenList lists a tenant's enrollment tokens.
type TokenList struct {
	Items []Token `json:"items"`
}

// TokenCreate is the body of POST /api/v1/tokens.
type TokenCreate struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID           string          `json:"id"`
	At           time.Time       `json:"at"`
	Actor        string          `json:"actor"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type,omitempty"`
	ResourceID   string          `json:"resource_id,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
}

// AuditList is a page of the audit log.
type AuditList struct {
	Items      []AuditEntry `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// VersionInfo is the server's version.
type VersionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
}

func (a *API) keyRoutes() []*route {
	return []*route{
		{Method: "POST", Path: "/api/v1/apikeys", Summary: "Create an API key (its secret is shown once)", Tag: "apikeys", Resource: "apikeys", Action: "write",
			Request: APIKeyCreate{}, Response: APIKey{}, Status: http.StatusCreated, Handle: a.apiKeyCreate},
		{Method: "GET", Path: "/api/v1/apikeys", Summary: "List API keys", Tag: "apikeys", Resource: "apikeys", Action: "read",
			Response: APIKeyList{}, Handle: a.apiKeyList},
		{Method: "DELETE", Path: "/api/v1/apikeys/{id}", Summary: "Revoke an API key", Tag: "apikeys", Resource: "apikeys", Action: "write",
			Response: APIKey{}, Handle: a.apiKeyRevoke},
		{Method: "POST", Path: "/api/v1/tokens", Summary: "Create an agent enrollment token (its secret is shown once)", Tag: "tokens", Resource: "tokens", Action: "write",
			Request: TokenCreate{}, Response: Token{}, Status: http.StatusCreated, Handle: a.tokenCreate},
		{Method: "GET", Path: "/api/v1/tokens", Summary: "List enrollment tokens", Tag: "tokens", Resource: "tokens", Action: "read",
			Response: TokenList{}, Handle: a.tokenList},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Summary: "Revoke an enrollment token; its agents are disconnected", Tag: "tokens", Resource: "tokens", Action: "write",
			Response: Token{}, Handle: a.tokenRevoke},
		{Method: "GET", Path: "/api/v1/audit", Summary: "List the audit log, newest first", Tag: "audit", Resource: "audit", Action: "read",
			Response: AuditList{}, Query: []string{"cursor", "limit"}, Handle: a.auditList},
		{Method: "GET", Path: "/api/v1/version", Summary: "Get the server's version", Tag: "meta", Resource: "experiments", Action: "read",
			Response: VersionInfo{}, Handle: a.version},
	}
}

func apiKeyOut(k *store.APIKey, secret string) APIKey {
	return APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Role: k.Role, Secret: secret, CreatedBy: k.CreatedBy,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func tokenOut(t *store.EnrollmentToken, secret string) Token {
	return Token{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Labels: t.Labels, Secret: secret, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

func (a *API) apiKeyCreate(c *call) (any, error) {
	var in APIKeyCreate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	secret, k, err := auth.CreateAPIKey(c.r.Context(), a.deps.Store, c.tenant(), in.Name, in.Role, c.actor(), in.ExpiresAt)
	if err != nil {
		return nil, err
	}
	a.audit(c, "apikey.create", "apikey", k.ID, map[string]any{"role": k.Role})
	return apiKeyOut(k, secret), nil
}

func (a *API) apiKeyList(c *call) (any, error) {
	keys, err := a.deps.Store.APIKeyList(c.r.Context(), c.tenant())
	if err != nil {
		return nil, err
	}
	out := APIKeyList{Items: make([]APIKey, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, apiKeyOut(k, ""))
	}
	return out, nil
}

func (a *API) apiKeyRevoke(c *call) (any, error) {
	id := c.r.PathValue("id")
	k, err := a.deps.Store.APIKeyRevoke(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "api key", id)
	}
	a.audit(c, "apikey.revoke", "apikey", id, nil)
	return apiKeyOut(k, ""), nil
}

func (a *API) tokenCreate(c *call) (any, error) {
	var in TokenCreate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	secret, t, err := auth.CreateEnrollmentToken(c.r.Context(), a.deps.Store, c.tenant(), in.Name, c.actor(), in.Labels, in.ExpiresAt)
	if err != nil {
		return nil, err
	}
	a.audit(c, "token.create", "token", t.ID, nil)
	return tokenOut(t, secret), nil
}

func (a *API) tokenList(c *call) (any, error) {
	toks, err := a.deps.Store.EnrollmentTokenList(c.r.Context(), c.tenant())
	if err != nil {
		return nil, err
	}
	out := TokenList{Items: make([]Token, 0, len(toks))}
	for _, t := range toks {
		out.Items = append(out.Items, tokenOut(t, ""))
	}
	return out, nil
}

func (a *API) tokenRevoke(c *call) (any, error) {
	id := c.r.PathValue("id")
	t, err := a.deps.Store.EnrollmentTokenRevoke(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "token", id)
	}
	if a.deps.OnTokenRevoked != nil {
		a.deps.OnTokenRevoked(c.tenant(), id)
	}
	a.audit(c, "token.revoke", "token", id, nil)
	return tokenOut(t, ""), nil
}

func (a *API) auditList(c *call) (any, error) {
	limit, err := c.limit()
	if err != nil {
		return nil, err
	}
	page, err := a.deps.Store.AuditLogList(c.r.Context(), &store.AuditLogListParams{
		TenantID: c.tenant(), Cursor: c.r.URL.Query().Get("cursor"), Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	out := AuditList{Items: make([]AuditEntry, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, e := range page.Items {
		out.Items = append(out.Items, AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Details: e.Details})
	}
	return out, nil
}

func (a *API) version(*call) (any, error) {
	return VersionInfo{Version: a.deps.Version, GoVersion: runtime.Version()}, nil
}
