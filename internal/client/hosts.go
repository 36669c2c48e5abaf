package client

import (
	"context"

	"github.com/phoenix/platform/internal/api"
)

// HostList returns every host with a connected agent: its active pipeline,
// status and latest figures.
func (c *Client) HostList(ctx context.Context) (*api.HostList, error) {
	return call[api.HostList](ctx, c, request{method: "GET", path: "/api/v1/hosts"})
}

// HostGet returns what one host runs and sends.
func (c *Client) HostGet(ctx context.Context, host string) (*api.Host, error) {
	return call[api.Host](ctx, c, request{method: "GET", path: "/api/v1/hosts/" + pathID(host)})
}

// HostConfig returns the collector configuration the fleet computes for a
// host.
func (c *Client) HostConfig(ctx context.Context, host string) (*api.HostConfig, error) {
	return call[api.HostConfig](ctx, c, request{method: "GET", path: "/api/v1/hosts/" + pathID(host) + "/config"})
}
