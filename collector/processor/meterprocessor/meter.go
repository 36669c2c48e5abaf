package meterprocessor

import (
	"context"
	"fmt"
	"maps"
	"math/bits"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/phoenix/platform/collector/internal/proc"
)

// maxCachedNames bounds the cache of critical-regexp results per instance;
// names beyond it are matched on every call.
const maxCachedNames = 4096

// ctxKey is the context key under which an input stage leaves its callState
// for the output stage of the same experiment and variant.
type ctxKey identity

// procKey identifies one process: host, pid and executable name.
type procKey struct {
	host string
	pid  int64
	name string
}

// callState is what the input stage of one ConsumeMetrics call shares with
// the output stage running inside it.
type callState struct {
	// expected holds the critical processes of the call's input. The input
	// stage fills it before calling the next consumer; afterwards it is only
	// read.
	expected map[procKey]struct{}
	// names holds hashString of the executable names in expected, a cheap
	// first test for the output stage.
	names map[uint64]struct{}

	mu          sync.Mutex
	done        bool
	present     map[procKey]struct{}
	exportNanos int64
}

// markPresent records that a critical process reached the output stage.
func (st *callState) markPresent(k procKey) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return
	}
	if st.present == nil {
		st.present = make(map[procKey]struct{}, len(st.expected))
	}
	st.present[k] = struct{}{}
}

// addExport adds time the output stage spent in its next consumer.
func (st *callState) addExport(d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.done {
		st.exportNanos += int64(d)
	}
}

// close ends the call: later output-stage reports are ignored. It returns the
// export time recorded so far.
func (st *callState) close() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done = true
	return time.Duration(st.exportNanos)
}

// hostBatch collects what one call carries for one host label.
type hostBatch struct {
	host     string
	hashes   []uint64
	bytes    uint64
	expected int
	retained int
	// processes counts the process resources (those naming an
	// executable) of an input-stage call.
	processes int
	missing   []string
}

type nameMatch struct {
	hash     uint64
	name     string
	critical bool
}

// walk is the reusable scratch space of one call.
type walk struct {
	h       hasher
	batches []hostBatch
	n       int
	index   map[string]int
	last    int
	misses  []nameMatch
}

func newWalk() *walk { return &walk{index: make(map[string]int), last: -1} }

// batch returns the batch of host, adding one when needed. The pointer is
// valid until the next call of batch.
func (w *walk) batch(host string) *hostBatch {
	if w.last >= 0 && w.batches[w.last].host == host {
		return &w.batches[w.last]
	}
	if i, ok := w.index[host]; ok {
		w.last = i
		return &w.batches[i]
	}
	if w.n == len(w.batches) {
		w.batches = append(w.batches, hostBatch{})
	}
	b := &w.batches[w.n]
	b.host = host
	b.hashes = b.hashes[:0]
	b.bytes, b.expected, b.retained, b.processes = 0, 0, 0, 0
	b.missing = b.missing[:0]
	w.index[host] = w.n
	w.last = w.n
	w.n++
	return b
}

func (w *walk) reset() {
	w.h.reset()
	for i := range w.batches[:w.n] {
		w.batches[i].host = ""
		clear(w.batches[i].missing)
	}
	clear(w.index)
	clear(w.misses)
	w.misses = w.misses[:0]
	w.n, w.last = 0, -1
}

// hostState is what an instance keeps per host label.
type hostState struct {
	series   seriesSet
	lastSeen int64
	counters *counters

	hasCritical bool
	expected    int
	retained    int
	missing     []string

	// processes is the number of process resources in the latest
	// input-stage call that carried any.
	processes int
}

// meter is one phoenix_meter instance.
type meter struct {
	stage    Stage
	id       identity
	key      any
	host     string
	window   int64
	critical []*regexp.Regexp
	now      func() time.Time
	col      *meterCollector
	next     consumer.Metrics
	logger   *zap.Logger

	names    atomic.Pointer[map[uint64]nameMatch]
	namesMu  sync.Mutex
	walks    sync.Pool
	unpaired sync.Once

	mu        sync.Mutex
	hosts     map[string]*hostState
	lastSweep int64
}

func newMeter(cfg *Config, col *meterCollector, now func() time.Time, next consumer.Metrics, logger *zap.Logger) (*meter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validate phoenix_meter config: %w", err)
	}
	host := cfg.Host
	if host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "unknown"
		}
		host = h
	}
	id := identity{experiment: cfg.Experiment, variant: cfg.Variant}
	m := &meter{
		stage:  cfg.Stage,
		id:     id,
		key:    ctxKey(id),
		host:   label(host),
		window: int64(cfg.ActiveWindow),
		now:    now,
		col:    col,
		next:   next,
		logger: logger,
		hosts:  make(map[string]*hostState),
	}
	if m.logger == nil {
		m.logger = zap.NewNop()
	}
	if cfg.Stage == StageInput {
		for i, expr := range cfg.CriticalExecutables {
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("critical_executables[%d]: invalid regexp %q: %w", i, expr, err)
			}
			m.critical = append(m.critical, re)
		}
	}
	m.walks.New = func() any { return newWalk() }
	m.lastSweep = now().UnixNano()
	return m, nil
}

var _ processor.Metrics = (*meter)(nil)

// Start makes the instance's measurements visible in the registry.
func (m *meter) Start(context.Context, component.Host) error {
	m.col.start(m)
	return nil
}

// Shutdown hides the instance's measurements; the counters stay with the
// collector of the registry. It is idempotent and safe without Start.
func (m *meter) Shutdown(context.Context) error {
	m.col.stop(m)
	return nil
}

// Capabilities reports that the meter does not modify the data.
func (m *meter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics measures md and passes it on. It is safe for concurrent use.
func (m *meter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if m.stage == StageInput {
		return m.consumeInput(ctx, md)
	}
	return m.consumeOutput(ctx, md)
}

func (m *meter) getWalk() *walk { return m.walks.Get().(*walk) }

func (m *meter) putWalk(w *walk) {
	w.reset()
	m.walks.Put(w)
}

// stateFrom returns the callState the input stage of this experiment and
// variant left in ctx, or nil.
func (m *meter) stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(m.key).(*callState)
	return st
}

// consumeInput measures the input, leaves a callState in the context, runs
// the rest of the pipeline and then settles critical retention and
// processing time of the call.
func (m *meter) consumeInput(ctx context.Context, md pmetric.Metrics) error {
	nowN := m.now().UnixNano()
	w := m.getWalk()
	defer m.putWalk(w)
	st := &callState{}
	if len(m.critical) > 0 {
		st.expected = make(map[procKey]struct{})
		st.names = make(map[uint64]struct{})
	}
	m.walk(md, w, st)
	m.learn(w.misses)
	m.commit(w, nowN)

	start := time.Now()
	err := m.next.ConsumeMetrics(context.WithValue(ctx, m.key, st), md)
	wall := time.Since(start)
	export := st.close()
	m.finish(w, st, wall-export)
	return err
}

// consumeOutput measures what the pipeline would send, reports the critical
// processes that arrived to the input stage's callState and times the
// exporter so that the input stage can leave that time out.
func (m *meter) consumeOutput(ctx context.Context, md pmetric.Metrics) error {
	st := m.stateFrom(ctx)
	if st == nil {
		m.unpaired.Do(func() {
			m.logger.Info("phoenix_meter output stage found no input stage state in its context; " +
				"critical retention and processing time need a phoenix_meter input stage with the same experiment " +
				"and variant at the start of the pipeline and no asynchronous processor in between")
		})
	}
	nowN := m.now().UnixNano()
	w := m.getWalk()
	m.walk(md, w, st)
	m.commit(w, nowN)
	m.putWalk(w)
	if st == nil {
		return m.next.ConsumeMetrics(ctx, md)
	}
	start := time.Now()
	err := m.next.ConsumeMetrics(ctx, md)
	st.addExport(time.Since(start))
	return err
}

// walk hashes every data point of md into the batch of its host; the input
// stage also collects the call's critical processes, the output stage the
// estimated bytes and which critical processes arrived.
func (m *meter) walk(md pmetric.Metrics, w *walk, st *callState) {
	var sizer pmetric.ProtoMarshaler
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource()
		ri := w.h.resource(res.Attributes())
		host := m.host
		if ri.host != "" {
			host = label(ri.host)
		}
		hb := w.batch(host)
		hb.hashes = w.h.appendSeries(hb.hashes, rm, ri.hash)
		if m.stage == StageOutput {
			size := sizer.ResourceMetricsSize(rm)
			hb.bytes += uint64(1 + sov(uint64(size)) + size)
			if st == nil || ri.name == "" {
				continue
			}
			if _, ok := st.names[ri.nameHash]; !ok {
				continue
			}
			pid, _ := proc.PID(res)
			k := procKey{host: host, pid: pid, name: ri.name}
			if _, ok := st.expected[k]; ok {
				st.markPresent(k)
			}
			continue
		}
		if ri.name != "" {
			hb.processes++
		}
		if st == nil || st.expected == nil || ri.name == "" || !m.isCritical(ri.name, ri.nameHash, w) {
			continue
		}
		pid, _ := proc.PID(res)
		st.expected[procKey{host: host, pid: pid, name: ri.name}] = struct{}{}
		st.names[ri.nameHash] = struct{}{}
	}
}

// sov is the length of x as a protobuf varint.
func sov(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// isCritical reports whether an executable name matches a critical regexp,
// answering from the instance's cache when it can and noting misses in w for
// learn.
func (m *meter) isCritical(name string, hash uint64, w *walk) bool {
	if cache := m.names.Load(); cache != nil {
		if e, ok := (*cache)[hash]; ok && e.name == name {
			return e.critical
		}
	}
	critical := false
	for _, re := range m.critical {
		if re.MatchString(name) {
			critical = true
			break
		}
	}
	w.misses = append(w.misses, nameMatch{hash: hash, name: name, critical: critical})
	return critical
}

// learn adds the regexp results of a call to the cache (copy on write, once
// per call with misses).
func (m *meter) learn(misses []nameMatch) {
	if len(misses) == 0 {
		return
	}
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	var next map[uint64]nameMatch
	if cur := m.names.Load(); cur != nil {
		if len(*cur) >= maxCachedNames {
			return
		}
		next = maps.Clone(*cur)
	} else {
		next = make(map[uint64]nameMatch, len(misses))
	}
	for _, nm := range misses {
		if len(next) >= maxCachedNames {
			break
		}
		if _, ok := next[nm.hash]; !ok {
			nm.name = strings.Clone(nm.name)
			next[nm.hash] = nm
		}
	}
	m.names.Store(&next)
}

// label turns a host or executable name into a valid Prometheus label value
// (without allocating when it already is one).
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// hostLocked returns the state of a host label, creating it; m.mu is held.
func (m *meter) hostLocked(host string) *hostState {
	if hs, ok := m.hosts[host]; ok {
		return hs
	}
	host = strings.Clone(host)
	hs := &hostState{
		counters: m.col.counter(counterKey{host: host, identity: m.id}),
	}
	m.hosts[host] = hs
	return hs
}

// commit records the series and counts of a walked call.
func (m *meter) commit(w *walk, nowN int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range w.batches[:w.n] {
		hb := &w.batches[i]
		hs := m.hostLocked(hb.host)
		for _, h := range hb.hashes {
			hs.series.put(h, nowN)
		}
		if nowN > hs.lastSeen {
			hs.lastSeen = nowN
		}
		n := uint64(len(hb.hashes))
		if m.stage == StageInput {
			hs.counters.inputDatapoints.Add(n)
			if hb.processes > 0 {
				hs.processes = hb.processes
			}
		} else {
			hs.counters.outputDatapoints.Add(n)
			hs.counters.outputBytes.Add(hb.bytes)
		}
	}
	if nowN-m.lastSweep >= m.window {
		m.sweepLocked(nowN)
	}
}

// sweepLocked forgets series not seen within the active window and hosts
// that have none left; m.mu is held.
func (m *meter) sweepLocked(nowN int64) {
	for host, hs := range m.hosts {
		hs.series.expire(nowN - m.window)
		if hs.series.len() == 0 && nowN-hs.lastSeen >= m.window {
			delete(m.hosts, host)
		}
	}
	m.lastSweep = nowN
}

// finish settles the critical figures and processing time of an input-stage
// call once the rest of the pipeline has returned.
func (m *meter) finish(w *walk, st *callState, processing time.Duration) {
	for k := range st.expected {
		i, ok := w.index[k.host]
		if !ok {
			continue
		}
		hb := &w.batches[i]
		hb.expected++
		if _, ok := st.present[k]; ok {
			hb.retained++
		} else {
			hb.missing = append(hb.missing, label(k.name))
		}
	}
	var total uint64
	for i := range w.batches[:w.n] {
		total += uint64(len(w.batches[i].hashes))
	}
	if processing < 0 {
		processing = 0
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if w.n == 0 {
		m.hostLocked(m.host).counters.processingNanos.Add(uint64(processing))
		return
	}
	for i := range w.batches[:w.n] {
		hb := &w.batches[i]
		hs := m.hostLocked(hb.host)
		hs.hasCritical = true
		hs.expected = hb.expected
		hs.retained = hb.retained
		hs.missing = setMissing(hs.missing, hb.missing)
		share := float64(processing) / float64(w.n)
		if total > 0 {
			share = float64(processing) * float64(len(hb.hashes)) / float64(total)
		}
		hs.counters.processingNanos.Add(uint64(share))
	}
}

// setMissing returns the sorted distinct names of now, reusing prev when it
// already holds exactly them.
func setMissing(prev, now []string) []string {
	if len(now) == 0 {
		return nil
	}
	slices.Sort(now)
	now = slices.Compact(now)
	if slices.Equal(prev, now) {
		return prev
	}
	out := make([]string, len(now))
	for i, s := range now {
		out[i] = strings.Clone(s)
	}
	return out
}

// collect sends the gauges of this instance.
func (m *meter) collect(c *meterCollector, ch chan<- prometheus.Metric) {
	nowN := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(nowN)
	for host, hs := range m.hosts {
		lv := []string{host, m.id.experiment, m.id.variant}
		if m.stage == StageOutput {
			emit(ch, c.outputSeries, prometheus.GaugeValue, float64(hs.series.len()), lv...)
			continue
		}
		emit(ch, c.inputSeries, prometheus.GaugeValue, float64(hs.series.len()), lv...)
		if hs.processes > 0 {
			emit(ch, c.inputProcesses, prometheus.GaugeValue, float64(hs.processes), lv...)
		}
		if !hs.hasCritical {
			continue
		}
		emit(ch, c.criticalExpected, prometheus.GaugeValue, float64(hs.expected), lv...)
		emit(ch, c.criticalRetained, prometheus.GaugeValue, float64(hs.retained), lv...)
		for _, name := range hs.missing {
			emit(ch, c.criticalMissing, prometheus.GaugeValue, 1, host, m.id.experiment, m.id.variant, name)
		}
	}
}
