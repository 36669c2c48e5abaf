package adaptiveprocessor

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// AttrMode is the resource attribute written on every process resource the
// processor keeps: the name of its host's current mode.
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

// hostState is what the processor remembers about one host.
type hostState struct {
	name        string
	mode        int
	lastSeen    time.Time
	cpu         *proc.CPUTracker
	transitions []transition

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

// entry is the per-resource scratch of one batch.
type entry struct {
	host  *hostState // nil for a resource that is not a process
	score float64
	keep  bool
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
		hs = &hostState{name: name, cpu: proc.NewCPUTracker()}
		p.hosts[name] = hs
	} else if !hs.inBatch && now.Sub(hs.lastSeen) > p.ttl {
		hs.mode = 0
		hs.cpu = proc.NewCPUTracker()
	}
	if !hs.inBatch {
		hs.inBatch = true
		hs.procs = 0
		hs.cores = 0
		hs.cands = hs.cands[:0]
		hs.cpu.Begin()
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

	// Pass 1: count processes and observe CPU per host.
	var last *hostState
	for i := 0; i < n; i++ {
		rm := rms.At(i)
		res := rm.Resource()
		if !proc.IsProcess(res) {
			entries[i] = entry{keep: true}
			continue
		}
		name := proc.Host(res)
		hs := last
		if hs == nil || hs.name != name {
			hs = p.hostFor(name, now)
			last = hs
		}
		hs.procs++
		e := entry{host: hs, keep: true}
		if p.needCPU {
			e.score = p.observeCPU(hs, rm)
		}
		entries[i] = e
	}

	// Pass 2: step each host's mode (one step per batch at most).
	anyFilter := false
	for _, hs := range p.batch {
		hs.cpu.End()
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
		e := entries[i]
		i++
		if !e.keep {
			return true
		}
		if e.host != nil {
			rm.Resource().Attributes().PutStr(AttrMode, p.modes[e.host.mode].name)
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

// observeCPU feeds a process's CPU time to its host's tracker, adds its
// utilization to the host total, and returns its CPU ranking score: the
// utilization since the previous batch or, on the first sighting, the
// average over the process's lifetime.
func (p *adaptiveProcessor) observeCPU(hs *hostState, rm pmetric.ResourceMetrics) float64 {
	secs, ts, start, ok := readCPU(rm)
	if !ok {
		return 0
	}
	cores, known := hs.cpu.Observe(proc.KeyOf(rm.Resource(), start), secs, ts)
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
		pri := proc.PriorityOf(rms.At(i).Resource())
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
