package rollupprocessor

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// propertySeed fixes the random process histories of the property test.
const propertySeed = 0x5eed_2026

// simProc is one simulated process. Double values are multiples of 1/16 so
// that every sum the test and the processor compute is exact.
type simProc struct {
	host  string
	pid   int64
	name  string
	prio  proc.Priority
	keep  *bool
	start pcommon.Timestamp
	cpu   [3]float64 // cumulative monotonic double, state user/system/wait
	io    [2]int64   // cumulative monotonic int, direction read/write
	mem   int64      // cumulative non-monotonic int sum
	thr   int64      // int gauge
	load  float64    // double gauge
	csw   [2]float64 // delta sum double, type voluntary/involuntary
	// noLoad processes do not report process.load; withHist ones also
	// report a histogram, which is dropped from the fold.
	noLoad, withHist bool

	// evInc is the increase of each counter series since the process was
	// last scraped, from the events the simulation applied: its full value
	// when new, the growth, or the new value after a reset.
	evInc map[string]float64
	// foldedLast is whether the process was folded at its last scrape, and
	// into which group.
	foldedLast bool
	groupLast  string
	// seen is whether the process was scraped before.
	seen bool
}

var (
	cpuStates = [3]string{"user", "system", "wait"}
	ioDirs    = [2]string{"read", "write"}
	cswTypes  = [2]string{"voluntary", "involuntary"}
	simHosts  = []string{"h1", "h2", ""}
	simNames  = []string{"bash", "sleep", "python3", "node", "sshd", "worker"}
	simPrios  = []proc.Priority{proc.Unknown, proc.Unknown, proc.Low, proc.Low, proc.Medium, proc.High, proc.Critical}
)

func dyadic(rng *rand.Rand, n int) float64 { return float64(rng.IntN(n)) / 16 }

func (p *simProc) counters() map[string]float64 {
	m := make(map[string]float64, 5)
	for i, s := range cpuStates {
		m["process.cpu.time|state="+s] = p.cpu[i]
	}
	for i, d := range ioDirs {
		m["process.disk.io|direction="+d] = float64(p.io[i])
	}
	return m
}

func (p *simProc) addInc(key string, d float64) { p.evInc[key] += d }

func (p *simProc) grow(rng *rand.Rand) {
	for i, s := range cpuStates {
		d := dyadic(rng, 200)
		p.cpu[i] += d
		p.addInc("process.cpu.time|state="+s, d)
	}
	for i, dir := range ioDirs {
		d := rng.Int64N(1 << 20)
		p.io[i] += d
		p.addInc("process.disk.io|direction="+dir, float64(d))
	}
	p.mem = rng.Int64N(1 << 30)
	p.thr = rng.Int64N(64)
	p.load = dyadic(rng, 400)
	p.csw = [2]float64{dyadic(rng, 1000), dyadic(rng, 1000)}
}

// reset sets every counter below its last scraped value; the simulation
// only resets a process in a step where it is scraped, so the processor
// sees the drop.
func (p *simProc) reset(rng *rand.Rand) {
	for i, s := range cpuStates {
		p.cpu[i] = math.Floor(p.cpu[i]*8*rng.Float64()) / 16
		p.evInc["process.cpu.time|state="+s] = p.cpu[i]
	}
	for i, d := range ioDirs {
		p.io[i] = rng.Int64N(p.io[i]/2 + 1)
		p.evInc["process.disk.io|direction="+d] = float64(p.io[i])
	}
}

func (p *simProc) canReset() bool {
	for _, v := range p.cpu {
		if v == 0 {
			return false
		}
	}
	return p.io[0] > 0 && p.io[1] > 0 && len(p.evInc) == 0
}

func (p *simProc) render(md pmetric.Metrics, ts pcommon.Timestamp) {
	rm := md.ResourceMetrics().AppendEmpty()
	a := rm.Resource().Attributes()
	if p.host != "" {
		a.PutStr(proc.AttrHostName, p.host)
	}
	a.PutInt(proc.AttrPID, p.pid)
	a.PutStr(proc.AttrExecutableName, p.name)
	a.PutStr(proc.AttrCommandLine, p.name+" --pid="+strconv.FormatInt(p.pid, 10))
	if p.prio != proc.Unknown {
		a.PutStr(proc.AttrPriority, p.prio.String())
	}
	if p.keep != nil {
		a.PutBool(proc.AttrKeep, *p.keep)
	}
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	sum := func(name string, mono bool, temp pmetric.AggregationTemporality) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(mono)
		s.SetAggregationTemporality(temp)
		return s.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, start pcommon.Timestamp) pmetric.NumberDataPoint {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		return dp
	}
	cpu := sum("process.cpu.time", true, pmetric.AggregationTemporalityCumulative)
	for i, s := range cpuStates {
		dp := point(cpu, p.start)
		dp.Attributes().PutStr("state", s)
		dp.SetDoubleValue(p.cpu[i])
	}
	io := sum("process.disk.io", true, pmetric.AggregationTemporalityCumulative)
	for i, d := range ioDirs {
		dp := point(io, p.start)
		dp.Attributes().PutStr("direction", d)
		dp.SetIntValue(p.io[i])
	}
	point(sum("process.memory.usage", false, pmetric.AggregationTemporalityCumulative), p.start).SetIntValue(p.mem)
	g := ms.AppendEmpty()
	g.SetName("process.threads")
	point(g.SetEmptyGauge().DataPoints(), 0).SetIntValue(p.thr)
	if !p.noLoad {
		l := ms.AppendEmpty()
		l.SetName("process.load")
		point(l.SetEmptyGauge().DataPoints(), 0).SetDoubleValue(p.load)
	}
	if p.withHist {
		h := ms.AppendEmpty()
		h.SetName("process.latency")
		hp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
		hp.SetCount(1)
		hp.SetTimestamp(ts)
	}
	csw := sum("process.context_switches", true, pmetric.AggregationTemporalityDelta)
	for i, c := range cswTypes {
		dp := point(csw, ts-10_000_000_000)
		dp.Attributes().PutStr("type", c)
		dp.SetDoubleValue(p.csw[i])
	}
}

// gaugeLike are the series that sum over the folded processes of one
// interval.
func (p *simProc) gaugeLike() map[string]float64 {
	m := map[string]float64{
		"process.memory.usage":                      float64(p.mem),
		"process.threads":                           float64(p.thr),
		"process.context_switches|type=voluntary":   p.csw[0],
		"process.context_switches|type=involuntary": p.csw[1],
	}
	if !p.noLoad {
		m["process.load"] = p.load
	}
	return m
}

// folded applies the documented rule to a simulated process.
func (p *simProc) folded(keepAt proc.Priority) bool {
	if p.prio == proc.Critical {
		return false
	}
	if p.keep != nil {
		return !*p.keep
	}
	return max(p.prio, proc.Low) < keepAt
}

func (p *simProc) group(mode GroupBy) string {
	switch mode {
	case GroupByPriority:
		return max(p.prio, proc.Low).String()
	case GroupByOther:
		return GroupOther
	default:
		return p.name
	}
}

type simIdentity struct {
	host, name string
	pid        int64
	start      pcommon.Timestamp
}

// oracle holds what the group series must show, computed from the
// definition: a group's counter is the sum over every process ever folded
// into it of the process's contributions, each the increase since the
// process was last folded into the group (its full value the first time,
// its new value after a reset).
type oracle struct {
	lastFolded map[string]map[simIdentity]map[string]float64 // group id -> process -> series -> value
	total      map[string]map[string]float64
	sinceEmit  map[string]map[string]float64 // increases since the group's last emission
	emitted    map[string]map[string]float64
	start      map[string]pcommon.Timestamp
}

func TestPropertyFoldInvariant(t *testing.T) {
	t.Parallel()
	for i, mode := range []GroupBy{GroupByExecutable, GroupByPriority, GroupByOther} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(propertySeed, uint64(i)))
			runProperty(t, rng, mode, 300)
		})
	}
}

func runProperty(t *testing.T, rng *rand.Rand, mode GroupBy, intervals int) {
	cfg := testConfig(mode)
	cfg.StateTTL = 24 * time.Hour
	p := newDirect(t, *cfg, nil)
	o := &oracle{
		lastFolded: map[string]map[simIdentity]map[string]float64{},
		total:      map[string]map[string]float64{},
		sinceEmit:  map[string]map[string]float64{},
		emitted:    map[string]map[string]float64{},
		start:      map[string]pcommon.Timestamp{},
	}
	var (
		alive   []*simProc
		exited  []int64
		nextPID int64 = 100
	)
	var (
		sawReset, sawExit, sawReuse, sawFlip, sawRejoin int
	)
	spawn := func(ts pcommon.Timestamp) {
		pid := nextPID
		if len(exited) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(exited))
			pid = exited[k]
			exited = append(exited[:k], exited[k+1:]...)
			sawReuse++
		} else {
			nextPID++
		}
		sp := &simProc{
			host:  simHosts[rng.IntN(len(simHosts))],
			pid:   pid,
			name:  simNames[rng.IntN(len(simNames))],
			prio:  simPrios[rng.IntN(len(simPrios))],
			start: ts - pcommon.Timestamp(rng.Int64N(int64(time.Hour))),
			evInc: map[string]float64{},
		}
		sp.noLoad = rng.IntN(10) == 0
		sp.withHist = rng.IntN(10) == 0
		if rng.IntN(3) == 0 {
			k := rng.IntN(2) == 0
			sp.keep = &k
		}
		sp.grow(rng)
		alive = append(alive, sp)
	}
	base := pcommon.Timestamp(1_800_000_000_000_000_000)
	for range 150 {
		spawn(base)
	}
	for step := range intervals {
		ts := base + pcommon.Timestamp(step)*pcommon.Timestamp(10*time.Second)
		// Evolve: exits, resets, growth, keep flips, new processes.
		scraped := make([]*simProc, 0, len(alive))
		next := alive[:0]
		for _, sp := range alive {
			switch r := rng.Float64(); {
			case r < 0.03 && step > 0:
				exited = append(exited, sp.pid)
				sawExit++
				continue
			case r < 0.06 && sp.canReset():
				sp.reset(rng)
				sawReset++
				scraped = append(scraped, sp)
			default:
				sp.grow(rng)
				if rng.Float64() >= 0.05 {
					scraped = append(scraped, sp)
				}
			}
			if sp.keep != nil && rng.Float64() < 0.1 {
				k := !*sp.keep
				sp.keep = &k
				sawFlip++
			}
			next = append(next, sp)
		}
		alive = next
		for range rng.IntN(6) {
			spawn(ts)
			scraped = append(scraped, alive[len(alive)-1])
		}
		rng.Shuffle(len(scraped), func(i, j int) { scraped[i], scraped[j] = scraped[j], scraped[i] })

		// Expected output of this interval.
		md := pmetric.NewMetrics()
		var kept []string
		wantGauge := map[string]map[string]float64{}
		wantMembers := map[string]int64{}
		wantTS := map[string]map[string]pcommon.Timestamp{} // group id -> series -> latest

		for k, sp := range scraped {
			pts := ts + pcommon.Timestamp(k)*1000 // distinct timestamps
			sp.render(md, pts)
			if !sp.folded(cfg.KeepPriority) {
				kept = append(kept, marshalRM(t, md.ResourceMetrics().At(md.ResourceMetrics().Len()-1)))
				sp.foldedLast, sp.seen = false, true
				clear(sp.evInc)
				continue
			}
			gid := sp.host + "/" + sp.group(mode)
			wantMembers[gid]++
			if wantTS[gid] == nil {
				wantTS[gid] = map[string]pcommon.Timestamp{}
			}
			for key := range sp.gaugeLike() {
				wantTS[gid][key] = max(wantTS[gid][key], pts)
			}
			for key := range sp.counters() {
				wantTS[gid][key] = max(wantTS[gid][key], pts)
			}
			if wantGauge[gid] == nil {
				wantGauge[gid] = map[string]float64{}
			}
			for key, v := range sp.gaugeLike() {
				wantGauge[gid][key] += v
			}
			if o.total[gid] == nil {
				o.total[gid] = map[string]float64{}
				o.sinceEmit[gid] = map[string]float64{}
				o.lastFolded[gid] = map[simIdentity]map[string]float64{}
				o.start[gid] = sp.start
			} else if _, created := o.emitted[gid]; !created {
				o.start[gid] = min(o.start[gid], sp.start)
			}
			id := simIdentity{host: sp.host, name: sp.name, pid: sp.pid, start: sp.start}
			last := o.lastFolded[gid][id]
			if last == nil {
				last = map[string]float64{}
				o.lastFolded[gid][id] = last
			} else if !sp.foldedLast || sp.groupLast != gid {
				sawRejoin++
			}
			for key, v := range sp.counters() {
				inc := v
				if lf, ok := last[key]; ok && v >= lf {
					inc = v - lf
				}
				if sp.foldedLast && sp.groupLast == gid || !sp.seen {
					// The definition and the events agree: new processes add
					// their full value, growing ones their growth, reset ones
					// their new value.
					require.Equal(t, sp.evInc[key], inc, "step %d %s pid %d %s", step, gid, sp.pid, key)
				}
				last[key] = v
				o.total[gid][key] += inc
				o.sinceEmit[gid][key] += inc
			}
			sp.foldedLast, sp.groupLast, sp.seen = true, gid, true
			clear(sp.evInc)
		}

		outMD, err := p.processMetrics(context.Background(), md)
		require.NoError(t, err)
		out := outMD.ResourceMetrics()

		// Kept processes pass through untouched and in order; the rest is
		// one resource per group with folded processes.
		require.Equal(t, len(kept)+len(wantMembers), out.Len(), "step %d", step)
		var groupRMs []pmetric.ResourceMetrics
		nextKept := 0
		for k := 0; k < out.Len(); k++ {
			if proc.IsProcess(out.At(k).Resource()) {
				require.Less(t, nextKept, len(kept), "step %d", step)
				require.Equal(t, kept[nextKept], marshalRM(t, out.At(k)), "step %d kept %d", step, nextKept)
				nextKept++
				continue
			}
			groupRMs = append(groupRMs, out.At(k))
		}
		require.Equal(t, len(kept), nextKept, "step %d", step)
		require.Len(t, groupRMs, len(wantMembers), "step %d", step)
		for _, rm := range groupRMs {
			res := rm.Resource()
			require.False(t, proc.IsProcess(res), "step %d: no process identity on groups", step)
			for key := range res.Attributes().All() {
				require.Contains(t, []string{proc.AttrHostName, proc.AttrGroup, proc.AttrGroupBy, proc.AttrGroupMembers}, key)
			}
			gid := proc.Host(res) + "/" + proc.Str(res, proc.AttrGroup)
			require.Equal(t, string(mode), proc.Str(res, proc.AttrGroupBy))
			n, _ := res.Attributes().Get(proc.AttrGroupMembers)
			require.Equal(t, wantMembers[gid], n.Int(), "step %d %s members", step, gid)

			pts := findPoints(rm)
			require.Len(t, pts, 5+len(wantGauge[gid]), "step %d %s: 5 counter series and the gauge-like ones", step, gid)
			// Gauges, non-monotonic and delta sums: the sum of this interval.
			for key, want := range wantGauge[gid] {
				require.Equal(t, want, proc.NumberValue(pts[key].dp), "step %d %s %s", step, gid, key)
			}
			// Counters: the running total, whose increase since the last
			// emission is the sum of the folded increases.
			prev := o.emitted[gid]
			now := map[string]float64{}
			for key, want := range o.total[gid] {
				pt := pts[key]
				got := proc.NumberValue(pt.dp)
				require.Equal(t, want, got, "step %d %s %s total", step, gid, key)
				if prev != nil {
					require.Equal(t, o.sinceEmit[gid][key], got-prev[key], "step %d %s %s increase", step, gid, key)
					require.GreaterOrEqual(t, got, prev[key], "step %d %s %s monotonic", step, gid, key)
				}
				require.Equal(t, o.start[gid], pt.dp.StartTimestamp(), "step %d %s %s start fixed", step, gid, key)
				now[key] = got
			}
			for key, pt := range pts {
				require.Equal(t, wantTS[gid][key], pt.dp.Timestamp(), "step %d %s %s latest timestamp", step, gid, key)
			}
			o.emitted[gid] = now
			clear(o.sinceEmit[gid])
		}
	}
	// The histories exercised every case the invariant speaks of.
	require.Positive(t, sawReset, "resets")
	require.Positive(t, sawExit, "exits")
	require.Positive(t, sawReuse, "reused pids")
	require.Positive(t, sawFlip, "phoenix.keep flips")
	require.Positive(t, sawRejoin, "processes folded again after being kept")
	require.Positive(t, p.reused, "group outputs written over their first process")
	require.Positive(t, p.rebuilt, "group outputs rebuilt")
	t.Logf("%s: %d intervals, %d resets, %d exits, %d reused pids, %d keep flips, %d rejoins, %d outputs reused, %d rebuilt",
		mode, intervals, sawReset, sawExit, sawReuse, sawFlip, sawRejoin, p.reused, p.rebuilt)
}
