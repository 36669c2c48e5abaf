package adaptiveprocessor

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// AttrMode is the resource attribute written, unless label is off, on every
// process resource the processor keeps: the name of its host's current mode.
const AttrMode = "phoenix.adaptive.mode"

// mode is a validated, parsed Mode.
type mode struct {
	name      string
	dropBelow proc.Priority // Unknown keeps every priority
	topK      int
	enter     Thresholds
	exit      Thresholds
}

// filters reports whether the mode can drop anything.
func (m *mode) filters() bool { return m.dropBelow > proc.Low || m.topK > 0 }

// reached reports whether any used threshold is reached.
func (t Thresholds) reached(procs int, cpuPct float64) bool {
	return (t.ProcessCount > 0 && procs >= t.ProcessCount) ||
		(t.CPUPercent > 0 && cpuPct >= t.CPUPercent)
}

// below reports whether every used threshold is above the observed value.
func (t Thresholds) below(procs int, cpuPct float64) bool {
	return (t.ProcessCount == 0 || procs < t.ProcessCount) &&
		(t.CPUPercent == 0 || cpuPct < t.CPUPercent)
}

// transition counts the moves of one host from one mode to another.
type transition struct {
	from, to int
	n        uint64
}

// maxIdleRounds is how many of its host's batches a process may be missing
// from before its CPU reading is forgotten; it then counts as a first
// sighting again.
const maxIdleRounds = 3

// procKey identifies a process within its host: proc.Key without the host,
// which is the host state's.
type procKey struct {
	pid   int64
	start pcommon.Timestamp
	name  string
}

// cpuReading is the last process.cpu.time reading of one process.
type cpuReading struct {
	key     procKey // its name is owned by the processor, not by a batch
	seconds float64
	ts      pcommon.Timestamp
	round   uint64 // hostState.round of the reading
}

// hostState is what the processor remembers about one host.
type hostState struct {
	name        string
	mode        int
	lastSeen    time.Time
	transitions []transition

	// round counts the batches the host was in. readings holds the last CPU
	// reading of its processes; a reading more than maxIdleRounds+1 rounds
	// old is stale, as if forgotten, and every few rounds endBatch removes
	// the readings that the next batch would find stale. lastClean is the
	// round of the last removal.
	round     uint64
	lastClean uint64
	readings  map[procKey]*cpuReading
	// prev holds the host's readings in the order of its previous batch, next
	// those of the batch being processed, and cursor the position in prev
	// expected to match the next process. Scrapes list a host's processes in
	// the same order every interval, so most processes find their reading by
	// one comparison instead of a map lookup (see reading).
	prev, next []*cpuReading
	cursor     int

	// Per-batch scratch, valid while inBatch.
	inBatch bool
	procs   int
	cores   float64
	cands   []int
}

func (h *hostState) count(from, to int) {
	for i := range h.transitions {
		if h.transitions[i].from == from && h.transitions[i].to == to {
			h.transitions[i].n++
			return
		}
	}
	h.transitions = append(h.transitions, transition{from: from, to: to, n: 1})
}

// resetCPU forgets every CPU reading of the host.
func (h *hostState) resetCPU() {
	clear(h.readings)
	clear(h.prev)
	clear(h.next)
	h.prev, h.next = h.prev[:0], h.next[:0]
}

// reading returns the reading of process k, creating an empty one (round 0,
// so never fresh) on a first sighting. It tries, in order, the reading at the
// cursor of the previous batch's order, the one after it (the process before
// exited), and the map; in the last case the cursor stays, in case k is a new
// process.
func (h *hostState) reading(k procKey) *cpuReading {
	var r *cpuReading
	switch j := h.cursor; {
	case j < len(h.prev) && h.prev[j].key == k:
		r = h.prev[j]
		h.cursor++
	case j+1 < len(h.prev) && h.prev[j+1].key == k:
		r = h.prev[j+1]
		h.cursor += 2
	default:
		r = h.readings[k]
		if r == nil {
			k.name = strings.Clone(k.name)
			r = &cpuReading{key: k}
			h.readings[k] = r
		}
	}
	h.next = append(h.next, r)
	return r
}

// observe records a reading of process k and returns its utilization in
// cores since its previous reading. ok is false on a first sighting (or after
// maxIdleRounds batches of the host without it) and when time did not
// advance; a counter that went backwards counts as a restart.
func (h *hostState) observe(k procKey, seconds float64, ts pcommon.Timestamp) (cores float64, ok bool) {
	r := h.reading(k)
	fresh := r.round != 0 && h.round-r.round <= maxIdleRounds+1
	prevSeconds, prevTS := r.seconds, r.ts
	r.seconds, r.ts, r.round = seconds, ts, h.round
	if !fresh || ts <= prevTS {
		return 0, false
	}
	delta := seconds - prevSeconds
	if delta < 0 {
		delta = seconds
	}
	return delta / (float64(ts-prevTS) / 1e9), true
}

// endBatch makes this batch's order the hint of the next one and, every few
// rounds, removes the readings that the next batch would find stale.
func (h *hostState) endBatch() {
	h.prev, h.next = h.next, h.prev
	clear(h.next) // drop pointers to readings that may be removed
	h.next = h.next[:0]
	h.cursor = 0
	if len(h.readings) > len(h.prev) && h.round-h.lastClean > maxIdleRounds {
		h.lastClean = h.round
		for k, r := range h.readings {
			if h.round-r.round > maxIdleRounds {
				delete(h.readings, k)
			}
		}
	}
}

// entry is the per-resource scratch of one batch.
type entry struct {
	host  *hostState // nil for a resource that is not a process
	score float64
	pri   proc.Priority
	keep  bool
	// mode is the resource's phoenix.adaptive.mode attribute, when hasMode.
	mode    pcommon.Value
	hasMode bool
}

// adaptiveProcessor switches each host between filtering modes according to
// its process count and CPU utilization. It is safe for concurrent use.
type adaptiveProcessor struct {
	pipeline   string
	modes      []mode
	rankBy     string
	alwaysKeep proc.Priority
	cpuCount   float64
	ttl        time.Duration
	needCPU    bool
	labelKept  bool
	now        func() time.Time
	tel        *telemetry // nil: no metrics

	mu        sync.Mutex
	hosts     map[string]*hostState
	lastSweep time.Time
	entries   []entry
	batch     []*hostState
	heap      []int
}

func newProcessor(id component.ID, cfg *Config, tel *telemetry) (*adaptiveProcessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid phoenix_adaptive config: %w", err)
	}
	alwaysKeep, _ := proc.ParsePriority(cfg.AlwaysKeep)
	p := &adaptiveProcessor{
		pipeline:   id.String(),
		rankBy:     cfg.RankBy,
		alwaysKeep: alwaysKeep,
		cpuCount:   float64(cfg.CPUCount),
		ttl:        cfg.StateTTL,
		labelKept:  cfg.Label,
		now:        time.Now,
		tel:        tel,
		hosts:      make(map[string]*hostState),
	}
	if cfg.CPUCount == 0 {
		p.cpuCount = float64(runtime.NumCPU())
	}
	for _, m := range cfg.Modes {
		pm := mode{name: m.Name, topK: m.TopK, enter: m.Enter, exit: m.Exit}
		if m.DropBelow != "" {
			pm.dropBelow, _ = proc.ParsePriority(m.DropBelow)
		}
		if m.Enter.CPUPercent > 0 || (m.TopK > 0 && cfg.RankBy == RankByCPU) {
			p.needCPU = true
		}
		p.modes = append(p.modes, pm)
	}
	p.lastSweep = p.now()
	return p, nil
}

func (p *adaptiveProcessor) start(context.Context, component.Host) error {
	if p.tel != nil {
		p.tel.add(p)
	}
	return nil
}

func (p *adaptiveProcessor) shutdown(context.Context) error {
	if p.tel != nil {
		p.tel.remove(p)
	}
	return nil
}

// hostFor returns the state of host for the current batch, starting it over
// when it was not seen for longer than the TTL.
func (p *adaptiveProcessor) hostFor(name string, now time.Time) *hostState {
	hs, ok := p.hosts[name]
	if !ok {
		name = strings.Clone(name) // do not pin the batch
		hs = &hostState{name: name, readings: make(map[procKey]*cpuReading)}
		p.hosts[name] = hs
	} else if !hs.inBatch && now.Sub(hs.lastSeen) > p.ttl {
		hs.mode = 0
		hs.resetCPU()
	}
	if !hs.inBatch {
		hs.inBatch = true
		hs.procs = 0
		hs.cores = 0
		hs.cands = hs.cands[:0]
		hs.round++
		p.batch = append(p.batch, hs)
	}
	hs.lastSeen = now
	return hs
}

// processMetrics measures each host's pressure, steps its mode, and filters
// its process resources according to that mode.
func (p *adaptiveProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	n := rms.Len()
	if n == 0 {
		return md, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	now := p.now()
	if cap(p.entries) < n {
		p.entries = make([]entry, n)
	}
	entries := p.entries[:n]
	p.batch = p.batch[:0]

	// Pass 1: read each resource's attributes once, count processes and
	// observe CPU per host.
	var last *hostState
	for i := 0; i < n; i++ {
		rm := rms.At(i)
		a := readAttrs(rm.Resource())
		if !a.isProcess {
			entries[i] = entry{keep: true}
			continue
		}
		hs := last
		if hs == nil || hs.name != a.host {
			hs = p.hostFor(a.host, now)
			last = hs
		}
		hs.procs++
		e := entry{host: hs, pri: a.pri, keep: true, mode: a.mode, hasMode: a.hasMode}
		if p.needCPU {
			e.score = p.observeCPU(hs, rm, &a)
		}
		entries[i] = e
	}

	// Pass 2: step each host's mode (one step per batch at most).
	anyFilter := false
	for _, hs := range p.batch {
		hs.endBatch()
		pct := hs.cores / p.cpuCount * 100
		next := p.step(hs.mode, hs.procs, pct)
		if next != hs.mode {
			hs.count(hs.mode, next)
			hs.mode = next
		}
		if p.modes[hs.mode].filters() {
			anyFilter = true
		}
	}

	// Pass 3: decide which processes the hosts' modes keep.
	if anyFilter {
		p.selectKept(rms, entries)
	}

	// Pass 4: drop and label.
	i := 0
	rms.RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		e := &entries[i]
		i++
		if !e.keep {
			return true
		}
		if e.host != nil && p.labelKept {
			p.label(rm.Resource().Attributes(), e)
		}
		return false
	})

	for _, hs := range p.batch {
		hs.inBatch = false
	}
	clear(entries) // drop host pointers so swept hosts can be collected
	p.sweep(now)
	return md, nil
}

// label sets phoenix.adaptive.mode on a kept process resource, as
// attrs.PutStr would, without writing a value that is already there.
func (p *adaptiveProcessor) label(attrs pcommon.Map, e *entry) {
	name := p.modes[e.host.mode].name
	if e.hasMode {
		if e.mode.Type() != pcommon.ValueTypeStr || e.mode.Str() != name {
			e.mode.SetStr(name)
		}
		return
	}
	// Grow the attribute slice by exactly one: the append in PutStr would
	// double it.
	attrs.EnsureCapacity(attrs.Len() + 1)
	attrs.PutStr(AttrMode, name)
}

// attrs is what the processor reads from a resource's attributes.
type attrs struct {
	isProcess bool
	host      string
	name      string
	pid       int64
	pri       proc.Priority
	mode      pcommon.Value
	hasMode   bool
}

// readAttrs reads in one pass over a resource's attributes what proc.IsProcess,
// proc.Host, proc.KeyOf (without the start) and proc.PriorityOf read with one
// lookup each, with the same semantics: the first of duplicated keys wins,
// like pcommon.Map.Get.
func readAttrs(res pcommon.Resource) attrs {
	var a attrs
	var hasHost, hasName, hasPID, hasPri bool
	for k, v := range res.Attributes().All() {
		switch k {
		case proc.AttrPID:
			if !hasPID {
				hasPID, a.isProcess = true, true
				a.pid, _ = proc.PIDValue(v) // what proc.KeyOf takes, usable or not
			}
		case proc.AttrExecutableName:
			if !hasName {
				hasName, a.isProcess = true, true
				a.name = proc.StrValue(v)
			}
		case proc.AttrHostName:
			if !hasHost {
				hasHost = true
				a.host = proc.StrValue(v)
			}
		case proc.AttrPriority:
			if !hasPri {
				hasPri = true
				if v.Type() == pcommon.ValueTypeStr {
					// An invalid class is Unknown, as for proc.PriorityOf.
					a.pri, _ = proc.ParsePriority(v.Str())
				}
			}
		case AttrMode:
			if !a.hasMode {
				a.mode, a.hasMode = v, true
			}
		}
	}
	return a
}

// observeCPU feeds a process's CPU time to its host's readings, adds its
// utilization to the host total, and returns its CPU ranking score: the
// utilization since the previous batch or, on the first sighting, the
// average over the process's lifetime.
func (p *adaptiveProcessor) observeCPU(hs *hostState, rm pmetric.ResourceMetrics, a *attrs) float64 {
	secs, ts, start, ok := readCPU(rm)
	if !ok {
		return 0
	}
	cores, known := hs.observe(procKey{pid: a.pid, start: start, name: a.name}, secs, ts)
	if known {
		if !(cores > 0) || math.IsInf(cores, 1) {
			return 0
		}
		hs.cores += cores
		return cores
	}
	if start == 0 || ts <= start {
		return 0
	}
	avg := secs / (float64(ts-start) / 1e9)
	if !(avg > 0) || math.IsInf(avg, 1) {
		return 0
	}
	return avg
}

// readCPU returns in one pass over a resource's metrics what proc.CPUSeconds
// returns as total, ts and ok, and what proc.StartTime returns as start.
func readCPU(rm pmetric.ResourceMetrics) (secs float64, ts, start pcommon.Timestamp, ok bool) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Type() != pmetric.MetricTypeSum {
				continue
			}
			isCPU := m.Name() == proc.MetricCPUTime
			dps := m.Sum().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				if s := dp.StartTimestamp(); s != 0 && (start == 0 || s < start) {
					start = s
				}
				if isCPU {
					secs += proc.NumberValue(dp)
					if dp.Timestamp() > ts {
						ts = dp.Timestamp()
					}
					ok = true
				}
			}
		}
	}
	return secs, ts, start, ok
}

// step returns the mode a host moves to from cur.
func (p *adaptiveProcessor) step(cur, procs int, cpuPct float64) int {
	if cur+1 < len(p.modes) && p.modes[cur+1].enter.reached(procs, cpuPct) {
		return cur + 1
	}
	if cur > 0 && p.modes[cur].exit.below(procs, cpuPct) {
		return cur - 1
	}
	return cur
}

// selectKept applies drop_below, always_keep and top_k of each host's mode.
func (p *adaptiveProcessor) selectKept(rms pmetric.ResourceMetricsSlice, entries []entry) {
	for i := range entries {
		e := &entries[i]
		if e.host == nil {
			continue
		}
		m := &p.modes[e.host.mode]
		if !m.filters() {
			continue
		}
		pri := e.pri
		if pri < proc.Low {
			pri = proc.Low
		}
		switch {
		case pri >= p.alwaysKeep:
		case pri < m.dropBelow:
			e.keep = false
		case m.topK > 0:
			e.host.cands = append(e.host.cands, i)
		}
	}
	for _, hs := range p.batch {
		k := p.modes[hs.mode].topK
		if k == 0 || len(hs.cands) <= k {
			continue
		}
		if p.rankBy == RankByMemory {
			for _, i := range hs.cands {
				v, _ := proc.MemoryBytes(rms.At(i))
				if !(v > 0) || math.IsInf(v, 1) {
					v = 0
				}
				entries[i].score = v
			}
		}
		for _, i := range hs.cands {
			entries[i].keep = false
		}
		for _, i := range p.topK(hs.cands, k, entries) {
			entries[i].keep = true
		}
	}
}

// topK returns the indices of the k best candidates (highest score, then
// earliest position) using a min-heap of size k. It marks nothing.
func (p *adaptiveProcessor) topK(cands []int, k int, entries []entry) []int {
	// worse reports whether candidate a ranks below candidate b.
	worse := func(a, b int) bool {
		sa, sb := entries[a].score, entries[b].score
		return sa < sb || (sa == sb && a > b)
	}
	h := p.heap[:0]
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				m = r
			}
			if !worse(h[m], h[i]) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for _, c := range cands {
		if len(h) < k {
			h = append(h, c)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !worse(h[i], h[parent]) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
			continue
		}
		if worse(h[0], c) {
			h[0] = c
			down(0)
		}
	}
	p.heap = h
	return h
}

// sweep forgets hosts not seen for longer than the TTL, at most once per TTL.
func (p *adaptiveProcessor) sweep(now time.Time) {
	if now.Sub(p.lastSweep) < p.ttl {
		return
	}
	p.lastSweep = now
	for name, hs := range p.hosts {
		if now.Sub(hs.lastSeen) > p.ttl {
			delete(p.hosts, name)
		}
	}
}
