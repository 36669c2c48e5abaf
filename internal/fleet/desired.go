package fleet

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// Files of the remote configuration pushed to every agent.
const (
	// CollectorConfigFile is the complete collector configuration
	// (pipeline.Compose's output).
	CollectorConfigFile = "collector.yaml"
	// PhoenixConfigFile is a [PhoenixConfig] in YAML: what the agent
	// itself needs besides the collector configuration.
	PhoenixConfigFile = "phoenix.yaml"
	// ConfigContentType is the content type of both files.
	ConfigContentType = "text/yaml"
)

// PhoenixConfig is the content of PhoenixConfigFile.
type PhoenixConfig struct {
	// RemoteWriteURL is where the agent remote-writes its measurements
	// (the phoenix_pipeline_* and phoenix_agent_* series).
	RemoteWriteURL string `yaml:"remote_write_url"`
}

// hostSentinel stands for the host name in a composed configuration that
// is shared by every host with the same assignment; rendering for one host
// replaces it. It is a plain YAML scalar that no pipeline contains.
const hostSentinel = "phoenix-host-7c1e5a9d3b2f4e60a8d1"

var hostSentinelBytes = []byte(hostSentinel)

// simpleHost matches host names that YAML writes on one line; any other
// host is composed on its own.
var simpleHost = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// maxTemplates bounds the composed configurations kept in memory.
const maxTemplates = 1024

// template is one composed collector configuration, shared by every agent
// whose assignment differs only in the host name.
type template struct {
	a     pipeline.Assignment
	exps  []string // experiment IDs it runs
	ready chan struct{}
	body  []byte
	err   error
}

// templateCache composes each distinct assignment once.
type templateCache struct {
	mu       sync.Mutex
	m        map[string]*template
	composed func(err error)
}

// get returns the template of a, composing it unless it is known; callers
// asking for the same assignment concurrently wait for one composition.
func (c *templateCache) get(a pipeline.Assignment, exps []string) *template {
	key, err := json.Marshal(a)
	if err != nil {
		return failed(fmt.Errorf("encode assignment: %w", err))
	}
	c.mu.Lock()
	t := c.m[string(key)]
	if t != nil {
		c.mu.Unlock()
		<-t.ready
		return t
	}
	if len(c.m) >= maxTemplates {
		c.m = make(map[string]*template)
	}
	t = &template{a: a, exps: exps, ready: make(chan struct{})}
	c.m[string(key)] = t
	c.mu.Unlock()
	composeMu.Lock()
	t.body, t.err = pipeline.Compose(a)
	composeMu.Unlock()
	close(t.ready)
	if c.composed != nil {
		c.composed(t.err)
	}
	return t
}

// composeMu serialises pipeline.Compose: validating a rendered
// configuration builds a hostmetrics receiver, whose factory writes
// gopsutil's process-wide boot-time cache switches without
// synchronisation.
var composeMu sync.Mutex

// failed returns a template standing for a configuration that cannot be
// composed.
func failed(err error) *template {
	t := &template{err: err, ready: make(chan struct{})}
	close(t.ready)
	return t
}

// render returns the collector configuration of t for one host.
func (s *Server) render(t *template, host string) ([]byte, error) {
	if t.err != nil {
		return nil, t.err
	}
	if !simpleHost.MatchString(host) && host != "" {
		a := t.a
		a.Host = host
		own := s.templates.get(a, t.exps)
		return own.body, own.err
	}
	v, err := yaml.Marshal(host)
	if err != nil {
		return nil, fmt.Errorf("encode host name %q: %w", host, err)
	}
	return bytes.ReplaceAll(t.body, hostSentinelBytes, bytes.TrimSuffix(v, []byte("\n"))), nil
}

// configHash is the SHA-256 of the two files of a remote configuration.
func configHash(collector, phoenix []byte) []byte {
	h := sha256.New()
	writeFile(h, CollectorConfigFile, collector)
	writeFile(h, PhoenixConfigFile, phoenix)
	return h.Sum(nil)
}

// deploymentEntry is a deployment as the desired-configuration computation
// sees it.
type deploymentEntry struct {
	d        *store.Deployment
	selector map[string]string
	spec     pipeline.Spec
	err      error // the deployment's pipeline cannot be resolved
	rollout  Rollout
	included map[string]bool // hosts a rolling-out deployment already runs on
}

// applies reports whether the entry's pipeline is a candidate for the
// host: an active deployment matching its labels, or a rolling-out one
// that reached it.
func (e *deploymentEntry) applies(host string, labels map[string]string) bool {
	switch e.d.State {
	case DeploymentActive:
		return Matches(e.selector, labels)
	case DeploymentRollingOut, DeploymentPaused:
		return e.included[host] && Matches(e.selector, labels)
	}
	return false
}

// precedes orders deployments by precedence: the most specific selector
// (most labels) first, then the newest, then the greatest ID.
func precedes(x, y *store.Deployment, xsel, ysel map[string]string) int {
	if c := cmp.Compare(len(ysel), len(xsel)); c != 0 {
		return c
	}
	if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(y.ID, x.ID)
}

// experimentEntry is a running experiment as the desired-configuration
// computation sees it.
type experimentEntry struct {
	id       string
	hosts    map[string]bool
	selector map[string]string
	pe       pipeline.Experiment
	err      error
}

// targets reports whether the experiment runs on the agent.
func (e *experimentEntry) targets(host string, labels map[string]string) bool {
	return (host != "" && e.hosts[host]) || (len(e.selector) > 0 && Matches(e.selector, labels))
}

// Matches reports whether labels satisfy selector: every selector label is
// present with the same value. An empty selector matches every agent.
func Matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// snapshot is what one tenant's agents should run, loaded from the store
// at one moment.
type snapshot struct {
	tenantID    string
	gen         uint64
	loadedAt    time.Time // wall clock at the start of the load
	deployments []*deploymentEntry
	experiments []*experimentEntry

	memoMu sync.Mutex
	memo   map[string]*template
}

// winner returns the deployment whose pipeline the agent runs as its
// active pipeline, or nil for the baseline pipeline.
func (sn *snapshot) winner(host string, labels map[string]string) *deploymentEntry {
	for _, e := range sn.deployments {
		if e.applies(host, labels) {
			return e
		}
	}
	return nil
}

// wouldWin reports whether d would be the agent's deployment if it were
// active.
func (sn *snapshot) wouldWin(d *deploymentEntry, host string, labels map[string]string) bool {
	if !Matches(d.selector, labels) {
		return false
	}
	for _, e := range sn.deployments {
		if e.d.ID == d.d.ID {
			continue
		}
		if precedes(e.d, d.d, e.selector, d.selector) > 0 {
			break
		}
		if e.applies(host, labels) {
			return false
		}
	}
	return true
}

// assign returns the agent's deployment (nil for none) and experiments.
func (sn *snapshot) assign(host string, labels map[string]string) (*deploymentEntry, []*experimentEntry) {
	var exps []*experimentEntry
	for _, e := range sn.experiments {
		if e.targets(host, labels) {
			exps = append(exps, e)
		}
	}
	return sn.winner(host, labels), exps
}

// templateOf returns the composed configuration of an assignment.
func (s *Server) templateOf(sn *snapshot, dep *deploymentEntry, exps []*experimentEntry) *template {
	var key strings.Builder
	ids := make([]string, 0, len(exps))
	if dep != nil {
		key.WriteString(dep.d.ID)
	}
	for _, e := range exps {
		key.WriteByte('|')
		key.WriteString(e.id)
		ids = append(ids, e.id)
	}
	sn.memoMu.Lock()
	t := sn.memo[key.String()]
	sn.memoMu.Unlock()
	if t != nil {
		return t
	}
	t = s.compose(dep, exps, ids)
	sn.memoMu.Lock()
	sn.memo[key.String()] = t
	sn.memoMu.Unlock()
	return t
}

func (s *Server) compose(dep *deploymentEntry, exps []*experimentEntry, ids []string) *template {
	if dep != nil && dep.err != nil {
		return failed(fmt.Errorf("deployment %s: %w", dep.d.ID, dep.err))
	}
	a := pipeline.Assignment{Host: hostSentinel, CollectionInterval: s.cfg.CollectionInterval, Exporters: s.cfg.Exporters}
	if dep != nil {
		spec := dep.spec
		a.Active = &spec
	}
	for _, e := range exps {
		if e.err != nil {
			return failed(fmt.Errorf("experiment %s: %w", e.id, e.err))
		}
		a.Experiments = append(a.Experiments, e.pe)
	}
	return s.templates.get(a, ids)
}

// tenantSnap holds a tenant's current snapshot.
type tenantSnap struct {
	mu  sync.Mutex // serialises loads
	cur atomic.Pointer[snapshot]
}

// snapshot returns the tenant's snapshot. fresh asks for one loaded after
// the call began; otherwise a snapshot younger than two reconcile periods
// will do. Concurrent callers share one load.
func (s *Server) snapshot(ctx context.Context, tenantID string, fresh bool) (*snapshot, error) {
	s.snapMu.Lock()
	ts := s.snaps[tenantID]
	if ts == nil {
		ts = &tenantSnap{}
		s.snaps[tenantID] = ts
	}
	s.snapMu.Unlock()

	asked := time.Now()
	young := func(sn *snapshot) bool {
		return sn != nil && !fresh && asked.Sub(sn.loadedAt) < 2*s.cfg.ReconcileEvery
	}
	if cur := ts.cur.Load(); young(cur) {
		return cur, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if cur := ts.cur.Load(); young(cur) || (cur != nil && cur.loadedAt.After(asked)) {
		return cur, nil
	}
	sn, err := s.loadSnapshot(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ts.cur.Store(sn)
	return sn, nil
}

// loadSnapshot reads the tenant's deployments and running experiments and
// resolves their pipelines.
func (s *Server) loadSnapshot(ctx context.Context, tenantID string) (*snapshot, error) {
	sn := &snapshot{tenantID: tenantID, loadedAt: time.Now(), memo: map[string]*template{}}
	deps, err := listDeployments(ctx, s.st, tenantID, DeploymentActive, DeploymentRollingOut, DeploymentPaused)
	if err != nil {
		return nil, fmt.Errorf("load deployments of tenant %s: %w", tenantID, err)
	}
	r := newResolver(s.st, s.catalog, tenantID)
	for _, d := range deps {
		e, err := s.deploymentEntry(ctx, r, d)
		if err != nil {
			return nil, err
		}
		sn.deployments = append(sn.deployments, e)
	}
	slices.SortFunc(sn.deployments, func(x, y *deploymentEntry) int { return precedes(x.d, y.d, x.selector, y.selector) })

	active, err := s.st.ExperimentListActive(ctx)
	if err != nil {
		return nil, fmt.Errorf("load experiments: %w", err)
	}
	for _, se := range active {
		if se.TenantID != tenantID || (se.State != string(experiment.StateDeploying) && se.State != string(experiment.StateRunning)) {
			continue
		}
		e, err := s.experimentEntry(ctx, r, se)
		if err != nil {
			return nil, err
		}
		sn.experiments = append(sn.experiments, e)
	}
	slices.SortFunc(sn.experiments, func(x, y *experimentEntry) int { return strings.Compare(x.id, y.id) })
	sn.gen = s.gen.Add(1)
	return sn, nil
}

// deploymentEntry decodes a deployment. A deployment that cannot be
// decoded or whose pipeline does not exist is kept with its error: its
// agents report the error instead of silently running something else. A
// store failure is returned.
func (s *Server) deploymentEntry(ctx context.Context, r *resolver, d *store.Deployment) (*deploymentEntry, error) {
	e := &deploymentEntry{d: d, included: map[string]bool{}}
	sel, err := decodeSelector(d.Selector)
	if err != nil {
		e.err = fmt.Errorf("decode selector: %w", err)
		// A broken selector matches nothing rather than everything.
		e.selector = map[string]string{"phoenix.invalid-selector": d.ID}
		return e, nil
	}
	e.selector = sel
	if e.rollout, err = DecodeRollout(d.Rollout); err != nil {
		e.err = err
	}
	for _, h := range e.rollout.Hosts {
		e.included[h.Host] = true
	}
	var params map[string]any
	if len(d.Params) > 0 && string(d.Params) != "null" {
		if err := json.Unmarshal(d.Params, &params); err != nil {
			e.err = fmt.Errorf("decode params: %w", err)
			return e, nil
		}
	}
	spec, err := r.resolve(ctx, experiment.PipelineRef{Name: d.PipelineRef, Params: params})
	switch {
	case errors.Is(err, ErrUnknownPipeline) || errors.Is(err, errBadPipeline):
		e.err = err
	case err != nil:
		return nil, err
	}
	e.spec = spec
	return e, nil
}

// experimentEntry decodes a running experiment.
func (s *Server) experimentEntry(ctx context.Context, r *resolver, se *store.Experiment) (*experimentEntry, error) {
	e := &experimentEntry{id: se.ID, hosts: map[string]bool{}}
	x, err := experiment.FromStore(se)
	if err != nil {
		e.err = err
		return e, nil
	}
	for _, h := range x.Spec.Target.Hosts {
		e.hosts[h] = true
	}
	e.selector = x.Spec.Target.Selector
	spec := x.Spec.WithDefaults()
	e.pe = pipeline.Experiment{ID: x.ID, Mode: pipeline.Mode(spec.Mode), CriticalPatterns: spec.CriticalProcesses}
	for _, v := range []struct {
		ref experiment.PipelineRef
		out *pipeline.Spec
	}{{spec.Baseline, &e.pe.Baseline}, {spec.Candidate, &e.pe.Candidate}} {
		got, err := r.resolve(ctx, v.ref)
		switch {
		case errors.Is(err, ErrUnknownPipeline) || errors.Is(err, errBadPipeline):
			e.err = err
		case err != nil:
			return nil, err
		}
		*v.out = got
	}
	return e, nil
}

// decodeSelector reads a deployment's selector document.
func decodeSelector(doc json.RawMessage) (map[string]string, error) {
	sel := map[string]string{}
	if len(doc) == 0 || string(doc) == "null" {
		return sel, nil
	}
	if err := json.Unmarshal(doc, &sel); err != nil {
		return nil, err
	}
	return sel, nil
}

// listDeployments returns every deployment of the tenant in the states.
func listDeployments(ctx context.Context, st store.Store, tenantID string, states ...string) ([]*store.Deployment, error) {
	var out []*store.Deployment
	cursor := ""
	for {
		page, err := st.DeploymentList(ctx, &store.DeploymentListParams{TenantID: tenantID, States: states, Cursor: cursor, Limit: store.MaxPageLimit})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

// refreshDesired recomputes the agent's desired configuration from sn
// unless it is already computed from sn or a later snapshot.
func (s *Server) refreshDesired(a *agent, sn *snapshot) {
	a.mu.Lock()
	if !a.described || (a.gen != 0 && a.gen >= sn.gen) {
		a.mu.Unlock()
		return
	}
	host, labels, descVer := a.host, a.labels, a.descVer
	oldT, oldHost, oldHash := a.tmpl, a.tmplHost, a.desiredHash
	a.mu.Unlock()

	dep, exps := sn.assign(host, labels)
	t := s.templateOf(sn, dep, exps)
	var hash []byte
	var derr string
	switch {
	case t.err != nil:
		derr = "compose configuration: " + t.err.Error()
	case t == oldT && host == oldHost && oldHash != nil:
		hash = oldHash
	default:
		body, err := s.render(t, host)
		if err != nil {
			derr = "compose configuration: " + err.Error()
		} else {
			hash = configHash(body, s.phoenixYAML)
		}
	}
	depID := ""
	if dep != nil {
		depID = dep.d.ID
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.descVer != descVer || (a.gen != 0 && a.gen >= sn.gen) {
		return
	}
	a.gen = sn.gen
	a.tmpl, a.tmplHost, a.desiredHash = t, host, hash
	a.deployment, a.experiments = depID, t.exps
	if truncate(derr, maxMessageLen) != a.desiredErr {
		a.desiredErr = truncate(derr, maxMessageLen)
		a.changed = true
		s.markDirty(a)
	}
}

// shouldPush reports whether the agent needs its desired configuration
// sent. Called with a.mu held.
func (s *Server) shouldPush(a *agent) bool {
	switch {
	case !a.connected || !a.acceptsRemoteConfig() || a.desiredErr != "" || a.desiredHash == nil:
		return false
	case bytes.Equal(a.desiredHash, a.reportedHash):
		// Running it, applying it, or failed to apply it: sending it again
		// would change nothing.
		return false
	case bytes.Equal(a.desiredHash, a.sentHash) && s.now().Sub(a.sentAt) < s.cfg.ResendAfter:
		return false
	}
	return true
}

// remoteConfig builds the remote configuration of t for host and checks
// it still has the hash it was computed with.
func (s *Server) remoteConfig(t *template, host string, hash []byte) (*protobufs.AgentRemoteConfig, error) {
	body, err := s.render(t, host)
	if err != nil {
		return nil, err
	}
	if got := configHash(body, s.phoenixYAML); !bytes.Equal(got, hash) {
		return nil, fmt.Errorf("configuration of host %q changed while it was being sent", host)
	}
	return &protobufs.AgentRemoteConfig{
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			CollectorConfigFile: {Body: body, ContentType: ConfigContentType},
			PhoenixConfigFile:   {Body: s.phoenixYAML, ContentType: ConfigContentType},
		}},
		ConfigHash: hash,
	}, nil
}

// push sends the agent its desired configuration over its WebSocket if it
// needs it, and reports whether it did.
func (s *Server) push(a *agent) (bool, error) {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	oc := a.conn
	if oc == nil || !s.shouldPush(a) {
		a.mu.Unlock()
		return false, nil
	}
	t, host, hash, exps := a.tmpl, a.tmplHost, a.desiredHash, a.experiments
	a.mu.Unlock()

	rc, err := s.remoteConfig(t, host, hash)
	if err != nil {
		return false, err
	}
	if err := s.send(oc, &protobufs.ServerToAgent{InstanceUid: a.uidBytes, RemoteConfig: rc}); err != nil {
		s.metrics.pushErrors.Inc()
		return false, fmt.Errorf("push configuration to agent %s: %w", a.uid, err)
	}
	s.metrics.pushes.Inc()
	a.mu.Lock()
	a.sentHash, a.sentExps, a.sentAt = hash, exps, s.now()
	a.mu.Unlock()
	return true, nil
}

// errSendTimeout is returned when an agent does not read a message within
// SendTimeout; its connection is closed.
var errSendTimeout = errors.New("send timed out; connection closed")

// send writes a message to a WebSocket, closing the connection if the
// write does not finish within SendTimeout (the library's write has no
// deadline of its own).
func (s *Server) send(oc types.Connection, msg *protobufs.ServerToAgent) error {
	timer := time.AfterFunc(s.cfg.SendTimeout, func() { _ = oc.Disconnect() })
	err := oc.Send(context.Background(), msg)
	if !timer.Stop() {
		return errSendTimeout
	}
	return err
}

// localAgents returns the records of the tenant's agents connected to
// this server.
func (s *Server) localAgents(tenantID string) []*agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*agent
	for k, a := range s.agents {
		if k.tenantID != tenantID {
			continue
		}
		a.mu.Lock()
		if a.connected {
			out = append(out, a)
		}
		a.mu.Unlock()
	}
	return out
}

// tenants returns the tenants with agents connected to this server.
func (s *Server) tenants() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := map[string]bool{}
	for k := range s.agents {
		set[k.tenantID] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Reconcile recomputes the desired configuration of every agent of the
// tenant connected to this server from the current deployments and
// experiments, and pushes it to those whose configuration changed. Call it
// after changing a deployment or an experiment; the reconcile loop also
// calls it every ReconcileEvery. It returns once the pushes are written;
// failures of single agents are logged and counted, not returned. The
// error is a failure to read the store.
func (s *Server) Reconcile(ctx context.Context, tenantID string) error {
	sn, err := s.snapshot(ctx, tenantID, true)
	if err != nil {
		return fmt.Errorf("reconcile tenant %s: %w", tenantID, err)
	}
	s.reconcileAgents(ctx, sn, s.localAgents(tenantID))
	return nil
}

// reconcileAgents refreshes and pushes the agents' configurations with
// bounded concurrency.
func (s *Server) reconcileAgents(ctx context.Context, sn *snapshot, agents []*agent) {
	work := make(chan *agent)
	var wg sync.WaitGroup
	for range min(s.cfg.PushConcurrency, len(agents)) {
		wg.Go(func() {
			for a := range work {
				s.refreshDesired(a, sn)
				if _, err := s.push(a); err != nil {
					s.log.Warn("push configuration", "tenant_id", a.tenantID, "instance_uid", a.uid, "err", err)
				}
			}
		})
	}
	for _, a := range agents {
		if ctx.Err() != nil {
			break
		}
		work <- a
	}
	close(work)
	wg.Wait()
}
