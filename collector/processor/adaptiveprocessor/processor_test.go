package adaptiveprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

// tightKept is what the default tight mode keeps of a prioritized proctest
// host with at least 210 processes: 5 criticals + top 20 mediums.
const tightKept = 5 + 20

func TestModeHysteresisOnProcessCount(t *testing.T) {
	p, _ := newDirectProcessor(t, createDefaultConfig())
	steps := []struct {
		procs int
		mode  string
	}{
		{100, "relaxed"},
		{450, "relaxed"},
		{499, "relaxed"},
		{500, "tight"}, // enter.process_count reached
		{450, "tight"}, // between exit and enter: stays
		{401, "tight"},
		{499, "tight"},
		{400, "tight"}, // not below exit
		{399, "relaxed"},
		{450, "relaxed"}, // between exit and enter: stays
		{499, "relaxed"},
		{1000, "tight"},
		{10, "relaxed"},
	}
	for i, s := range steps {
		out := run(t, p, hostBatch("h", s.procs, i))
		require.Equal(t, s.mode, modeOf(p, "h"), "batch %d (%d processes)", i, s.procs)
		want := s.procs
		if s.mode == "tight" {
			want = tightKept
		}
		require.Len(t, keptPIDs(t, out, s.mode), want, "batch %d", i)
	}
}

func TestOscillationBetweenThresholdsKeepsMode(t *testing.T) {
	for _, start := range []struct {
		name  string
		procs int
	}{{"relaxed", 100}, {"tight", 800}} {
		t.Run("from "+start.name, func(t *testing.T) {
			p, _ := newDirectProcessor(t, createDefaultConfig())
			run(t, p, hostBatch("h", start.procs, 0))
			require.Equal(t, start.name, modeOf(p, "h"))
			for i := 1; i <= 30; i++ {
				n := 410 + (i%2)*80 // 410, 490, 410, ...: between exit (400) and enter (500)
				run(t, p, hostBatch("h", n, i))
				require.Equal(t, start.name, modeOf(p, "h"), "batch %d (%d processes)", i, n)
			}
		})
	}
}

// cpuBatch renders n processes of host whose cumulative CPU is cum each.
func cpuBatch(host string, n int, cum float64, i int) pmetric.Metrics {
	ps := proctest.Processes(host, n)
	for j := range ps {
		ps[j].CPUSeconds = cum
	}
	return prioritize(proctest.Metrics(ps, scrapeAt(i)))
}

func TestModeHysteresisOnCPU(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.CPUCount = 4
	p, _ := newDirectProcessor(t, cfg)
	// 8 processes on 4 CPUs, 10 s between scrapes: each process at c cores
	// is 8*c/4*100 % of the host.
	steps := []struct {
		cores float64 // per process
		mode  string
	}{
		{0, "relaxed"},    // first sighting: no rate yet
		{0.5, "tight"},    // 100 %
		{0.35, "tight"},   // 70 %: between exit and enter
		{0.31, "tight"},   // 62 %
		{0.29, "relaxed"}, // 58 %
		{0.35, "relaxed"}, // 70 %
		{0.45, "tight"},   // 90 %
	}
	cum := 100.0
	for i, s := range steps {
		cum += s.cores * 10
		run(t, p, cpuBatch("h", 8, cum, i))
		require.Equal(t, s.mode, modeOf(p, "h"), "batch %d (%.2f cores per process)", i, s.cores)
	}
}

func TestModeStepsOnePerBatch(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Modes = append(cfg.Modes, Mode{
		Name: "emergency", DropBelow: "high", TopK: 5,
		Enter: Thresholds{ProcessCount: 900}, Exit: Thresholds{ProcessCount: 700},
	})
	require.NoError(t, cfg.Validate())
	p, _ := newDirectProcessor(t, cfg)
	var got []string
	var kept []int
	for i, n := range []int{10, 2000, 2000, 2000, 10, 10, 10} {
		out := run(t, p, hostBatch("h", n, i))
		got = append(got, modeOf(p, "h"))
		kept = append(kept, countProcesses(out, "h"))
	}
	require.Equal(t, []string{"relaxed", "tight", "emergency", "emergency", "tight", "relaxed", "relaxed"}, got)
	// emergency keeps criticals only; 10 processes in tight keep 5 criticals
	// and no medium (the first medium pid is 1010).
	require.Equal(t, []int{10, tightKept, 5, 5, 5, 10, 10}, kept)
}

// testProc is one process of a hand-written batch.
type testProc struct {
	pid int64
	pri any // string, int64 or nil for none
	cpu float64
	rss int64 // MiB
}

var tableProcs = []testProc{
	{1, "critical", 0, 1},
	{2, "high", 50, 2},
	{3, "medium", 90, 3},
	{4, "medium", 10, 90},
	{5, "low", 100, 100},
	{6, nil, 95, 95},
	{7, "medium", 70, 5},
	{8, "high", 20, 50},
	{9, "bogus", 99, 4},
	{10, int64(4), 30, 6},
}

func tableBatch(host string, procs []testProc, i int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, tp := range procs {
		proctest.AppendProcess(md, proctest.Process{
			Host: host, PID: tp.pid, Name: fmt.Sprintf("proc-%d", tp.pid),
			CommandLine: fmt.Sprintf("/bin/proc-%d", tp.pid), Owner: "app",
			CPUSeconds: tp.cpu, RSS: tp.rss << 20, Start: t0 - 1_000_000_000_000,
		}, scrapeAt(i))
		attrs := md.ResourceMetrics().At(md.ResourceMetrics().Len() - 1).Resource().Attributes()
		switch v := tp.pri.(type) {
		case string:
			attrs.PutStr(proc.AttrPriority, v)
		case int64:
			attrs.PutInt(proc.AttrPriority, v)
		}
	}
	return md
}

func TestTightModeFiltering(t *testing.T) {
	tests := []struct {
		name       string
		dropBelow  string
		topK       int
		rankBy     string
		alwaysKeep string
		want       []int64
	}{
		{name: "drop below medium", dropBelow: "medium", want: []int64{1, 2, 3, 4, 7, 8}},
		{name: "drop below high", dropBelow: "high", want: []int64{1, 2, 8}},
		{name: "drop below critical", dropBelow: "critical", want: []int64{1}},
		{name: "drop below low keeps unknown", dropBelow: "low", topK: 0, want: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{name: "top 2 by cpu of medium and up", dropBelow: "medium", topK: 2, want: []int64{1, 3, 7}},
		{name: "top 2 by memory of medium and up", dropBelow: "medium", topK: 2, rankBy: "memory", want: []int64{1, 4, 8}},
		{name: "top 3 by cpu of every priority", topK: 3, want: []int64{1, 5, 6, 9}},
		{name: "top k above candidates keeps all", dropBelow: "medium", topK: 50, want: []int64{1, 2, 3, 4, 7, 8}},
		{name: "always keep high", dropBelow: "medium", topK: 1, alwaysKeep: "high", want: []int64{1, 2, 3, 8}},
		{name: "always keep low keeps everything", dropBelow: "critical", topK: 1, alwaysKeep: "low", want: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Modes[1] = Mode{
				Name: "tight", DropBelow: tt.dropBelow, TopK: tt.topK,
				Enter: Thresholds{ProcessCount: 5}, Exit: Thresholds{ProcessCount: 2},
			}
			if tt.rankBy != "" {
				cfg.RankBy = tt.rankBy
			}
			if tt.alwaysKeep != "" {
				cfg.AlwaysKeep = tt.alwaysKeep
			}
			ap, sink := newTestProcessor(t, cfg, nil, "")
			md := merge(tableBatch("h", tableProcs, 0), systemResource("h"))
			require.NoError(t, ap.ConsumeMetrics(context.Background(), md))
			out := sink.AllMetrics()[0]
			require.Equal(t, tt.want, keptPIDs(t, out, "tight"))
			require.Equal(t, 1, out.ResourceMetrics().Len()-len(tt.want), "the system resource passes")
		})
	}
}

func TestTopKTieBreaksByPosition(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Modes[1] = Mode{Name: "tight", TopK: 2, Enter: Thresholds{ProcessCount: 3}, Exit: Thresholds{ProcessCount: 1}}
	p, _ := newDirectProcessor(t, cfg)
	procs := []testProc{{11, "low", 5, 1}, {12, "low", 7, 1}, {13, "low", 5, 1}, {14, "low", 5, 1}}
	out := run(t, p, tableBatch("h", procs, 0))
	require.Equal(t, []int64{11, 12}, keptPIDs(t, out, "tight"))
}

func TestTopKRanksByCPURateOnceKnown(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Modes[1] = Mode{Name: "tight", TopK: 1, Enter: Thresholds{ProcessCount: 2}, Exit: Thresholds{ProcessCount: 1}}
	p, _ := newDirectProcessor(t, cfg)
	// pid 21 used a lot of CPU in the past, pid 22 is busy now.
	out := run(t, p, tableBatch("h", []testProc{{21, "low", 1000, 1}, {22, "low", 10, 1}}, 0))
	require.Equal(t, []int64{21}, keptPIDs(t, out, "tight"), "lifetime average before a rate is known")
	out = run(t, p, tableBatch("h", []testProc{{21, "low", 1000.5, 1}, {22, "low", 18, 1}}, 1))
	require.Equal(t, []int64{22}, keptPIDs(t, out, "tight"), "rate since the previous scrape")
}

func TestCriticalsAlwaysKeptUnderPressure(t *testing.T) {
	p, _ := newDirectProcessor(t, createDefaultConfig())
	for i := 0; i < 5; i++ {
		out := run(t, p, hostBatch("h", 1000, i))
		require.Equal(t, "tight", modeOf(p, "h"))
		names := map[string]bool{}
		rms := out.ResourceMetrics()
		for j := 0; j < rms.Len(); j++ {
			res := rms.At(j).Resource()
			if proc.PriorityOf(res) == proc.Critical {
				names[proc.Str(res, proc.AttrExecutableName)] = true
			} else {
				require.Equal(t, proc.Medium, proc.PriorityOf(res), "tight mode keeps only criticals and mediums")
			}
		}
		require.Len(t, names, len(proctest.CriticalNames))
		require.Equal(t, tightKept, rms.Len())
	}
}

// interleave alternates the resources of a and b (then the rest of the longer).
func interleave(a, b pmetric.Metrics) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ra, rb := a.ResourceMetrics(), b.ResourceMetrics()
	for i := 0; i < max(ra.Len(), rb.Len()); i++ {
		if i < ra.Len() {
			ra.At(i).CopyTo(md.ResourceMetrics().AppendEmpty())
		}
		if i < rb.Len() {
			rb.At(i).CopyTo(md.ResourceMetrics().AppendEmpty())
		}
	}
	return md
}

func TestHostsAreIndependent(t *testing.T) {
	ap, sink := newTestProcessor(t, createDefaultConfig(), nil, "")
	ctx := context.Background()

	md := merge(interleave(hostBatch("host-a", 600, 0), hostBatch("host-b", 100, 0)),
		hostBatch("", 50, 0), systemResource("host-a"))
	require.NoError(t, ap.ConsumeMetrics(ctx, md))
	out := sink.AllMetrics()[0]
	require.Equal(t, tightKept, countProcesses(out, "host-a"))
	require.Equal(t, 100, countProcesses(out, "host-b"))
	require.Equal(t, 50, countProcesses(out, ""))
	require.Equal(t, tightKept+100+50+1, out.ResourceMetrics().Len())
	requireModes(t, out, map[string]string{"host-a": "tight", "host-b": "relaxed", "": "relaxed"})

	md = merge(hostBatch("host-a", 100, 1), hostBatch("host-b", 700, 1), hostBatch("", 450, 1))
	require.NoError(t, ap.ConsumeMetrics(ctx, md))
	out = sink.AllMetrics()[1]
	require.Equal(t, 100, countProcesses(out, "host-a"))
	require.Equal(t, tightKept, countProcesses(out, "host-b"))
	require.Equal(t, 450, countProcesses(out, ""))
	requireModes(t, out, map[string]string{"host-a": "relaxed", "host-b": "tight", "": "relaxed"})
}

// TestLabelOff keeps and drops the same resources as with the label on and
// leaves the attributes alone: the mode is only in the gauge.
func TestLabelOff(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Label = false
	off, _ := newDirectProcessor(t, cfg)
	on, _ := newDirectProcessor(t, createDefaultConfig())
	for round := range 2 {
		md := merge(hostBatch("host-a", 600, round), hostBatch("host-b", 100, round))
		in := pmetric.NewMetrics()
		md.CopyTo(in)
		labelled := run(t, on, md)
		out := run(t, off, in)
		require.Equal(t, labelled.ResourceMetrics().Len(), out.ResourceMetrics().Len())
		rms := out.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			res := rms.At(i).Resource()
			_, ok := res.Attributes().Get(AttrMode)
			require.False(t, ok, "resource %d got %s", i, AttrMode)
			pid, _ := proc.PID(res)
			want, _ := proc.PID(labelled.ResourceMetrics().At(i).Resource())
			require.Equal(t, want, pid, "resource %d", i)
		}
	}
	require.Equal(t, "tight", off.modes[off.hosts["host-a"].mode].name)
}

// requireModes checks the mode attribute of every process resource per host.
func requireModes(t *testing.T, md pmetric.Metrics, want map[string]string) {
	t.Helper()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		v, ok := res.Attributes().Get(AttrMode)
		if !proc.IsProcess(res) {
			require.False(t, ok, "non-process resource got %s", AttrMode)
			continue
		}
		require.True(t, ok)
		require.Equal(t, want[proc.Host(res)], v.Str(), "host %q", proc.Host(res))
	}
}

func TestNonProcessResourcesPassUntouched(t *testing.T) {
	for _, procs := range []int{10, 800} { // relaxed and tight host
		t.Run(fmt.Sprintf("%d processes", procs), func(t *testing.T) {
			p, _ := newDirectProcessor(t, createDefaultConfig())
			sys := merge(systemResource("h"), systemResource(""))
			want, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(sys)
			require.NoError(t, err)
			out := run(t, p, merge(systemResource("h"), hostBatch("h", procs, 0), systemResource("")))

			got := pmetric.NewMetrics()
			rms := out.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				if !proc.IsProcess(rms.At(i).Resource()) {
					rms.At(i).CopyTo(got.ResourceMetrics().AppendEmpty())
				}
			}
			gotJSON, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(got)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(gotJSON))
		})
	}
}

func TestOddInput(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Modes[1].Enter = Thresholds{ProcessCount: 3}
	cfg.Modes[1].Exit = Thresholds{ProcessCount: 1}

	build := func() pmetric.Metrics {
		md := pmetric.NewMetrics()
		md.ResourceMetrics().AppendEmpty() // empty resource, no scopes
		// pid as a string, int owner, no priority, no metrics
		a := md.ResourceMetrics().AppendEmpty().Resource().Attributes()
		a.PutStr(proc.AttrPID, "77")
		a.PutInt(proc.AttrOwner, 1000)
		// only an executable name, critical, histogram and summary metrics
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr(proc.AttrExecutableName, "java")
		rm.Resource().Attributes().PutStr(proc.AttrPriority, "critical")
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		h := ms.AppendEmpty()
		h.SetName("process.latency")
		h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(3)
		s := ms.AppendEmpty()
		s.SetName("process.summary")
		s.SetEmptySummary().DataPoints().AppendEmpty().SetCount(2)
		// process.cpu.time of the wrong type, pid as a double, medium
		rm = md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutDouble(proc.AttrPID, 78)
		rm.Resource().Attributes().PutStr(proc.AttrPriority, "medium")
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName(proc.MetricCPUTime)
		g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(5)
		// a bool pid and a map host name
		rm = md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutBool(proc.AttrPID, true)
		rm.Resource().Attributes().PutEmptyMap(proc.AttrHostName).PutStr("x", "y")
		return md
	}

	p, _ := newDirectProcessor(t, cfg)
	out := run(t, p, build())
	// 4 processes on host "" (the map host renders as JSON, its own host):
	// 3 on "" reach tight (enter 3): the unknown one is dropped.
	require.Equal(t, "tight", modeOf(p, ""))
	rms := out.ResourceMetrics()
	require.Equal(t, 4, rms.Len())
	require.False(t, proc.IsProcess(rms.At(0).Resource()))
	require.Equal(t, "java", proc.Str(rms.At(1).Resource(), proc.AttrExecutableName))
	require.Equal(t, "tight", proc.Str(rms.At(1).Resource(), AttrMode))
	pid, ok := proc.PID(rms.At(2).Resource())
	require.True(t, ok)
	require.EqualValues(t, 78, pid)
	require.Equal(t, "relaxed", proc.Str(rms.At(3).Resource(), AttrMode))

	out = run(t, p, pmetric.NewMetrics())
	require.Equal(t, 0, out.ResourceMetrics().Len())
}

func TestStateTTL(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.StateTTL = time.Minute
	p, clk := newDirectProcessor(t, cfg)

	run(t, p, hostBatch("a", 600, 0))
	run(t, p, hostBatch("b", 600, 0))
	require.Equal(t, "tight", modeOf(p, "a"))

	clk.advance(50 * time.Second)
	run(t, p, hostBatch("a", 450, 1)) // between thresholds: keeps tight
	require.Equal(t, "tight", modeOf(p, "a"))

	clk.advance(50 * time.Second) // b unseen for 100 s > ttl
	out := run(t, p, hostBatch("b", 450, 1))
	require.Equal(t, "relaxed", modeOf(p, "b"), "expired state starts over in the first mode")
	require.Equal(t, 450, countProcesses(out, "b"))

	clk.advance(61 * time.Second) // a expired; a batch of b sweeps it
	run(t, p, hostBatch("b", 10, 2))
	p.mu.Lock()
	_, kept := p.hosts["a"]
	p.mu.Unlock()
	require.False(t, kept, "expired host state is forgotten")
}

// TestOutputMovesInverselyWithProcessCount is AT-P04 at unit level: under a
// high-churn load (every batch brings new processes), the output series move
// against the process count.
func TestOutputMovesInverselyWithProcessCount(t *testing.T) {
	ap, sink := newTestProcessor(t, createDefaultConfig(), nil, "")
	counts := []int{200, 350, 520, 800, 1200, 800, 450, 380, 250, 600, 150, 700}
	var series []int
	for i, n := range counts {
		ps := proctest.Processes("h", n)
		for j := range ps {
			ps[j].PID += int64(i) * 100_000 // churn: new pids every batch
		}
		md := prioritize(proctest.Metrics(ps, scrapeAt(i)))
		require.NoError(t, ap.ConsumeMetrics(context.Background(), md))
		series = append(series, sink.AllMetrics()[i].DataPointCount())
	}
	t.Logf("process counts %v -> output series %v", counts, series)

	changes := 0
	for i := 1; i < len(counts); i++ {
		if expectedMode(counts, i) == expectedMode(counts, i-1) {
			continue
		}
		changes++
		if counts[i] > counts[i-1] {
			require.Less(t, series[i], series[i-1], "batch %d: processes rose %d -> %d", i, counts[i-1], counts[i])
		} else {
			require.Greater(t, series[i], series[i-1], "batch %d: processes fell %d -> %d", i, counts[i-1], counts[i])
		}
	}
	require.Equal(t, 5, changes)
	for i := range counts {
		for j := range counts {
			if counts[i] < 400 && counts[j] >= 500 {
				require.Greater(t, series[i], series[j], "%d processes vs %d processes", counts[i], counts[j])
			}
		}
	}
}

// expectedMode is the default config's expected mode at batch i of counts: tight
// from 500 processes until below 400.
func expectedMode(counts []int, i int) string {
	m := "relaxed"
	for _, n := range counts[:i+1] {
		switch {
		case n >= 500:
			m = "tight"
		case n < 400:
			m = "relaxed"
		}
	}
	return m
}

func TestConcurrentConsume(t *testing.T) {
	reg := newRegistry()
	ap, sink := newTestProcessor(t, createDefaultConfig(), reg, "")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				host := fmt.Sprintf("host-%d", g)
				n := 100
				if i%3 == 0 {
					n = 600
				}
				require.NoError(t, ap.ConsumeMetrics(context.Background(), hostBatch(host, n, i)))
				_, err := reg.Gather()
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, sink.AllMetrics(), 40)
}

func TestReadCPUMatchesProc(t *testing.T) {
	md := merge(hostBatch("h", 20, 0), tableBatch("h", tableProcs, 0), systemResource("h"))
	// A point without start time, and an int cpu point.
	rm := md.ResourceMetrics().At(3)
	dps := rm.ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	dps.At(0).SetStartTimestamp(0)
	dps.At(1).SetIntValue(7)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		secs, ts, start, ok := readCPU(rms.At(i))
		wantSecs, wantTS, _, wantOK := proc.CPUSeconds(rms.At(i))
		require.Equal(t, wantSecs, secs, "resource %d", i)
		require.Equal(t, wantTS, ts)
		require.Equal(t, wantOK, ok)
		require.Equal(t, proc.StartTime(rms.At(i)), start)
	}
}

// TestObserveMatchesCPUTracker checks the host's CPU readings against
// proc.CPUTracker, which they replace: the same utilizations and first
// sightings over batches in which processes come, go, return after a few
// batches, change place, repeat, restart their counters or repeat a
// timestamp.
func TestObserveMatchesCPUTracker(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var keys []procKey
	for i := range 40 {
		keys = append(keys, procKey{pid: int64(100 + i%30), start: pcommon.Timestamp(1 + i/30), name: fmt.Sprintf("p%d", i%7)})
	}
	ref := proc.NewCPUTracker()
	hs := &hostState{readings: make(map[procKey]*cpuReading)}
	secs := make([]float64, len(keys))
	present := make([]bool, len(keys))
	ts := pcommon.Timestamp(1_000_000_000_000)
	for round := range 400 {
		ref.Begin()
		hs.round++
		// Mostly the same processes in the same order; some leave, some
		// return, and now and then the order is shuffled.
		for i := range present {
			if rng.IntN(8) == 0 {
				present[i] = !present[i]
			}
		}
		order := rng.Perm(len(keys))
		if rng.IntN(4) != 0 {
			slices.Sort(order)
		}
		ts += pcommon.Timestamp(10 * time.Second)
		for _, i := range order {
			if !present[i] {
				continue
			}
			secs[i] += rng.Float64() * 10
			if rng.IntN(20) == 0 {
				secs[i] = rng.Float64() // counter restart
			}
			at := ts
			if rng.IntN(20) == 0 {
				at -= pcommon.Timestamp(20 * time.Second) // time went backwards
			}
			for range 1 + rng.IntN(2) { // sometimes twice in one batch
				k := keys[i]
				wantCores, wantOK := ref.Observe(proc.Key{Host: "h", PID: k.pid, Name: k.name, Start: k.start}, secs[i], at)
				cores, ok := hs.observe(k, secs[i], at)
				require.Equal(t, wantOK, ok, "round %d, process %d", round, i)
				require.Equal(t, wantCores, cores, "round %d, process %d", round, i)
			}
		}
		ref.End()
		hs.endBatch()
		require.LessOrEqual(t, len(hs.readings), len(keys))
	}
}
