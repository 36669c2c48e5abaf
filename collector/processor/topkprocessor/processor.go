package topkprocessor

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// maxStates bounds the per-process state. Past it, expired processes are
// swept at once, and if that is not enough all state is forgotten (the
// processes then enter again as first sightings).
const maxStates = 1 << 20

// series is what the processor remembers about one process instance.
type series struct {
	// in and name are the process's identity within its host (with the
	// host, proc.Key).
	in   instance
	name string
	// cpuSeconds and cpuTS are the previous cumulative CPU reading.
	cpuSeconds float64
	cpuTS      pcommon.Timestamp
	// score is the last CPU score, reused when a batch repeats a reading.
	score float64
	// seen is when the process was last observed (processing clock, Unix ns).
	seen int64
	// member tells whether the process was kept by rank in the last batch
	// it was ranked in; members leave only below rank k+exit_margin.
	member bool
}

// before reports whether a ranks above b: higher score first, then lower
// pid, earlier start, name and batch position, so ranks are deterministic.
func before(a, b *entry) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.pid != b.pid {
		return a.pid < b.pid
	}
	if a.start != b.start {
		return a.start < b.start
	}
	if a.name != b.name {
		return a.name < b.name
	}
	return a.res < b.res
}

// instance identifies a process within its host, together with the
// executable name kept in its series: a fixed-size key that hashes without
// reading strings.
type instance struct {
	pid   int64
	start pcommon.Timestamp
}

// hostState is the state of one host's processes.
type hostState struct {
	procs map[instance]*series
	// gen and idx number the host within the batch being processed: idx is
	// valid while gen equals topK.gen, and topK.batchHosts[idx] is then
	// this host.
	gen uint64
	idx int32
	// hint holds the series of the host's process resources in the order of
	// the previous batch, next those of the batch being processed, and pos
	// the position in it. Scrapes list processes in a stable order, so most
	// lookups are a comparison with the hint instead of a map access.
	hint, next []*series
	pos        int
}

// topK ranks and filters process resources. All fields below mu are guarded
// by it, including the scratch buffers reused from batch to batch.
type topK struct {
	k          int
	margin     int
	byMemory   bool
	alwaysKeep proc.Priority
	mark       bool
	ttl        int64 // nanoseconds
	now        func() time.Time

	mu        sync.Mutex
	hosts     map[string]*hostState
	nStates   int // series across all hosts
	gen       uint64
	lastSweep int64
	maxStates int
	keep      []bool
	hostCount []int
	// order lists the batch's entries by their index, grouped by host.
	order []int32
	// best lists the best-ranked entries of the host being ranked.
	best []int32
	// entries is what the reading passes of processMetrics read from the
	// batch's process resources, in batch order, and batchHosts the hosts
	// of the batch by their index.
	entries    []entry
	batchHosts []*hostState
}

// newTopK builds the processor from a configuration; it fails on the same
// configurations that Config.Validate rejects.
func newTopK(cfg *Config) (*topK, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	byMemory, _ := cfg.rankByMemory()
	alwaysKeep, _ := cfg.alwaysKeep()
	mark, _ := cfg.mark()
	return &topK{
		k:          cfg.K,
		margin:     cfg.exitMargin(),
		byMemory:   byMemory,
		alwaysKeep: alwaysKeep,
		mark:       mark,
		ttl:        int64(cfg.StateTTL),
		now:        time.Now,
		hosts:      make(map[string]*hostState),
		maxStates:  maxStates,
	}, nil
}

// processMetrics ranks the process resources of md per host and drops or
// marks those not kept. Other resources pass through untouched.
func (p *topK) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	now := p.now().UnixNano()
	rms := md.ResourceMetrics()
	n := rms.Len()

	p.mu.Lock()
	defer p.mu.Unlock()

	p.keep = slices.Grow(p.keep[:0], n)[:n]
	for i := range p.keep {
		p.keep[i] = true
	}
	p.gen++
	p.batchHosts = p.batchHosts[:0]

	// The batch is read in passes over the resources, attributes first and
	// metrics second, before any state is touched: the reads of a freshly
	// received batch mostly miss the CPU caches, and a short loop whose
	// iterations are independent lets the CPU overlap the misses of
	// successive resources instead of waiting for each in turn. What the
	// passes read goes to one compact scratch array, itself out of the
	// caches when a batch arrives.
	p.entries = slices.Grow(p.entries[:0], n)[:n]
	m := 0
	var (
		lastHost string
		hostIdx  int32
	)
	for i := 0; i < n; i++ {
		e := &p.entries[m]
		host, ok := p.readIdentity(rms.At(i).Resource(), e)
		if !ok {
			continue
		}
		if m == 0 || host != lastHost {
			hostIdx = p.host(host).idx
			lastHost = host
		}
		e.res, e.host = int32(i), hostIdx
		m++
	}
	entries := p.entries[:m]
	if p.byMemory {
		for j := range entries {
			readMetrics(rms.At(int(entries[j].res)), true, &entries[j])
		}
	} else {
		readCPU(rms, entries)
	}
	for j := range entries {
		e := &entries[j]
		st := p.series(p.batchHosts[e.host], e.name, instance{pid: e.pid, start: e.start}, now)
		if p.byMemory {
			e.score = sanitize(e.value)
		} else {
			e.score = p.cpuScore(st, e)
		}
		st.seen = now
		e.st = st
	}

	p.rank(entries)

	if p.mark {
		for i := range entries {
			res := entries[i].res
			rms.At(int(res)).Resource().Attributes().PutBool(proc.AttrKeep, p.keep[res])
		}
	} else if len(entries) > 0 {
		idx := 0
		keep := p.keep
		rms.RemoveIf(func(pmetric.ResourceMetrics) bool {
			k := keep[idx]
			idx++
			return !k
		})
	}
	// Drop references into the batch held by the scratch buffers.
	clear(entries)
	clear(p.batchHosts)

	if now-p.lastSweep >= p.ttl/4 || p.nStates > p.maxStates {
		p.sweep(now)
	}
	return md, nil
}

// host returns the state of a host and numbers it within the batch.
func (p *topK) host(name string) *hostState {
	hs := p.hosts[name]
	if hs == nil {
		hs = &hostState{procs: make(map[instance]*series)}
		p.hosts[strings.Clone(name)] = hs
	}
	if hs.gen != p.gen {
		hs.gen, hs.idx = p.gen, int32(len(p.batchHosts))
		p.batchHosts = append(p.batchHosts, hs)
		hs.hint, hs.next = hs.next, hs.hint[:0]
		hs.pos = 0
	}
	return hs
}

// series returns the state of a process, creating it on a first sighting. A
// process not seen for longer than the TTL, or whose pid and start time now
// carry another executable name, starts over as a first sighting.
func (p *topK) series(hs *hostState, name string, in instance, now int64) *series {
	var st *series
	if hs.pos < len(hs.hint) && hs.hint[hs.pos].in == in {
		st = hs.hint[hs.pos]
	} else {
		st = hs.procs[in]
	}
	hs.pos++
	switch {
	case st == nil:
		st = &series{in: in, name: strings.Clone(name)}
		hs.procs[in] = st
		p.nStates++
	case st.name != name:
		*st = series{in: in, name: strings.Clone(name)}
	case now-st.seen > p.ttl:
		*st = series{in: in, name: st.name}
	}
	hs.next = append(hs.next, st)
	return st
}

// cpuScore returns a process's CPU utilization in cores and records the
// reading. On a first sighting there is no delta yet: the score is then the
// average utilization over the process's lifetime (cumulative CPU time
// divided by the time since its start), or 0 when the start is unknown. A
// reading that does not advance in time reuses the previous score; a counter
// that went backwards counts as a restart.
func (p *topK) cpuScore(st *series, e *entry) float64 {
	if !e.has {
		return 0
	}
	switch {
	case st.cpuTS == 0:
		st.score = 0
		if e.start != 0 && e.ts > e.start {
			st.score = sanitize(e.value / (float64(e.ts-e.start) / 1e9))
		}
	case e.ts > st.cpuTS:
		delta := e.value - st.cpuSeconds
		if delta < 0 {
			delta = e.value
		}
		st.score = sanitize(delta / (float64(e.ts-st.cpuTS) / 1e9))
	default:
		return st.score
	}
	st.cpuSeconds, st.cpuTS = e.value, e.ts
	return st.score
}

// sanitize maps NaN and negative scores to 0 so that the ranking is a total
// order whatever the input holds.
func sanitize(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return v
}

// rank decides p.keep for every entry, host by host, and updates
// membership.
func (p *topK) rank(es []entry) {
	p.order = slices.Grow(p.order[:0], len(es))[:len(es)]
	nHosts := len(p.batchHosts)
	switch nHosts {
	case 0:
		return
	case 1:
		for i := range p.order {
			p.order[i] = int32(i)
		}
		p.rankHost(es, p.order)
		return
	}
	// Several hosts: a counting sort by host index makes each host's
	// entries contiguous in the order.
	p.hostCount = slices.Grow(p.hostCount[:0], nHosts+1)[:nHosts+1]
	clear(p.hostCount)
	for i := range es {
		p.hostCount[es[i].host+1]++
	}
	for h := 1; h < len(p.hostCount); h++ {
		p.hostCount[h] += p.hostCount[h-1]
	}
	next := p.hostCount
	for i := range es {
		h := es[i].host
		p.order[next[h]] = int32(i)
		next[h]++
	}
	// next[h] is now the end of host h, which is the start of host h+1.
	begin := 0
	for h := range nHosts {
		p.rankHost(es, p.order[begin:next[h]])
		begin = next[h]
	}
}

// rankHost ranks one host's entries, listed by order. The top k are kept
// and become members; members of the previous batch ranked below k stay
// while they rank within k+margin; everything else leaves. Processes at or
// above always_keep are kept whatever their rank.
func (p *topK) rankHost(es []entry, order []int32) {
	k := min(p.k, len(order))
	p.best = bestOf(es, order, min(p.k+p.margin, len(order)), p.best[:0])
	for i, j := range p.best {
		if i < k {
			es[j].tier = tierTop
		} else {
			es[j].tier = tierMargin
		}
	}
	for _, j := range order {
		e := &es[j]
		switch e.tier {
		case tierTop:
			e.st.member = true
		case tierNone:
			e.st.member = false
		}
		p.keep[e.res] = e.st.member || e.always
	}
}

// Tiers of an entry's rank within its host.
const (
	tierNone   uint8 = iota // ranked below k+exit_margin
	tierMargin              // ranked within k+exit_margin but not k
	tierTop                 // ranked within k
)

// bestOf appends to best the indices of the n best-ranked entries of es
// listed by order, best first, and returns it. It scans order once against
// the n-th best so far: with n much smaller than the number of entries, as
// for a top k of a host's processes, most entries are rejected by one
// comparison.
func bestOf(es []entry, order []int32, n int, best []int32) []int32 {
	if n <= 0 {
		return best
	}
	for _, j := range order {
		e := &es[j]
		if len(best) == n && !before(e, &es[best[n-1]]) {
			continue
		}
		// Insert j after the entries that rank before it.
		i := len(best)
		if i < n {
			best = append(best, j)
		} else {
			i = n - 1
		}
		for ; i > 0 && before(e, &es[best[i-1]]); i-- {
			best[i] = best[i-1]
		}
		best[i] = j
	}
	return best
}

// sweep forgets processes not seen for longer than the state TTL; if the
// state is still over its bound it is cleared.
func (p *topK) sweep(now int64) {
	p.lastSweep = now
	for name, hs := range p.hosts {
		// The hints may name series about to be forgotten.
		clear(hs.hint)
		hs.hint = hs.hint[:0]
		clear(hs.next)
		hs.next = hs.next[:0]
		for in, st := range hs.procs {
			if now-st.seen > p.ttl {
				delete(hs.procs, in)
				p.nStates--
			}
		}
		if len(hs.procs) == 0 {
			delete(p.hosts, name)
		}
	}
	if p.nStates > p.maxStates {
		clear(p.hosts)
		p.nStates = 0
	}
}

// entry is what ranking reads from one process resource.
type entry struct {
	// name and pid come from the attributes.
	name string
	pid  int64
	// value is the ranking metric (CPU seconds, summed over states, or
	// resident bytes), has whether the resource has it, ts the time of
	// its reading and start the process's start time.
	value     float64
	ts, start pcommon.Timestamp
	res       int32 // index of the resource in the batch
	host      int32 // index of the host in the batch
	// always tells whether the process's priority is at or above
	// always_keep.
	always bool
	has    bool
	// tier is where ranking put the entry.
	tier uint8
	// score is the rank's score, and st the process's state.
	score float64
	st    *series
}

// readIdentity reads host.name, process.pid, process.executable.name and
// phoenix.priority in one pass over the attributes, with the semantics of
// proc.Host, proc.PID, proc.Str and proc.PriorityOf (a missing or invalid
// priority counts as low), into e's name, pid and always, and returns the
// host. ok is false for resources that are not processes (proc.IsProcess).
//
// The common shapes (non-empty strings, a non-zero int pid) are read inline:
// this loop runs for every attribute of every resource, and a call in it
// costs more than the read, as the loop's registers are saved and restored
// around it. Other shapes go to proc.StrValue and proc.PIDValue.
func (p *topK) readIdentity(res pcommon.Resource, e *entry) (host string, ok bool) {
	*e = entry{always: p.alwaysKeep <= proc.Low}
	for k, v := range res.Attributes().All() {
		switch k {
		case proc.AttrHostName:
			// Str is "" for other types.
			if host = v.Str(); host == "" {
				host = proc.StrValue(v)
			}
		case proc.AttrPID:
			// Int is 0 for other types; an unusable pid reads as 0.
			if e.pid = v.Int(); e.pid == 0 {
				e.pid, _ = proc.PIDValue(v)
			}
			ok = true
		case proc.AttrExecutableName:
			if e.name = v.Str(); e.name == "" {
				e.name = proc.StrValue(v)
			}
			ok = true
		case proc.AttrPriority:
			// Str is "" for other types, which names no class.
			e.always = p.alwaysKeep <= proc.Low || p.isAlways(v.Str())
		}
	}
	return host, ok
}

// isAlways reports whether a phoenix.priority value s names a class at or
// above always_keep, as proc.PriorityOf(res) >= always_keep. The class names
// differ in length, so a non-matching value is told apart without reading
// its bytes.
func (p *topK) isAlways(s string) bool {
	for pr := p.alwaysKeep; pr <= proc.Critical; pr++ {
		if s == pr.String() {
			return true
		}
	}
	return false
}

// readMetrics reads the ranking metric of a resource into e's value, has,
// ts and start: with byMemory the resident memory of the first
// process.memory.usage metric (as proc.MemoryBytes), otherwise the CPU time
// of the first process.cpu.time sum, summed over states, and its latest
// timestamp (as proc.CPUSeconds for one such metric). The process start time
// is the earliest start timestamp of the ranking metric's points; when it
// has none, that of any cumulative sum of the resource (proc.StartTime).
// hostmetrics gives all of a process's points the same start, so this is
// proc.StartTime without reading every point.
func readMetrics(rm pmetric.ResourceMetrics, byMemory bool, r *entry) {
	sms := rm.ScopeMetrics()
scan:
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch {
			case byMemory && m.Name() == proc.MetricMemoryUsage:
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				if dps.Len() == 0 {
					continue
				}
				dp := dps.At(0)
				r.value, r.has = proc.NumberValue(dp), true
				if m.Type() == pmetric.MetricTypeSum {
					r.start = earliestStart(dps)
				}
				break scan
			case !byMemory && m.Name() == proc.MetricCPUTime && m.Type() == pmetric.MetricTypeSum:
				dps := m.Sum().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					dp := dps.At(k)
					if s := dp.StartTimestamp(); s != 0 && (r.start == 0 || s < r.start) {
						r.start = s
					}
					r.value += proc.NumberValue(dp)
					r.ts = max(r.ts, dp.Timestamp())
					r.has = true
				}
				break scan
			}
		}
	}
	if r.start == 0 {
		r.start = proc.StartTime(rm)
	}
}

// cpuGroup is how many resources readCPU follows at once.
const cpuGroup = 8

// cpuPoints is the most points readCPU follows for one resource: hostmetrics
// writes one per CPU state, three on Linux.
const cpuPoints = 4

// readCPU reads the CPU time of the entries' resources into their value,
// has, ts and start, as readMetrics does without byMemory. Reaching a
// resource's points takes a chain of about ten dependent loads (resource,
// scope slice, scope, metric slice, metric, sum, point slice, points, point
// values), each likely a cache miss on a fresh batch. Followed one resource
// at a time, the CPU overlaps the chains of at most a couple of resources;
// here the chains of cpuGroup resources advance together, one link per loop,
// so their misses overlap. Resources whose first metric is not a
// process.cpu.time sum are read by readMetrics.
func readCPU(rms pmetric.ResourceMetricsSlice, es []entry) {
	for len(es) > 0 {
		g := es[:min(cpuGroup, len(es))]
		es = es[len(g):]
		var (
			ok  [cpuGroup]bool
			ms  [cpuGroup]pmetric.MetricSlice
			m   [cpuGroup]pmetric.Metric
			dps [cpuGroup]pmetric.NumberDataPointSlice
		)
		for x := range g {
			if sms := rms.At(int(g[x].res)).ScopeMetrics(); sms.Len() > 0 {
				ms[x], ok[x] = sms.At(0).Metrics(), true
			}
		}
		for x := range g {
			if ok[x] {
				if ms[x].Len() > 0 {
					m[x] = ms[x].At(0)
				} else {
					ok[x] = false
				}
			}
		}
		for x := range g {
			if ok[x] {
				if m[x].Name() == proc.MetricCPUTime && m[x].Type() == pmetric.MetricTypeSum {
					dps[x] = m[x].Sum().DataPoints()
				} else {
					ok[x] = false
				}
			}
		}
		// The points: first their addresses, then their timestamps, then
		// their values, each a separate object.
		var (
			n  [cpuGroup]int
			dp [cpuGroup][cpuPoints]pmetric.NumberDataPoint
		)
		for x := range g {
			if ok[x] {
				n[x] = dps[x].Len()
				if n[x] > cpuPoints {
					ok[x] = false
					continue
				}
				for k := range n[x] {
					dp[x][k] = dps[x].At(k)
				}
			}
		}
		// Sums and extremes are kept in locals: through r, each step
		// would wait for the store of the previous one.
		for x := range g {
			r := &g[x]
			if !ok[x] {
				continue
			}
			start, ts := r.start, r.ts
			for _, d := range dp[x][:n[x]] {
				if s := d.StartTimestamp(); s != 0 && (start == 0 || s < start) {
					start = s
				}
				ts = max(ts, d.Timestamp())
			}
			r.start, r.ts = start, ts
		}
		for x := range g {
			r := &g[x]
			if !ok[x] {
				readMetrics(rms.At(int(r.res)), false, r)
				continue
			}
			value := r.value
			for _, d := range dp[x][:n[x]] {
				// DoubleValue is 0 for int points, read by NumberValue: the
				// call is kept off the common path.
				v := d.DoubleValue()
				if v == 0 {
					v = proc.NumberValue(d)
				}
				value += v
			}
			r.value = value
			r.has = r.has || n[x] > 0
			if r.start == 0 {
				r.start = proc.StartTime(rms.At(int(r.res)))
			}
		}
	}
}

// earliestStart returns the earliest non-zero start timestamp of the points.
func earliestStart(dps pmetric.NumberDataPointSlice) pcommon.Timestamp {
	var start pcommon.Timestamp
	for k := 0; k < dps.Len(); k++ {
		if s := dps.At(k).StartTimestamp(); s != 0 && (start == 0 || s < start) {
			start = s
		}
	}
	return start
}
