package fleet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	clienttypes "github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

// recordingStore is the SQLite store with a log of every deployment state
// written, to observe transient states.
type recordingStore struct {
	store.Store
	mu     sync.Mutex
	states map[string][]string
}

func (r *recordingStore) DeploymentUpdate(ctx context.Context, p *store.DeploymentUpdateParams) (*store.Deployment, error) {
	d, err := r.Store.DeploymentUpdate(ctx, p)
	if err == nil && p.State != nil {
		r.mu.Lock()
		r.states[p.ID] = append(r.states[p.ID], *p.State)
		r.mu.Unlock()
	}
	return d, err
}

func (r *recordingStore) statesOf(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states[id]...)
}

// env is a fleet server on a loopback HTTP server over a SQLite store.
type env struct {
	t      testing.TB
	st     *recordingStore
	authn  *auth.Authenticator
	tenant string
	cfg    fleet.Config
	set    fleet.Settings
	srv    *httptest.Server
	cur    atomic.Pointer[fleet.Server]
}

// newEnv starts a fleet server with cfg (ExternalURL defaults to
// http://phoenix.test). The server's loops are not started: tests drive
// Reconcile and StepRollouts themselves unless they call start.
func newEnv(t testing.TB, cfg fleet.Config, set fleet.Settings) *env {
	t.Helper()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, sqlite.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	e := &env{t: t, st: &recordingStore{Store: sq, states: map[string][]string{}}, cfg: cfg, set: set}
	t.Cleanup(func() { _ = sq.Close() })
	ten, err := sq.TenantCreate(ctx, &store.TenantCreateParams{Name: "acme"})
	require.NoError(t, err)
	e.tenant = ten.ID
	e.authn = auth.NewAuthenticator(sq, auth.Settings{})
	if e.cfg.ExternalURL == "" && e.cfg.RemoteWriteURL == "" {
		e.cfg.ExternalURL = "http://phoenix.test"
	}
	e.newFleet()

	mux := http.NewServeMux()
	mux.Handle(fleet.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.cur.Load().Handler().ServeHTTP(w, r)
	}))
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return e.cur.Load().ConnContext(ctx, c)
	}
	e.srv.Start()
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
	})
	return e
}

// newFleet replaces the current fleet server with a new one over the
// same store (a restart), shutting the old one down.
func (e *env) newFleet() *fleet.Server {
	e.t.Helper()
	f, err := fleet.New(e.st, e.authn, e.cfg, e.set)
	require.NoError(e.t, err)
	if old := e.cur.Swap(f); old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(e.t, old.Shutdown(ctx))
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.Shutdown(ctx)
	})
	return f
}

func (e *env) fleet() *fleet.Server { return e.cur.Load() }

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + fleet.Path }

func (e *env) httpURL() string { return e.srv.URL + fleet.Path }

// token creates an enrollment token and returns its secret and ID.
func (e *env) token(labels map[string]string) (string, string) {
	e.t.Helper()
	secret, tok, err := auth.CreateEnrollmentToken(context.Background(), e.st, e.tenant, "agents", "test", labels, nil)
	require.NoError(e.t, err)
	return secret, tok.ID
}

// deployment stores a deployment.
func (e *env) deployment(state, pipelineRef string, selector map[string]string, rollout *fleet.Rollout) *store.Deployment {
	e.t.Helper()
	sel, _ := json.Marshal(selector)
	var doc json.RawMessage
	if rollout != nil {
		doc, _ = json.Marshal(rollout)
	}
	d, err := e.st.DeploymentCreate(context.Background(), &store.DeploymentCreateParams{
		TenantID: e.tenant, Name: pipelineRef, PipelineRef: pipelineRef, Selector: sel, State: state, Rollout: doc,
	})
	require.NoError(e.t, err)
	// CreatedAt has microsecond precision: keep creation order unambiguous.
	time.Sleep(2 * time.Millisecond)
	return d
}

// experiment stores an experiment in state.
func (e *env) experiment(state string, spec experiment.Spec) *experiment.Experiment {
	e.t.Helper()
	doc, err := json.Marshal(spec)
	require.NoError(e.t, err)
	se, err := e.st.ExperimentCreate(context.Background(), &store.ExperimentCreateParams{
		TenantID: e.tenant, Name: "exp", State: state, Spec: doc,
	})
	require.NoError(e.t, err)
	x, err := experiment.FromStore(se)
	require.NoError(e.t, err)
	return x
}

func (e *env) getDeployment(id string) *store.Deployment {
	e.t.Helper()
	d, err := e.st.DeploymentGet(context.Background(), e.tenant, id)
	require.NoError(e.t, err)
	return d
}

func (e *env) reconcile() {
	e.t.Helper()
	require.NoError(e.t, e.fleet().Reconcile(context.Background(), e.tenant))
}

// agentOpts describe a test agent.
type agentOpts struct {
	host string
	// attrs are non-identifying attributes.
	attrs map[string]string
	// http selects the plain-HTTP transport.
	http bool
	// noRemoteConfig leaves out the AcceptsRemoteConfig capability.
	noRemoteConfig bool
}

// testAgent is a plain opamp-go client that applies every configuration
// it receives unless failFor says otherwise.
type testAgent struct {
	t    testing.TB
	uid  clienttypes.InstanceUid
	c    client.OpAMPClient
	opts agentOpts

	failFor atomic.Pointer[func(collector []byte) string]

	mu          sync.Mutex
	received    []*protobufs.AgentRemoteConfig
	connectErrs []error
	connects    int
}

func (e *env) startAgent(secret string, o agentOpts) *testAgent {
	e.t.Helper()
	a := &testAgent{t: e.t, opts: o}
	_, _ = rand.Read(a.uid[:])
	url := e.wsURL()
	if o.http {
		a.c = client.NewHTTP(nil)
		url = e.httpURL()
	} else {
		a.c = client.NewWebSocket(nil)
	}
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if !o.noRemoteConfig {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig
	}
	require.NoError(e.t, a.c.SetHealth(&protobufs.ComponentHealth{Healthy: true, StartTimeUnixNano: uint64(time.Now().UnixNano())}))
	require.NoError(e.t, a.c.SetCapabilities(&caps))
	desc := &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			kv("service.name", "phoenix-agent"), kv("service.version", "1.2.3"), kv("host.name", o.host),
		},
	}
	for k, v := range o.attrs {
		desc.NonIdentifyingAttributes = append(desc.NonIdentifyingAttributes, kv(k, v))
	}
	require.NoError(e.t, a.c.SetAgentDescription(desc))
	interval := 50 * time.Millisecond
	err := a.c.Start(context.Background(), clienttypes.StartSettings{
		OpAMPServerURL:    url,
		Header:            http.Header{"Authorization": []string{"Bearer " + secret}},
		InstanceUid:       a.uid,
		HeartbeatInterval: &interval,
		Callbacks: clienttypes.Callbacks{
			OnConnect: func(context.Context) {
				a.mu.Lock()
				a.connects++
				a.mu.Unlock()
			},
			OnConnectFailed: func(_ context.Context, err error) {
				a.mu.Lock()
				a.connectErrs = append(a.connectErrs, err)
				a.mu.Unlock()
			},
			OnMessage:          a.onMessage,
			GetEffectiveConfig: a.effectiveConfig,
		},
	})
	require.NoError(e.t, err)
	e.t.Cleanup(a.stop)
	return a
}

func (a *testAgent) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.c.Stop(ctx)
}

func (a *testAgent) onMessage(_ context.Context, msg *clienttypes.MessageData) {
	rc := msg.RemoteConfig
	if rc == nil {
		return
	}
	a.mu.Lock()
	a.received = append(a.received, rc)
	a.mu.Unlock()
	status := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: rc.GetConfigHash(), Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}
	if f := a.failFor.Load(); f != nil {
		if reason := (*f)(collectorOf(rc)); reason != "" {
			status.Status, status.ErrorMessage = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, reason
		}
	}
	_ = a.c.SetRemoteConfigStatus(status)
	if status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED {
		_ = a.c.UpdateEffectiveConfig(context.Background())
	}
}

func (a *testAgent) effectiveConfig(context.Context) (*protobufs.EffectiveConfig, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	files := map[string]*protobufs.AgentConfigFile{}
	if n := len(a.received); n > 0 {
		files = a.received[n-1].GetConfig().GetConfigMap()
	}
	return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: files}}, nil
}

// failWhen makes the agent report failed for configurations for which f
// returns a reason.
func (a *testAgent) failWhen(f func(collector []byte) string) { a.failFor.Store(&f) }

func (a *testAgent) uidString() string {
	h := hex.EncodeToString(a.uid[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// last returns the last configuration received, or nil.
func (a *testAgent) last() *protobufs.AgentRemoteConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.received) == 0 {
		return nil
	}
	return a.received[len(a.received)-1]
}

func (a *testAgent) receivedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.received)
}

func (a *testAgent) lastCollector() string { return string(collectorOf(a.last())) }

func (a *testAgent) failedConnects() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.connectErrs...)
}

func collectorOf(rc *protobufs.AgentRemoteConfig) []byte {
	return rc.GetConfig().GetConfigMap()[fleet.CollectorConfigFile].GetBody()
}

// row returns the agent's store row, or nil.
func (e *env) row(a *testAgent) *store.Agent {
	r, err := e.st.AgentGet(context.Background(), e.tenant, a.uidString())
	if err != nil {
		return nil
	}
	return r
}

// appliedRow reports whether the agent's row says it applied the last
// configuration it received.
func (e *env) appliedRow(a *testAgent) bool {
	r, last := e.row(a), a.last()
	return r != nil && last != nil && r.RemoteConfigStatus == fleet.StatusApplied &&
		r.RemoteConfigHash == hex.EncodeToString(last.GetConfigHash())
}

// live returns the fleet's live record of the agent.
func (e *env) live(a *testAgent) (fleet.Agent, bool) {
	for _, g := range e.fleet().Agents(e.tenant) {
		if g.InstanceUID == a.uidString() {
			return g, true
		}
	}
	return fleet.Agent{}, false
}

// settled reports whether the agent applied what the fleet wants it to run.
func (e *env) settled(a *testAgent) bool {
	g, ok := e.live(a)
	return ok && g.DesiredConfigHash != "" && g.RemoteConfigHash == g.DesiredConfigHash && g.RemoteConfigStatus == fleet.StatusApplied
}

func refOf(name string, params map[string]any) experiment.PipelineRef {
	return experiment.PipelineRef{Name: name, Params: params}
}

func kv(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

const (
	wait = 15 * time.Second
	tick = 20 * time.Millisecond
)
