package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	clienttypes "github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	opamp "github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// Path is where the caller mounts [Server.Handler].
const Path = "/v1/opamp"

// MaxMessageBytes bounds a plain-HTTP OpAMP message.
const MaxMessageBytes = 8 << 20

// Server is the OpAMP server side of Phoenix's fleet: it authenticates
// agents by enrollment token, keeps the agent registry, computes what each
// agent runs, pushes it, and drives deployments' rollouts. It implements
// [experiment.Deployer] through [Server.Deployer].
//
// It does not listen by itself: mount Handler at [Path] on the server's
// mux and set ConnContext as the http.Server's ConnContext. Start its
// loops with Start and stop them with Shutdown. All methods are safe for
// concurrent use.
type Server struct {
	cfg         Config
	st          store.Store
	authn       AgentAuthenticator
	log         *slog.Logger
	now         func() time.Time
	catalog     *pipeline.Catalog
	healthy     HealthFunc
	metrics     *metrics
	handler     opamp.HTTPHandlerFunc
	connCtx     opamp.ConnContext
	phoenixYAML []byte

	mu      sync.RWMutex
	agents  map[agentKey]*agent
	byToken map[tokenKey]map[*conn]struct{}

	nconnected atomic.Int64

	snapMu sync.Mutex
	snaps  map[string]*tenantSnap
	gen    atomic.Uint64

	templates *templateCache
	writer    *writer

	// baseCtx is cancelled by Shutdown after the last writes.
	baseCtx    context.Context
	baseCancel context.CancelFunc
	kick       chan struct{} // wakes the rollout loop

	lifeMu    sync.Mutex
	started   bool
	stopped   bool
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	writers   sync.WaitGroup
	stopWrit  chan struct{}
}

type tokenKey struct{ tenantID, tokenID string }

// New returns a Server over st that authenticates agents with authn.
func New(st store.Store, authn AgentAuthenticator, cfg Config, set Settings) (*Server, error) {
	if st == nil || authn == nil {
		return nil, errors.New("new fleet server: a store and an authenticator are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new fleet server: %w", err)
	}
	cfg = cfg.withDefaults()
	phx, err := yaml.Marshal(PhoenixConfig{RemoteWriteURL: cfg.RemoteWriteURL})
	if err != nil {
		return nil, fmt.Errorf("new fleet server: encode %s: %w", PhoenixConfigFile, err)
	}
	s := &Server{
		cfg: cfg, st: st, authn: authn, log: set.Logger, now: set.Now, catalog: pipeline.Default(), healthy: set.Healthy,
		phoenixYAML: phx,
		agents:      map[agentKey]*agent{},
		byToken:     map[tokenKey]map[*conn]struct{}{},
		snaps:       map[string]*tenantSnap{},
		writer:      newWriter(),
		kick:        make(chan struct{}, 1),
		stopWrit:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	if err := pipeline.ValidateAssignment(pipeline.Assignment{CollectionInterval: cfg.CollectionInterval, Exporters: cfg.Exporters}); err != nil {
		return nil, fmt.Errorf("new fleet server: %w", err)
	}
	if s.metrics, err = newMetrics(s, set.Registerer); err != nil {
		return nil, fmt.Errorf("new fleet server: %w", err)
	}
	s.templates = &templateCache{m: map[string]*template{}, composed: func(err error) {
		if err != nil {
			s.metrics.composeErrors.Inc()
		}
	}}

	srv := opamp.New(logger{s.log})
	s.handler, s.connCtx, err = srv.Attach(opamp.Settings{Callbacks: types.Callbacks{OnConnecting: s.onConnecting}})
	if err != nil {
		return nil, fmt.Errorf("new fleet server: attach opamp: %w", err)
	}
	// Agent status is written from the first message on, Start or not.
	for range cfg.StoreWriters {
		s.writers.Go(func() { s.runWriter(s.stopWrit) })
	}
	return s, nil
}

// Handler is the OpAMP endpoint (WebSocket and plain HTTP). Mount it at
// [Path]. The http.Server serving it must use [Server.ConnContext].
//
// A plain-HTTP message larger than MaxMessageBytes is refused.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxMessageBytes)
		}
		s.handler(w, r)
	})
}

// ConnContext must be the ConnContext of the http.Server serving Handler
// (chain it if the server has its own): plain-HTTP OpAMP requests find
// their connection through it.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return s.connCtx(ctx, c)
}

// Deployer returns the server as an [experiment.Deployer].
func (s *Server) Deployer() *Deployer { return &Deployer{s: s} }

// Start starts the reconcile loop (every ReconcileEvery), the sweeper
// (every StaleAfter/4) and the rollout loop (every RolloutEvery, while
// this process holds the store's "fleet-rollouts" leadership). It returns
// at once; ctx only carries values to the loops, which run until
// Shutdown. Calling Start twice, or after Shutdown, is an error.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.started || s.stopped {
		return errors.New("start fleet server: already started or shut down")
	}
	s.started = true
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopLoops = cancel
	s.loops.Go(func() { s.every(loopCtx, s.cfg.ReconcileEvery, nil, s.reconcileAll) })
	s.loops.Go(func() {
		s.every(loopCtx, max(s.cfg.StaleAfter/4, 10*time.Millisecond), nil, func(context.Context) {
			if err := s.sweep(); err != nil {
				s.log.Warn("sweep agents", "err", err)
			}
		})
	})
	s.loops.Go(func() { s.runRollouts(loopCtx) })
	return nil
}

// Run starts the server's loops, waits until ctx is done, then shuts the
// server down (within 10s); for callers that do not compose Start and
// Shutdown themselves.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// every runs f every period (and when kick fires) until ctx is done.
func (s *Server) every(ctx context.Context, period time.Duration, kick <-chan struct{}, f func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		f(ctx)
	}
}

// reconcileAll reconciles every tenant with agents on this server.
func (s *Server) reconcileAll(ctx context.Context) {
	for _, t := range s.tenants() {
		if err := s.Reconcile(ctx, t); err != nil {
			s.log.Warn("reconcile", "tenant_id", t, "err", err)
		}
	}
}

// Shutdown stops the loops, closes every agent's WebSocket (the agents
// reconnect to another replica or when the server returns), and writes
// the agents' last status to the store. It is idempotent and safe without
// Start; ctx bounds the wait.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lifeMu.Lock()
	first := !s.stopped
	if first {
		s.stopped = true
		if s.stopLoops != nil {
			s.stopLoops()
		}
	}
	s.lifeMu.Unlock()

	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("shut down fleet server: %w", ctx.Err())
	}
	if first {
		var conns []*conn
		s.mu.RLock()
		for _, set := range s.byToken {
			for c := range set {
				conns = append(conns, c)
			}
		}
		s.mu.RUnlock()
		for _, c := range conns {
			if !c.http {
				_ = c.oc.Disconnect()
			}
		}
		// Record the disconnections now: the connections' close callbacks
		// may run after the writers stopped.
		s.mu.RLock()
		for _, a := range s.agents {
			a.mu.Lock()
			if a.connected && a.conn != nil {
				a.conn, a.changed = nil, true
				s.setConnected(a, false)
				s.markDirty(a)
			}
			a.mu.Unlock()
		}
		s.mu.RUnlock()
		close(s.stopWrit)
	}
	wdone := make(chan struct{})
	go func() {
		s.writers.Wait()
		close(wdone)
	}()
	select {
	case <-wdone:
		s.baseCancel()
		return nil
	case <-ctx.Done():
		s.baseCancel()
		return fmt.Errorf("shut down fleet server: agent status writes pending: %w", ctx.Err())
	}
}

// onConnecting authenticates a new connection by its enrollment token.
func (s *Server) onConnecting(r *http.Request) types.ConnectionResponse {
	s.lifeMu.Lock()
	stopped := s.stopped
	s.lifeMu.Unlock()
	if stopped {
		return types.ConnectionResponse{HTTPStatusCode: http.StatusServiceUnavailable, HTTPResponseHeader: map[string]string{"Retry-After": "5"}}
	}
	id, err := s.authn.AuthenticateAgent(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		s.metrics.refused.Inc()
		status := apierror.From(err).HTTPStatus()
		resp := types.ConnectionResponse{HTTPStatusCode: status}
		if status >= 500 {
			s.log.Warn("authenticate agent", "remote", r.RemoteAddr, "err", err)
			resp.HTTPStatusCode = http.StatusServiceUnavailable
			resp.HTTPResponseHeader = map[string]string{"Retry-After": "30"}
		} else {
			s.log.Debug("agent refused", "remote", r.RemoteAddr, "err", err)
		}
		return resp
	}
	c := &conn{id: id, http: r.Header.Get("Content-Type") == "application/x-protobuf"}
	return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
		OnConnected: func(_ context.Context, oc types.Connection) {
			c.oc = oc
			k := tokenKey{id.TenantID, id.TokenID}
			s.mu.Lock()
			if s.byToken[k] == nil {
				s.byToken[k] = map[*conn]struct{}{}
			}
			s.byToken[k][c] = struct{}{}
			s.mu.Unlock()
		},
		OnMessage: func(ctx context.Context, _ types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
			return s.onMessage(ctx, c, msg)
		},
		OnConnectionClose: func(types.Connection) { s.onClose(c) },
	}}
}

// onMessage records a message and answers it. A WebSocket agent gets its
// configuration pushed through the connection (serialised with the
// reconcile loop's pushes); a plain-HTTP agent gets it in the response.
func (s *Server) onMessage(ctx context.Context, c *conn, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	a, full := s.ingest(c, msg)
	if a == nil {
		return &protobufs.ServerToAgent{ErrorResponse: &protobufs.ServerErrorResponse{
			Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: "instance_uid is required",
		}}
	}
	var resp *protobufs.ServerToAgent
	if full {
		resp = &protobufs.ServerToAgent{Flags: uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)}
	}
	if sn, err := s.snapshot(ctx, a.tenantID, false); err != nil {
		s.log.Warn("load desired configuration", "tenant_id", a.tenantID, "err", err)
	} else {
		s.refreshDesired(a, sn)
	}
	if !c.http {
		if _, err := s.push(a); err != nil {
			s.log.Warn("push configuration", "tenant_id", a.tenantID, "instance_uid", a.uid, "err", err)
		}
		return resp
	}
	if resp == nil {
		resp = &protobufs.ServerToAgent{}
	}
	resp.RemoteConfig = s.pollConfig(a)
	return resp
}

// pollConfig returns the configuration to put in a plain-HTTP response,
// or nil.
func (s *Server) pollConfig(a *agent) *protobufs.AgentRemoteConfig {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	if a.transport != TransportHTTP || !s.shouldPush(a) {
		a.mu.Unlock()
		return nil
	}
	t, host, hash, exps := a.tmpl, a.tmplHost, a.desiredHash, a.experiments
	a.mu.Unlock()
	rc, err := s.remoteConfig(t, host, hash)
	if err != nil {
		s.log.Warn("build configuration", "tenant_id", a.tenantID, "instance_uid", a.uid, "err", err)
		return nil
	}
	s.metrics.pushes.Inc()
	a.mu.Lock()
	a.sentHash, a.sentExps, a.sentAt = hash, exps, s.now()
	a.mu.Unlock()
	return rc
}

// onClose forgets a connection. A closed WebSocket disconnects its agent;
// a plain-HTTP agent stays connected while it keeps polling.
func (s *Server) onClose(c *conn) {
	s.mu.Lock()
	k := tokenKey{c.id.TenantID, c.id.TokenID}
	delete(s.byToken[k], c)
	if len(s.byToken[k]) == 0 {
		delete(s.byToken, k)
	}
	s.mu.Unlock()
	c.mu.Lock()
	a := c.ag
	c.mu.Unlock()
	if a != nil {
		s.detach(a, c)
	}
}

// RevokeToken disconnects every agent that enrolled with the token: open
// WebSockets are closed and plain-HTTP agents are marked disconnected.
// Their next connection is refused by the authenticator, which reads the
// revocation from the store. The API calls it after revoking a token.
func (s *Server) RevokeToken(tenantID, tokenID string) {
	k := tokenKey{tenantID, tokenID}
	s.mu.RLock()
	var conns []*conn
	for c := range s.byToken[k] {
		conns = append(conns, c)
	}
	var polling []*agent
	for ak, a := range s.agents {
		if ak.tenantID == tenantID {
			polling = append(polling, a)
		}
	}
	s.mu.RUnlock()
	for _, c := range conns {
		if !c.http {
			_ = c.oc.Disconnect()
		}
	}
	for _, a := range polling {
		a.mu.Lock()
		if a.tokenID == tokenID && a.connected && a.transport == TransportHTTP {
			s.setConnected(a, false)
			a.changed = true
			s.markDirty(a)
		}
		a.mu.Unlock()
	}
	s.log.Info("enrollment token revoked: agents disconnected", "tenant_id", tenantID, "token_id", tokenID, "connections", len(conns))
}

// metrics are the fleet's own Prometheus metrics.
type metrics struct {
	pushes        prometheus.Counter
	pushErrors    prometheus.Counter
	refused       prometheus.Counter
	storeErrors   prometheus.Counter
	composeErrors prometheus.Counter
}

func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_fleet_config_pushes_total", Help: "Remote configurations sent to agents.",
		}),
		pushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_fleet_config_push_errors_total", Help: "Remote configurations that could not be sent.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_fleet_connections_refused_total", Help: "OpAMP connections refused for missing, unknown, revoked or expired enrollment tokens.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_fleet_store_write_errors_total", Help: "Agent status writes the store refused.",
		}),
		composeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_fleet_compose_errors_total", Help: "Agent assignments that could not be composed into a collector configuration.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.pushes, m.pushErrors, m.refused, m.storeErrors, m.composeErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "phoenix_fleet_agents_connected", Help: "Agents connected to this server.",
		}, func() float64 { return float64(s.connectedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "phoenix_fleet_store_writes_pending", Help: "Agent status changes not yet written to the store.",
		}, func() float64 { return float64(s.writer.pending()) }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register fleet metrics: %w", err)
		}
	}
	return m, nil
}

// connectedCount counts the agents connected to this server.
func (s *Server) connectedCount() int { return int(s.nconnected.Load()) }

// logger adapts slog to the OpAMP library's logger.
type logger struct{ l *slog.Logger }

var _ clienttypes.Logger = logger{}

func (l logger) Debugf(ctx context.Context, format string, v ...any) {
	l.l.DebugContext(ctx, "opamp: "+fmt.Sprintf(format, v...))
}

func (l logger) Errorf(ctx context.Context, format string, v ...any) {
	l.l.WarnContext(ctx, "opamp: "+fmt.Sprintf(format, v...))
}

// contextWithTimeout is context.WithTimeout; a non-positive timeout means
// no deadline.
func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
