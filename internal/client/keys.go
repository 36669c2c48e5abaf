package client

import (
	"context"

	"github.com/phoenix/platform/internal/api"
)

// APIKeyCreate creates an API key; the answer's Secret is the only time the
// key is visible.
func (c *Client) APIKeyCreate(ctx context.Context, in api.APIKeyCreate) (*api.APIKey, error) {
	return call[api.APIKey](ctx, c, request{method: "POST", path: "/api/v1/apikeys", body: in})
}

// APIKeyList lists the tenant's API keys (without secrets).
func (c *Client) APIKeyList(ctx context.Context) (*api.APIKeyList, error) {
	return call[api.APIKeyList](ctx, c, request{method: "GET", path: "/api/v1/apikeys"})
}

// APIKeyRevoke revokes an API key and returns it as revoked.
func (c *Client) APIKeyRevoke(ctx context.Context, id string) (*api.APIKey, error) {
	return call[api.APIKey](ctx, c, request{method: "DELETE", path: "/api/v1/apikeys/" + pathID(id)})
}

// TokenCreate creates an agent enrollment token; the answer's Secret is the
// only time the token is visible.
func (c *Client) TokenCreate(ctx context.Context, in api.TokenCreate) (*api.Token, error) {
	return call[api.Token](ctx, c, request{method: "POST", path: "/api/v1/tokens", body: in})
}

// TokenList lists the tenant's enrollment tokens (without secrets).
func (c *Client) TokenList(ctx context.Context) (*api.TokenList, error) {
	return call[api.TokenList](ctx, c, request{method: "GET", path: "/api/v1/tokens"})
}

// TokenRevoke revokes an enrollment token; the server disconnects the
// agents that enrolled with it.
func (c *Client) TokenRevoke(ctx context.Context, id string) (*api.Token, error) {
	return call[api.Token](ctx, c, request{method: "DELETE", path: "/api/v1/tokens/" + pathID(id)})
}

// Version returns the server's version.
func (c *Client) Version(ctx context.Context) (*api.VersionInfo, error) {
	return call[api.VersionInfo](ctx, c, request{method: "GET", path: "/api/v1/version"})
}
