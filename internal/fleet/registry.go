package fleet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// Remote configuration statuses, as recorded on agents and in rollouts.
const (
	StatusPending  = "pending"
	StatusApplying = "applying"
	StatusApplied  = "applied"
	StatusFailed   = "failed"
	// StatusSkipped marks a host of a rollout that another deployment took
	// over (a more specific selector) or that stopped matching.
	StatusSkipped = "skipped"
)

// Transports an agent can use.
const (
	TransportWebSocket = "websocket"
	TransportHTTP      = "http"
)

// Limits on what an agent may describe itself with; longer keys and
// values are cut, further labels dropped (in key order).
const (
	maxLabels        = 128
	maxLabelKeyLen   = 128
	maxLabelValueLen = 256
	// maxMessageLen bounds the error messages kept per agent.
	maxMessageLen = 4096
)

// Well-known agent description attributes.
const (
	attrHostName       = "host.name"
	attrServiceVersion = "service.version"
)

type agentKey struct{ tenantID, uid string }

// agent is one OpAMP agent as this server knows it. Fields after mu are
// guarded by it; sendMu serialises configuration pushes so an older
// configuration never overtakes a newer one.
type agent struct {
	tenantID string
	uid      string
	uidBytes []byte

	sendMu sync.Mutex

	mu      sync.Mutex
	removed bool // dropped from the registry; look it up again

	// Connection.
	tokenID     string
	tokenLabels map[string]string
	conn        types.Connection // live WebSocket; nil otherwise
	transport   string
	connected   bool
	seenAt      time.Time
	lastSeq     uint64
	seqKnown    bool

	// What the agent reported.
	described     bool
	desc          *protobufs.AgentDescription
	descVer       uint64 // counts changes of host and labels
	host          string
	labels        map[string]string // replaced, never mutated
	version       string
	caps          uint64
	healthKnown   bool
	healthy       bool
	health        json.RawMessage
	healthMsg     *protobufs.ComponentHealth
	effectiveHash string
	reportedHash  []byte
	rcStatus      string
	rcMessage     string

	// What it should run.
	gen         uint64 // snapshot generation of the fields below; 0 = recompute
	tmpl        *template
	tmplHost    string
	deployment  string
	experiments []string
	desiredHash []byte
	desiredErr  string

	// What was pushed on the current connection.
	sentHash []byte
	sentExps []string
	sentAt   time.Time

	// Store write-behind.
	dirty     bool // something to write
	changed   bool // status changed since the last write (not only liveness)
	queued    bool // in the writer's queue or being written
	lastWrite time.Time
}

// acceptsRemoteConfig reports whether the agent declared the capability.
func (a *agent) acceptsRemoteConfig() bool {
	return a.caps&uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig) != 0
}

// applied reports whether the agent runs its desired configuration.
func (a *agent) applied() bool {
	return a.desiredHash != nil && bytes.Equal(a.desiredHash, a.reportedHash) && a.rcStatus == StatusApplied
}

// uidString renders an OpAMP instance UID: the canonical UUID form for the
// 16 bytes the protocol specifies, hex otherwise.
func uidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// lookup returns the registry's record of the agent, creating it.
func (s *Server) lookup(tenantID string, uid []byte) *agent {
	k := agentKey{tenantID, uidString(uid)}
	s.mu.RLock()
	a := s.agents[k]
	s.mu.RUnlock()
	if a != nil {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a = s.agents[k]; a == nil {
		a = &agent{tenantID: tenantID, uid: k.uid, uidBytes: slices.Clone(uid)}
		s.agents[k] = a
	}
	return a
}

// ingest merges one AgentToServer message into the agent's record and
// returns the record and whether the agent should resend its full state
// (the server does not know it, or a message went missing). It returns nil
// for a message without instance UID.
func (s *Server) ingest(c *conn, msg *protobufs.AgentToServer) (a *agent, fullState bool) {
	if len(msg.GetInstanceUid()) == 0 {
		return nil, false
	}
	now := s.now()
	c.mu.Lock()
	prev := c.ag
	c.mu.Unlock()
	if prev != nil && prev.uid != uidString(msg.GetInstanceUid()) {
		// The agent changed its instance UID on this connection.
		s.detach(prev, c)
	}
	for {
		a = s.lookup(c.id.TenantID, msg.GetInstanceUid())
		a.mu.Lock()
		if !a.removed {
			break
		}
		a.mu.Unlock()
	}
	defer a.mu.Unlock()

	changed := false
	c.mu.Lock()
	c.ag = a
	c.mu.Unlock()
	// A plain-HTTP agent opens a connection per poll; it stays attached
	// between polls.
	polling := c.http && a.connected && a.transport == TransportHTTP
	a.tokenID = c.id.TokenID
	if !maps.Equal(a.tokenLabels, c.id.Labels) {
		a.tokenLabels = c.id.Labels
		if a.desc != nil {
			a.host, a.version, a.labels = describe(a.desc, a.tokenLabels)
			a.descVer++
			a.gen = 0
			changed = true
		}
	}
	if prev != a && !polling {
		a.transport, a.conn = TransportWebSocket, c.oc
		if c.http {
			a.transport, a.conn = TransportHTTP, nil
		}
		// A new connection: the agent may have lost what was pushed
		// before.
		a.sentHash, a.sentExps, a.sentAt = nil, nil, time.Time{}
		if !a.connected {
			changed = true
		}
		s.setConnected(a, true)
		a.seqKnown = false
		a.gen = 0
	}
	a.seenAt = now

	if a.seqKnown && msg.GetSequenceNum() != a.lastSeq+1 {
		fullState = true
	}
	a.lastSeq, a.seqKnown = msg.GetSequenceNum(), true

	if d := msg.GetAgentDescription(); d != nil {
		a.desc = d
		host, version, labels := describe(d, a.tokenLabels)
		if !a.described || host != a.host || version != a.version || !maps.Equal(labels, a.labels) {
			a.host, a.version, a.labels = host, version, labels
			a.descVer++
			a.gen = 0
			changed = true
		}
		a.described = true
	} else if !a.described {
		fullState = true
	}
	if caps := msg.GetCapabilities(); caps != 0 && caps != a.caps {
		a.caps = caps
		changed = true
	}
	if h := msg.GetHealth(); h != nil && (!a.healthKnown || !proto.Equal(h, a.healthMsg)) {
		doc, err := protojson.Marshal(h)
		if err != nil {
			doc = nil
		}
		a.healthKnown, a.healthy, a.health, a.healthMsg = true, h.GetHealthy(), doc, h
		changed = true
	}
	if ec := msg.GetEffectiveConfig(); ec != nil {
		if h := effectiveHash(ec); h != a.effectiveHash {
			a.effectiveHash = h
			changed = true
		}
	}
	if rcs := msg.GetRemoteConfigStatus(); rcs != nil {
		st, m := remoteStatus(rcs.GetStatus()), truncate(rcs.GetErrorMessage(), maxMessageLen)
		if !bytes.Equal(rcs.GetLastRemoteConfigHash(), a.reportedHash) || st != a.rcStatus || m != a.rcMessage {
			a.reportedHash = slices.Clone(rcs.GetLastRemoteConfigHash())
			a.rcStatus, a.rcMessage = st, m
			changed = true
		}
	}
	if msg.GetAgentDisconnect() != nil && c.http {
		s.setConnected(a, false)
		changed = true
	}
	if changed {
		a.changed = true
		s.markDirty(a)
	} else if now.Sub(a.lastWrite) >= s.touchEvery() {
		s.markDirty(a)
	}
	return a, fullState
}

// detach records that c no longer carries a. Called with a.mu not held.
func (s *Server) detach(a *agent, c *conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.http || a.conn != c.oc {
		return
	}
	a.conn = nil
	s.setConnected(a, false)
	a.changed = true
	s.markDirty(a)
}

// setConnected records whether the agent is connected. Called with a.mu
// held.
func (s *Server) setConnected(a *agent, v bool) {
	if a.connected == v {
		return
	}
	a.connected = v
	if v {
		s.nconnected.Add(1)
	} else {
		s.nconnected.Add(-1)
	}
}

// touchEvery is how often an agent that reports nothing new is written to
// the store anyway, to keep its last-seen time current.
func (s *Server) touchEvery() time.Duration { return s.cfg.StaleAfter / 4 }

// describe turns an agent description into the agent's host name, version
// and labels: the enrollment token's labels, then every identifying
// attribute, then every non-identifying attribute, each only where the
// key is still free. The token's labels come first because an
// administrator set them; an agent cannot move itself out of its group.
func describe(d *protobufs.AgentDescription, tokenLabels map[string]string) (host, version string, labels map[string]string) {
	labels = make(map[string]string, len(tokenLabels)+len(d.GetIdentifyingAttributes())+len(d.GetNonIdentifyingAttributes()))
	for _, k := range slices.Sorted(maps.Keys(tokenLabels)) {
		addLabel(labels, k, tokenLabels[k])
	}
	for _, attrs := range [][]*protobufs.KeyValue{d.GetIdentifyingAttributes(), d.GetNonIdentifyingAttributes()} {
		sorted := slices.Clone(attrs)
		slices.SortFunc(sorted, func(x, y *protobufs.KeyValue) int { return strings.Compare(x.GetKey(), y.GetKey()) })
		for _, kv := range sorted {
			if kv.GetKey() == "" {
				continue
			}
			if _, taken := labels[truncate(kv.GetKey(), maxLabelKeyLen)]; taken {
				continue
			}
			addLabel(labels, kv.GetKey(), anyString(kv.GetValue()))
		}
	}
	host = firstAttr(d, attrHostName)
	version = firstAttr(d, attrServiceVersion)
	return host, version, labels
}

// firstAttr returns the identifying attribute key, else the
// non-identifying one, stringified.
func firstAttr(d *protobufs.AgentDescription, key string) string {
	for _, attrs := range [][]*protobufs.KeyValue{d.GetIdentifyingAttributes(), d.GetNonIdentifyingAttributes()} {
		for _, kv := range attrs {
			if kv.GetKey() == key {
				return truncate(anyString(kv.GetValue()), maxLabelValueLen)
			}
		}
	}
	return ""
}

func addLabel(labels map[string]string, k, v string) {
	if len(labels) >= maxLabels {
		return
	}
	labels[truncate(k, maxLabelKeyLen)] = truncate(v, maxLabelValueLen)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// anyString renders an attribute value as a label value.
func anyString(v *protobufs.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *protobufs.AnyValue_StringValue:
		return x.StringValue
	case *protobufs.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *protobufs.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *protobufs.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *protobufs.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *protobufs.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, anyString(e))
		}
		b, _ := json.Marshal(parts)
		return string(b)
	case *protobufs.AnyValue_KvlistValue:
		m := map[string]string{}
		for _, kv := range x.KvlistValue.GetValues() {
			m[kv.GetKey()] = anyString(kv.GetValue())
		}
		b, _ := json.Marshal(m)
		return string(b)
	default:
		return ""
	}
}

// remoteStatus maps an OpAMP remote config status to Phoenix's words.
func remoteStatus(s protobufs.RemoteConfigStatuses) string {
	switch s {
	case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED:
		return StatusApplied
	case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING:
		return StatusApplying
	case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED:
		return StatusFailed
	default:
		return ""
	}
}

// effectiveHash is the hex SHA-256 of the effective configuration's files
// in name order; empty when the agent reported no file.
func effectiveHash(ec *protobufs.EffectiveConfig) string {
	files := ec.GetConfigMap().GetConfigMap()
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		writeFile(h, name, files[name].GetBody())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeFile feeds one named file to a hash, length-prefixed so that no two
// file sets hash alike.
func writeFile(h interface{ Write([]byte) (int, error) }, name string, body []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	_, _ = h.Write(n[:])
	_, _ = h.Write([]byte(name))
	binary.BigEndian.PutUint64(n[:], uint64(len(body)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(body)
}

// markDirty schedules a store write of the agent. Called with a.mu held;
// never blocks.
func (s *Server) markDirty(a *agent) {
	a.dirty = true
	if a.queued {
		return
	}
	a.queued = true
	s.writer.enqueue(a)
}

// upsertParams is the agent's row. Called with a.mu held.
func (a *agent) upsertParams(now time.Time) *store.AgentUpsertParams {
	p := &store.AgentUpsertParams{
		TenantID: a.tenantID, InstanceUID: a.uid, HostName: a.host, Labels: a.labels,
		AgentVersion: a.version, Capabilities: a.caps, Healthy: a.healthy || !a.healthKnown, Health: a.health,
		EffectiveConfigHash: a.effectiveHash, RemoteConfigHash: hex.EncodeToString(a.reportedHash),
		RemoteConfigStatus: a.rcStatus, RemoteConfigMessage: a.rcMessage,
		Connected: a.connected, SeenAt: a.seenAt,
	}
	if a.desiredErr != "" {
		p.RemoteConfigStatus, p.RemoteConfigMessage = StatusFailed, a.desiredErr
	}
	if a.connected && a.conn != nil {
		// An open WebSocket is proof of life.
		p.SeenAt = now
	}
	return p
}

// writer writes agent records to the store behind the protocol: each
// record is queued at most once, and written by one goroutine at a time,
// so writes of one agent never reorder and a burst of reports costs one
// write.
type writer struct {
	mu       sync.Mutex
	q        []*agent
	inflight int
	wake     chan struct{}
	idle     chan struct{} // closed and replaced when the queue drains
}

func newWriter() *writer {
	return &writer{wake: make(chan struct{}, 1), idle: make(chan struct{})}
}

func (w *writer) enqueue(a *agent) {
	w.mu.Lock()
	w.q = append(w.q, a)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the next record to write, or nil when the queue is empty.
func (w *writer) take() *agent {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) == 0 {
		return nil
	}
	a := w.q[0]
	w.q[0] = nil
	w.q = w.q[1:]
	w.inflight++
	return a
}

func (w *writer) done() {
	w.mu.Lock()
	w.inflight--
	if w.inflight == 0 && len(w.q) == 0 {
		close(w.idle)
		w.idle = make(chan struct{})
	}
	w.mu.Unlock()
}

// drained returns a channel closed once the queue is empty and nothing is
// being written, or nil if that is already so.
func (w *writer) drained() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight == 0 && len(w.q) == 0 {
		return nil
	}
	return w.idle
}

// pending returns how many records wait to be written.
func (w *writer) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.q) + w.inflight
}

// runWriter writes queued records until stop is closed and the queue is
// empty.
func (s *Server) runWriter(stop <-chan struct{}) {
	for {
		a := s.writer.take()
		if a == nil {
			select {
			case <-s.writer.wake:
				continue
			case <-stop:
				if s.writer.pending() == 0 {
					return
				}
				continue
			}
		}
		s.writeAgent(a)
		s.writer.done()
	}
}

// writeAgent writes one record and queues it again if it changed while
// being written.
func (s *Server) writeAgent(a *agent) {
	now := s.now()
	a.mu.Lock()
	p := a.upsertParams(now)
	statusChanged := a.changed
	a.dirty, a.changed = false, false
	a.mu.Unlock()

	ctx, cancel := contextWithTimeout(s.baseCtx, 10*time.Second)
	var err error
	if !p.Connected && !statusChanged {
		_, err = s.st.AgentMarkDisconnected(ctx, p.TenantID, p.InstanceUID)
		if isNotFound(err) {
			_, err = s.st.AgentUpsert(ctx, p)
		}
	} else {
		_, err = s.st.AgentUpsert(ctx, p)
	}
	cancel()

	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		s.metrics.storeErrors.Inc()
		s.log.Warn("record agent status", "tenant_id", a.tenantID, "instance_uid", a.uid, "err", err)
		// The sweeper's next refresh writes it again.
		a.lastWrite = time.Time{}
		a.changed = a.changed || statusChanged
	} else {
		a.lastWrite = now
	}
	if a.dirty {
		s.writer.enqueue(a)
		return
	}
	a.queued = false
}

// sweep refreshes the last-seen time of quiet agents holding a WebSocket,
// marks plain-HTTP agents that stopped polling disconnected, forgets
// records that are gone, and then marks every agent the store has not
// heard of within StaleAfter disconnected (agents of a crashed server,
// for instance).
func (s *Server) sweep() error {
	now := s.now()
	s.mu.Lock()
	for k, a := range s.agents {
		a.mu.Lock()
		switch {
		case a.connected && a.conn != nil:
			if now.Sub(a.lastWrite) >= s.cfg.StaleAfter/2 {
				s.markDirty(a)
			}
		case a.connected && now.Sub(a.seenAt) > s.cfg.StaleAfter:
			s.setConnected(a, false)
			a.changed = true
			s.markDirty(a)
		case !a.connected && !a.queued && now.Sub(a.seenAt) > s.cfg.StaleAfter:
			a.removed = true
			delete(s.agents, k)
		}
		a.mu.Unlock()
	}
	s.mu.Unlock()

	ctx, cancel := contextWithTimeout(s.baseCtx, s.cfg.StaleAfter/2)
	defer cancel()
	if ch := s.writer.drained(); ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sweep: agent status writes still pending: %w", ctx.Err())
		}
	}
	n, err := s.st.AgentMarkStale(ctx, now.Add(-s.cfg.StaleAfter))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if n > 0 {
		s.log.Info("marked silent agents disconnected", "agents", n, "silent_for", s.cfg.StaleAfter)
	}
	return nil
}

// conn is one accepted OpAMP connection (one WebSocket, or one plain-HTTP
// request).
type conn struct {
	id   *auth.AgentIdentity
	http bool
	oc   types.Connection

	mu sync.Mutex
	ag *agent
}
