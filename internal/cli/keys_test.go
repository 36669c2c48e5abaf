package cli

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func TestAgentAPIKeyAndTokenCommands(t *testing.T) {
	te := newTestEnv(t)
	te.now = time.Now() // key expiries are checked against the server's clock
	s := te.session()
	ctx := context.Background()

	r := s.run("agent", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No agents.")
	_, err := te.srv.Store().AgentUpsert(ctx, &store.AgentUpsertParams{
		TenantID: te.tenant, InstanceUID: "01J0AGENTWEB1", HostName: "web-1", Labels: map[string]string{"env": "prod", "host.name": "web-1"},
		AgentVersion: "v1.2.3", Capabilities: 0x3f, Healthy: true, RemoteConfigStatus: "APPLIED", RemoteConfigHash: "abc123",
		EffectiveConfigHash: "abc123", Connected: true,
	})
	require.NoError(t, err)
	r = s.run("agent", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "web-1")
	r = s.run("agent", "list", "--connected", "false")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No agents.")
	r = s.run("agent", "list", "--connected", "maybe")
	require.Equal(t, ExitUsage, r.code)
	r = s.run("agent", "show", "01J0AGENTWEB1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "env=prod,host.name=web-1")
	r = s.run("agent", "show", "01J0AGENTWEB1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var agent map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &agent))
	require.Equal(t, "web-1", agent["host_name"])
	require.Equal(t, "APPLIED", agent["remote_config_status"])
	r = s.run("agent", "show", "nope")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "phoenix agent list")

	r = s.run("apikey", "create", "--name", "ci", "--role", "editor", "--expires", "90d")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "shown only this once")
	secret := secretRE.FindString(r.stdout)
	require.NotEmpty(t, secret)
	keyID := uuidRE.FindString(r.stdout)
	r = s.run("apikey", "create", "--name", "root", "--role", "god")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "role")
	r = s.run("apikey", "create", "--role", "viewer")
	require.Equal(t, ExitUsage, r.code)
	r = s.run("apikey", "create", "--name", "x", "--expires", "yesterday")
	require.Equal(t, ExitUsage, r.code)

	// The new key works, with its role.
	te.vars[envAPIKey] = secret
	r = s.run("experiment", "list")
	require.Equal(t, 0, r.code, r.stderr)
	r = s.run("apikey", "list")
	require.Equal(t, ExitFailed, r.code, "an editor may not manage keys")
	require.Contains(t, r.stderr, "FORBIDDEN")
	require.Contains(t, r.stderr, "hint: this API key's role does not allow it")
	te.vars[envAPIKey] = te.key

	r = s.run("apikey", "list", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var keys struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &keys))
	require.Len(t, keys.Items, 2)
	for _, k := range keys.Items {
		require.NotContains(t, k, "secret", "a listed key has no secret")
	}
	r = s.run("apikey", "revoke", keyID)
	require.Equal(t, 0, r.code, r.stderr)
	te.vars[envAPIKey] = secret
	r = s.run("experiment", "list")
	require.Equal(t, ExitFailed, r.code, "a revoked key is refused")
	require.Contains(t, r.stderr, "UNAUTHORIZED")
	require.Contains(t, r.stderr, "hint: the API key was refused")
	te.vars[envAPIKey] = te.key

	r = s.run("token", "create", "--name", "prod-web", "--label", "env=prod", "--label", "team=payments")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PHOENIX_AGENT_TOKEN=")
	tokID := uuidRE.FindString(r.stdout)
	r = s.run("token", "create", "--name", "dup", "--label", "env=a", "--label", "env=b")
	require.Equal(t, ExitUsage, r.code)
	r = s.run("token", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "env=prod,team=payments")
	r = s.run("token", "revoke", tokID, "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "revoked_at:")
	r = s.run("token", "revoke", "nope")
	require.Equal(t, ExitFailed, r.code)
	s.golden("keys")
}
