package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/phoenix/platform/collector/measure"
	"github.com/phoenix/platform/internal/version"
)

// Capabilities are what the agent announces to the server.
const Capabilities = protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
	protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
	protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
	protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
	protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig

// clientStopTimeout bounds the OpAMP client's goodbye at shutdown.
const clientStopTimeout = 5 * time.Second

// Agent is the Phoenix agent of one host. Run runs it until its context
// is done or Shutdown is called; an Agent runs once.
type Agent struct {
	cfg      Config
	set      Settings
	log      *slog.Logger
	opampURL string

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}

	uid       atomic.Pointer[[16]byte]
	connected atomic.Bool
	sup       atomic.Pointer[supervisor]
}

// New checks cfg and returns an Agent; nothing starts before Run.
func New(cfg Config, set Settings) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	u, err := OpAMPURL(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("agent config: server: %w", err)
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if set.HTTPClient == nil {
		set.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if set.Version == "" {
		set.Version = version.Version
	}
	cfg.Labels = maps.Clone(cfg.Labels)
	cfg.InitialConfig = slices.Clone(cfg.InitialConfig)
	return &Agent{cfg: cfg, set: set, log: set.Logger, opampURL: u, done: make(chan struct{})}, nil
}

// Run starts the collector on the last-known-good configuration (or the
// initial one), connects to the server and supervises the collector until
// ctx is done or Shutdown is called. It returns nil after a requested
// stop and an error when the agent cannot start: an unusable state
// directory, or no configuration that starts.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("agent already started")
	}
	a.started = true
	if a.stopped {
		a.mu.Unlock()
		close(a.done)
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	a.mu.Unlock()
	defer close(a.done)
	defer cancel()

	st, err := openState(a.cfg.StateDir)
	if err != nil {
		return err
	}
	uid, err := st.instanceUID()
	if err != nil {
		return err
	}
	a.uid.Store(&uid)
	lkg, err := st.loadLKG()
	if err != nil {
		a.log.Error("ignoring the last-known-good configuration", "err", err)
		lkg = nil
	}
	initial := a.cfg.InitialConfig
	if initial == nil {
		if initial, err = BaselineConfig(a.cfg.HostName); err != nil {
			return err
		}
	}
	fallback := newRemoteConfig(nil, initial, nil)
	if fallback.err != nil {
		return fmt.Errorf("initial configuration: %w", fallback.err)
	}

	unregister, err := registerSelf(a.cfg.HostName)
	if err != nil {
		return fmt.Errorf("register agent measurements: %w", err)
	}
	defer unregister()

	rep := &opampReporter{start: time.Now()}
	ship := newShipper(measure.Default(), a.set.HTTPClient, a.cfg.Token, a.log.With("component", "remote_write"), rep.remoteWriteResult)
	sup := newSupervisor(supervisorSettings{
		log:          a.log,
		factories:    a.set.Factories,
		version:      a.set.Version,
		grace:        a.cfg.GracePeriod,
		startTimeout: a.cfg.StartTimeout,
		gatherer:     measure.Default(),
		state:        st,
		report:       rep,
		use:          ship.use,
	})
	a.sup.Store(sup)
	if err := sup.begin(ctx, lkg, fallback); err != nil {
		return err
	}

	var wg sync.WaitGroup
	supCtx, stopSup := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(2)
	go func() {
		defer wg.Done()
		sup.run(supCtx)
	}()
	go func() {
		defer wg.Done()
		ship.run(supCtx)
	}()
	defer func() {
		stopSup()
		wg.Wait()
	}()

	c := client.NewWebSocket(opampLogger{a.log.With("component", "opamp")})
	if err := a.startClient(ctx, c, rep, st, sup); err != nil {
		return err
	}
	a.log.Info("agent started", "server", a.opampURL, "instance_uid", formatUUID(uid), "host", a.cfg.HostName)
	<-ctx.Done()

	rep.stop()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), clientStopTimeout)
	defer scancel()
	if err := c.Stop(sctx); err != nil {
		a.log.Warn("stop OpAMP client", "err", err)
	}
	a.connected.Store(false)
	a.log.Info("agent stopping")
	return nil
}

// startClient configures and starts the OpAMP client.
func (a *Agent) startClient(ctx context.Context, c client.OpAMPClient, rep *opampReporter, st *state, sup *supervisor) error {
	uid := *a.uid.Load()
	if err := c.SetAgentDescription(a.description(uid)); err != nil {
		return fmt.Errorf("opamp: set description: %w", err)
	}
	// Health first: the ReportsHealth capability requires it.
	if err := c.SetHealth(rep.combinedHealth()); err != nil {
		return fmt.Errorf("opamp: set health: %w", err)
	}
	caps := Capabilities
	if err := c.SetCapabilities(&caps); err != nil {
		return fmt.Errorf("opamp: set capabilities: %w", err)
	}
	settings := types.StartSettings{
		OpAMPServerURL:     a.opampURL,
		Header:             http.Header{"Authorization": {"Bearer " + a.cfg.Token}},
		InstanceUid:        types.InstanceUid(uid),
		RemoteConfigStatus: rep.currentStatus(),
		Callbacks: types.Callbacks{
			OnConnect: func(ctx context.Context) {
				a.connected.Store(true)
				a.log.Info("connected to the server", "server", a.opampURL)
			},
			OnConnectFailed: func(ctx context.Context, err error) {
				a.connected.Store(false)
			},
			OnError: func(ctx context.Context, e *protobufs.ServerErrorResponse) {
				a.log.Warn("server reported an error", "type", e.GetType().String(), "message", e.GetErrorMessage())
			},
			OnMessage: func(ctx context.Context, msg *types.MessageData) {
				if id := msg.AgentIdentification; id != nil {
					a.reidentify(c, st, id.GetNewInstanceUid())
				}
				if msg.RemoteConfig != nil {
					sup.offer(fromOpAMP(msg.RemoteConfig))
				}
			},
			GetEffectiveConfig: func(ctx context.Context) (*protobufs.EffectiveConfig, error) {
				return rep.currentEffective(), nil
			},
		},
	}
	if err := c.Start(ctx, settings); err != nil {
		return fmt.Errorf("opamp: start client: %w", err)
	}
	rep.attach(c)
	return nil
}

// reidentify adopts an instance UID assigned by the server.
func (a *Agent) reidentify(c client.OpAMPClient, st *state, b []byte) {
	if len(b) != 16 {
		a.log.Warn("server assigned an invalid instance UID; keeping ours", "bytes", len(b))
		return
	}
	var uid [16]byte
	copy(uid[:], b)
	if err := st.setInstanceUID(uid); err != nil {
		a.log.Error("persist the instance UID assigned by the server", "err", err)
	}
	a.uid.Store(&uid)
	if err := c.SetAgentDescription(a.description(uid)); err != nil {
		a.log.Warn("update agent description", "err", err)
	}
	a.log.Info("server assigned a new instance UID", "instance_uid", formatUUID(uid))
}

// description is the agent description of the contract.
func (a *Agent) description(uid [16]byte) *protobufs.AgentDescription {
	kv := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	d := &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			kv(AttrServiceName, ServiceName),
			kv(AttrServiceInstanceID, formatUUID(uid)),
			kv(AttrHostName, a.cfg.HostName),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			kv(AttrServiceVersion, a.set.Version),
			kv(AttrOSType, runtime.GOOS),
			kv(AttrHostArch, hostArch(runtime.GOARCH)),
		},
	}
	for _, k := range slices.Sorted(maps.Keys(a.cfg.Labels)) {
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(k, a.cfg.Labels[k]))
	}
	return d
}

// hostArch maps GOARCH to the OpenTelemetry host.arch values.
func hostArch(goarch string) string {
	switch goarch {
	case "386":
		return "x86"
	case "arm":
		return "arm32"
	case "ppc64le":
		return "ppc64"
	}
	return goarch
}

// Shutdown stops Run and waits for it to return, or for ctx. It is safe to
// call more than once and without Run.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.stopped = true
	started, cancel := a.started, a.cancel
	a.mu.Unlock()
	if !started {
		return nil
	}
	if cancel != nil {
		cancel()
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down agent: %w", ctx.Err())
	}
}

// Status is a snapshot of a running agent.
type Status struct {
	// InstanceUID is the agent's OpAMP instance UID (canonical UUID).
	InstanceUID string
	// Connected reports whether the OpAMP connection is up.
	Connected bool
	// CollectorUp reports whether a collector runs.
	CollectorUp bool
	// ConfigHash is the hash of the running remote configuration; nil
	// while the initial configuration runs.
	ConfigHash []byte
	// CollectorConfig is the running collector configuration.
	CollectorConfig []byte
	// Probation reports whether the running configuration is still within
	// its grace period.
	Probation bool
	// LastKnownGoodHash is the hash of the last-known-good configuration;
	// nil when there is none.
	LastKnownGoodHash []byte
	// LastError is the latest configuration failure or collector stop;
	// empty once a configuration applies.
	LastError string
	// LastSwitch is how long the latest configuration change took from
	// stopping the old collector to the new one running.
	LastSwitch time.Duration
}

// Status returns a snapshot of the agent; the zero Status before Run.
func (a *Agent) Status() Status {
	var s Status
	if uid := a.uid.Load(); uid != nil {
		s.InstanceUID = formatUUID(*uid)
	}
	s.Connected = a.connected.Load()
	sup := a.sup.Load()
	if sup == nil {
		return s
	}
	st := sup.status()
	s.CollectorUp, s.Probation, s.LastError, s.LastSwitch = st.up, st.probation, st.lastError, st.lastSwitch
	s.LastKnownGoodHash = slices.Clone(st.lkgHash)
	if st.running != nil {
		s.ConfigHash = slices.Clone(st.running.hash)
		s.CollectorConfig = slices.Clone(st.running.collector)
	}
	return s
}

// opampReporter keeps what the agent reports and passes it to the OpAMP
// client once that runs. Until then the first message carries it.
type opampReporter struct {
	start time.Time

	// sendMu orders the calls into the client.
	sendMu sync.Mutex

	mu          sync.Mutex
	client      client.OpAMPClient
	stopped     bool
	status      *protobufs.RemoteConfigStatus
	effective   *protobufs.EffectiveConfig
	collector   *protobufs.ComponentHealth
	remoteWrite *protobufs.ComponentHealth
}

var _ reporter = (*opampReporter)(nil)

// attach starts passing reports to c, sending what changed since the
// client's first message was prepared.
func (r *opampReporter) attach(c client.OpAMPClient) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	r.client = c
	status, health := r.status, r.combinedHealthLocked()
	r.mu.Unlock()
	if status != nil {
		_ = c.SetRemoteConfigStatus(status)
	}
	_ = c.SetHealth(health)
	_ = c.UpdateEffectiveConfig(context.Background())
}

// stop ends the reporting.
func (r *opampReporter) stop() {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// live returns the client when reports go out.
func (r *opampReporter) live() client.OpAMPClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil
	}
	return r.client
}

func (r *opampReporter) configStatus(hash []byte, st protobufs.RemoteConfigStatuses, msg string) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	s := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: slices.Clone(hash), Status: st, ErrorMessage: msg}
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
	if c := r.live(); c != nil {
		_ = c.SetRemoteConfigStatus(s)
	}
}

func (r *opampReporter) effectiveConfig(c *remoteConfig) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	r.effective = c.effective()
	r.mu.Unlock()
	if cl := r.live(); cl != nil {
		_ = cl.UpdateEffectiveConfig(context.Background())
	}
}

func (r *opampReporter) collectorHealth(h *protobufs.ComponentHealth) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	r.collector = h
	health := r.combinedHealthLocked()
	r.mu.Unlock()
	if c := r.live(); c != nil {
		_ = c.SetHealth(health)
	}
}

// remoteWriteResult records the outcome of a remote-write request; the
// server hears of it when the outcome changes from success to failure or
// back.
func (r *opampReporter) remoteWriteResult(res shipResult) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	now := uint64(time.Now().UnixNano())
	r.mu.Lock()
	prev := r.remoteWrite
	if prev != nil && prev.GetHealthy() == res.ok {
		r.mu.Unlock()
		return
	}
	h := &protobufs.ComponentHealth{Healthy: res.ok, StatusTimeUnixNano: now, Status: "remote write ok"}
	if !res.ok {
		h.Status = "remote write failing"
		if res.err != nil {
			h.LastError = res.err.Error()
		}
	}
	r.remoteWrite = h
	health := r.combinedHealthLocked()
	r.mu.Unlock()
	if c := r.live(); c != nil {
		_ = c.SetHealth(health)
	}
}

func (r *opampReporter) combinedHealth() *protobufs.ComponentHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.combinedHealthLocked()
}

// combinedHealthLocked is the agent's health: the collector's, with the
// collector and the remote write as components.
func (r *opampReporter) combinedHealthLocked() *protobufs.ComponentHealth {
	h := &protobufs.ComponentHealth{
		StartTimeUnixNano:  uint64(r.start.UnixNano()),
		StatusTimeUnixNano: uint64(time.Now().UnixNano()),
		ComponentHealthMap: map[string]*protobufs.ComponentHealth{},
	}
	if c := r.collector; c != nil {
		h.Healthy, h.Status, h.LastError = c.GetHealthy(), c.GetStatus(), c.GetLastError()
		h.ComponentHealthMap["collector"] = c
	} else {
		h.Status = "starting"
	}
	if rw := r.remoteWrite; rw != nil {
		h.ComponentHealthMap["remote_write"] = rw
	}
	return h
}

func (r *opampReporter) currentStatus() *protobufs.RemoteConfigStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *opampReporter) currentEffective() *protobufs.EffectiveConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.effective
}
