package fleet_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

func TestEnrollRegistersAgentWithLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(map[string]string{"env": "prod", "team": "core"})
	a := e.startAgent(secret, agentOpts{host: "web-1", attrs: map[string]string{"os.type": "linux", "role": "web", "env": "dev"}})

	var row *store.Agent
	require.Eventually(t, func() bool {
		row = e.row(a)
		return row != nil && row.Connected && e.appliedRow(a) && row.EffectiveConfigHash != ""
	}, wait, tick, "agent registered, applied its configuration and reported it effective")
	require.Equal(t, "web-1", row.HostName)
	require.Equal(t, "1.2.3", row.AgentVersion)
	require.Equal(t, map[string]string{
		"env": "prod", "team": "core", // the token's labels win over the agent's env=dev
		"host.name": "web-1", "os.type": "linux", "role": "web",
		"service.name": "phoenix-agent", "service.version": "1.2.3",
	}, row.Labels)
	require.NotZero(t, row.Capabilities&uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig))
	require.True(t, row.Healthy)
	require.NotEmpty(t, row.Health)
	require.NotEmpty(t, row.EffectiveConfigHash)

	// Without deployment the agent runs the baseline pipeline, and learns
	// where to remote-write its measurements.
	last := a.last()
	require.Contains(t, string(collectorOf(last)), "metrics/active")
	phx := last.GetConfig().GetConfigMap()[fleet.PhoenixConfigFile]
	require.Equal(t, fleet.ConfigContentType, phx.GetContentType())
	require.Equal(t, fleet.ConfigContentType, last.GetConfig().GetConfigMap()[fleet.CollectorConfigFile].GetContentType())
	var pc fleet.PhoenixConfig
	require.NoError(t, yaml.Unmarshal(phx.GetBody(), &pc))
	require.Equal(t, "http://phoenix.test/prometheus/api/v1/write", pc.RemoteWriteURL)
	require.Len(t, last.GetConfigHash(), 32)

	g, ok := e.live(a)
	require.True(t, ok)
	require.Equal(t, fleet.TransportWebSocket, g.Transport)
	require.Empty(t, g.DeploymentID)

	a.stop()
	require.Eventually(t, func() bool { r := e.row(a); return r != nil && !r.Connected }, wait, tick, "closing the WebSocket disconnects the agent")
}

func TestConnectionsWithoutValidTokenAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	ctx := context.Background()
	revoked, revokedID := e.token(nil)
	_, err := e.st.EnrollmentTokenRevoke(ctx, e.tenant, revokedID)
	require.NoError(t, err)
	expired, prefix, hash, err := auth.NewEnrollmentToken()
	require.NoError(t, err)
	past := time.Now().Add(-time.Hour)
	_, err = e.st.EnrollmentTokenCreate(ctx, &store.EnrollmentTokenCreateParams{TenantID: e.tenant, Name: "old", Prefix: prefix, Hash: hash, ExpiresAt: &past})
	require.NoError(t, err)
	unknown, _, _, err := auth.NewEnrollmentToken()
	require.NoError(t, err)
	apiKey, _, err := auth.CreateAPIKey(ctx, e.st, e.tenant, "ci", store.RoleAdmin, "test", nil)
	require.NoError(t, err)

	for _, tc := range []struct{ name, header string }{
		{"missing", ""},
		{"not bearer", "Basic abc"},
		{"malformed", "Bearer phxa_short"},
		{"unknown", "Bearer " + unknown},
		{"revoked", "Bearer " + revoked},
		{"expired", "Bearer " + expired},
		{"api key instead of token", "Bearer " + apiKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.httpURL(), strings.NewReader(""))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-protobuf")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}

	// A real agent with a revoked token is refused and never registered.
	a := e.startAgent(revoked, agentOpts{host: "intruder"})
	require.Eventually(t, func() bool { return len(a.failedConnects()) > 0 }, wait, tick)
	require.Nil(t, e.row(a))
	require.Equal(t, 0, e.fleet().Summary(e.tenant).Connected)
}

func TestRevokingTokenDisconnectsItsAgents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, id := e.token(nil)
	other, _ := e.token(nil)
	a := e.startAgent(secret, agentOpts{host: "h1"})
	b := e.startAgent(secret, agentOpts{host: "h2", http: true})
	keep := e.startAgent(other, agentOpts{host: "h3"})
	require.Eventually(t, func() bool {
		return e.appliedRow(a) && e.appliedRow(b) && e.appliedRow(keep)
	}, wait, tick)

	_, err := e.st.EnrollmentTokenRevoke(context.Background(), e.tenant, id)
	require.NoError(t, err)
	before := len(a.failedConnects())
	e.fleet().RevokeToken(e.tenant, id)

	require.Eventually(t, func() bool {
		ra, rb := e.row(a), e.row(b)
		return !ra.Connected && !rb.Connected
	}, wait, tick, "both agents of the revoked token are disconnected")
	require.Eventually(t, func() bool { return len(a.failedConnects()) > before }, wait, tick, "the agent's reconnection is refused")
	require.True(t, e.row(keep).Connected)
	require.Equal(t, 1, e.fleet().Summary(e.tenant).Connected)
}

func TestDeploymentConfigIsPushedAppliedAndOnlyResentOnChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(nil)
	db := e.startAgent(secret, agentOpts{host: "db-1", attrs: map[string]string{"role": "db"}})
	web := e.startAgent(secret, agentOpts{host: "web-1", attrs: map[string]string{"role": "web"}})
	require.Eventually(t, func() bool { return e.appliedRow(db) && e.appliedRow(web) }, wait, tick)
	baseline := db.last().GetConfigHash()
	webCount := web.receivedCount()

	d := e.deployment(fleet.DeploymentActive, "process-topk-v1", map[string]string{"role": "db"}, nil)
	e.reconcile()
	require.Eventually(t, func() bool {
		return contains(collectorOf(db.last()), "phoenix_topk/active") && e.appliedRow(db)
	}, wait, tick, "the selected agent receives the deployment's pipeline and reports it applied")
	require.NotEqual(t, hex.EncodeToString(baseline), hex.EncodeToString(db.last().GetConfigHash()))
	g, _ := e.live(db)
	require.Equal(t, d.ID, g.DeploymentID)
	require.True(t, e.settled(db))

	// Nothing changed: nothing is sent again, to either agent.
	count := db.receivedCount()
	for range 3 {
		e.reconcile()
	}
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, count, db.receivedCount())
	require.Equal(t, webCount, web.receivedCount(), "an agent no deployment selects keeps its configuration")

	// A change is sent once.
	e.deployment(fleet.DeploymentActive, "process-aggregated-v1", map[string]string{"role": "db", "host.name": "db-1"}, nil)
	e.reconcile()
	e.reconcile()
	require.Eventually(t, func() bool { return e.appliedRow(db) && e.settled(db) }, wait, tick)
	require.Equal(t, count+1, db.receivedCount())
	require.NotContains(t, db.lastCollector(), "phoenix_topk/active")
}

func TestPlainHTTPAgentGetsConfigInResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{StaleAfter: 400 * time.Millisecond}, fleet.Settings{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.fleet().Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-ran)
	})
	secret, _ := e.token(map[string]string{"pool": "http"})
	a := e.startAgent(secret, agentOpts{host: "poller", http: true})
	require.Eventually(t, func() bool { return e.appliedRow(a) && e.settled(a) }, wait, tick)
	g, _ := e.live(a)
	require.Equal(t, fleet.TransportHTTP, g.Transport)

	e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"pool": "http"}, nil)
	e.reconcile()
	require.Eventually(t, func() bool {
		return contains(collectorOf(a.last()), "phoenix_priority/active") && e.appliedRow(a) && e.settled(a)
	}, wait, tick, "the next poll carries the new configuration")
	count := a.receivedCount()
	time.Sleep(300 * time.Millisecond) // several polls
	require.Equal(t, count, a.receivedCount(), "polls do not resend an applied configuration")

	a.stop()
	require.Eventually(t, func() bool { return !e.row(a).Connected }, wait, tick, "the sweeper disconnects an agent that stopped polling")
}

func TestComposeErrorIsRecordedOnTheAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(nil)
	a := e.startAgent(secret, agentOpts{host: "h", attrs: map[string]string{"role": "x"}})
	require.Eventually(t, func() bool { return e.appliedRow(a) }, wait, tick)
	count := a.receivedCount()

	e.deployment(fleet.DeploymentActive, "no-such-pipeline", map[string]string{"role": "x"}, nil)
	e.reconcile()
	require.Eventually(t, func() bool {
		r := e.row(a)
		return r.RemoteConfigStatus == fleet.StatusFailed && strings.Contains(r.RemoteConfigMessage, "no-such-pipeline")
	}, wait, tick)
	g, _ := e.live(a)
	require.Contains(t, g.DesiredError, "unknown pipeline")
	require.Equal(t, count, a.receivedCount(), "nothing is pushed; the agent keeps its configuration")
	require.Equal(t, 1, e.fleet().Summary(e.tenant).Failed)
}

func TestOverlappingSelectorsMostSpecificThenNewestWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	secret, _ := e.token(map[string]string{"env": "prod"})
	db := e.startAgent(secret, agentOpts{host: "db-1", attrs: map[string]string{"role": "db"}})
	web := e.startAgent(secret, agentOpts{host: "web-1", attrs: map[string]string{"role": "web"}})
	solo := e.startAgent(secret, agentOpts{host: "solo", attrs: map[string]string{"role": "web"}})
	require.Eventually(t, func() bool { return e.appliedRow(db) && e.appliedRow(web) && e.appliedRow(solo) }, wait, tick)

	older := e.deployment(fleet.DeploymentActive, "process-baseline-v1", map[string]string{"env": "prod"}, nil)
	specific := e.deployment(fleet.DeploymentActive, "process-topk-v1", map[string]string{"env": "prod", "role": "db"}, nil)
	newer := e.deployment(fleet.DeploymentActive, "process-priority-filter-v1", map[string]string{"env": "prod"}, nil)
	host := e.deployment(fleet.DeploymentActive, "process-aggregated-v1", map[string]string{"host.name": "solo"}, nil)
	e.deployment(fleet.DeploymentPending, "process-adaptive-filter-v1", map[string]string{"env": "prod", "role": "db", "host.name": "db-1"}, nil)
	e.deployment(fleet.DeploymentRolledBack, "process-adaptive-filter-v1", map[string]string{"env": "prod", "role": "db", "host.name": "db-1"}, nil)
	e.reconcile()

	// db-1: two labels beat one. web-1: of the two {env: prod}, the newest.
	// solo: {host.name: solo} has one label too and is the newest.
	want := map[*testAgent]string{db: specific.ID, web: newer.ID, solo: host.ID}
	require.Eventually(t, func() bool {
		for a, id := range want {
			if g, ok := e.live(a); !ok || g.DeploymentID != id || !e.settled(a) {
				return false
			}
		}
		return true
	}, wait, tick)
	require.Contains(t, db.lastCollector(), "phoenix_topk/active")
	require.Contains(t, web.lastCollector(), "phoenix_priority/active")
	require.Contains(t, solo.lastCollector(), "phoenix_rollup/active")
	require.NotEqual(t, older.ID, newer.ID)

	st, err := e.fleet().Status(context.Background(), e.tenant, "db-1")
	require.NoError(t, err)
	require.Equal(t, specific.ID, st.DeploymentID)
	require.Equal(t, "process-topk-v1", st.Pipeline)
	require.Len(t, st.Agents, 1)
	_, err = e.fleet().Status(context.Background(), e.tenant, "never-seen")
	require.Error(t, err)
	hosts, err := e.fleet().Hosts(context.Background(), e.tenant)
	require.NoError(t, err)
	require.Len(t, hosts, 3)
	require.Equal(t, []string{"db-1", "solo", "web-1"}, []string{hosts[0].Host, hosts[1].Host, hosts[2].Host})
	require.Equal(t, host.ID, hosts[1].DeploymentID)
	require.Equal(t, "process-aggregated-v1", hosts[1].Pipeline)
	require.Equal(t, fleet.StatusApplied, hosts[2].Agents[0].RemoteConfigStatus)

	// A host whose agent left is answered from its last labels.
	solo.stop()
	require.Eventually(t, func() bool { return !e.row(solo).Connected }, wait, tick)
	st, err = e.fleet().Status(context.Background(), e.tenant, "solo")
	require.NoError(t, err)
	require.Empty(t, st.Agents)
	require.Equal(t, host.ID, st.DeploymentID)
}

func TestMatches(t *testing.T) {
	t.Parallel()
	labels := map[string]string{"env": "prod", "role": "db", "host.name": "db-1"}
	for _, tc := range []struct {
		name     string
		selector map[string]string
		want     bool
	}{
		{"empty selects all", nil, true},
		{"one label", map[string]string{"env": "prod"}, true},
		{"all labels", labels, true},
		{"wrong value", map[string]string{"env": "dev"}, false},
		{"missing key", map[string]string{"zone": "a"}, false},
		{"one of two wrong", map[string]string{"env": "prod", "role": "web"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, fleet.Matches(tc.selector, labels))
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  fleet.Config
		err  string
	}{
		{"external url", fleet.Config{ExternalURL: "https://phoenix.example.com"}, ""},
		{"remote write only", fleet.Config{RemoteWriteURL: "http://prom:9090/api/v1/write"}, ""},
		{"neither", fleet.Config{}, "external_url: required unless remote_write_url is set"},
		{"bad url", fleet.Config{ExternalURL: "phoenix:8080"}, "external_url:"},
		{"short interval", fleet.Config{ExternalURL: "http://x", CollectionInterval: time.Millisecond}, "collection_interval: must be at least 1s"},
		{"negative", fleet.Config{ExternalURL: "http://x", StaleAfter: -time.Second}, "stale_after: must not be negative"},
		{"writers", fleet.Config{ExternalURL: "http://x", StoreWriters: -1}, "store_writers:"},
		{"exporter id", fleet.Config{ExternalURL: "http://x", Exporters: []pipeline.Exporter{{ID: " "}}}, "exporters[0].id: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestResolvePipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fleet.Config{}, fleet.Settings{})
	ctx := context.Background()
	_, err := e.st.PipelineCreate(ctx, &store.PipelineCreateParams{
		TenantID: e.tenant, Name: "mine",
		Config: []byte(`{"name":"mine","processors":[{"phoenix_topk":{"k":5}}]}`),
	})
	require.NoError(t, err)

	s, err := fleet.ResolvePipeline(ctx, e.st, nil, e.tenant, refOf("process-topk-v1", map[string]any{"k": 7}))
	require.NoError(t, err)
	require.Equal(t, pipeline.CatalogSpec("process-topk-v1", map[string]any{"k": 7}), s)

	s, err = fleet.ResolvePipeline(ctx, e.st, nil, e.tenant, refOf("mine", nil))
	require.NoError(t, err)
	require.NotNil(t, s.Document)
	require.Equal(t, "phoenix_topk", s.Document.Processors[0].ID)

	_, err = fleet.ResolvePipeline(ctx, e.st, nil, e.tenant, refOf("nope", nil))
	require.ErrorIs(t, err, fleet.ErrUnknownPipeline)
	_, err = fleet.ResolvePipeline(ctx, e.st, nil, e.tenant, refOf("mine", map[string]any{"k": 1}))
	require.ErrorContains(t, err, "takes no params")
	var ve *pipeline.ValidationError
	_, err = fleet.ResolvePipeline(ctx, e.st, nil, e.tenant, refOf("process-topk-v1", map[string]any{"k": 0}))
	require.ErrorAs(t, err, &ve)
}
