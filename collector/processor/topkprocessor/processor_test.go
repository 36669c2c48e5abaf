package topkprocessor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

const (
	bootTime = pcommon.Timestamp(1_700_000_000_000_000_000)
	// firstScrape is 100 s after bootTime.
	firstScrape = pcommon.Timestamp(1_700_000_100_000_000_000)
	interval    = 10 * time.Second
)

// fakeClock is the processing clock of a test processor.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestTopK(t *testing.T, cfg *Config) (*topK, *fakeClock) {
	t.Helper()
	p, err := newTopK(cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p.now = clock.now
	return p, clock
}

// simProc is a process of a simulated host; rate is its CPU use in cores.
type simProc struct {
	host     string
	pid      int64
	name     string
	rate     float64
	rss      int64
	start    pcommon.Timestamp
	priority string
	cpu      float64 // cumulative seconds at the last scrape
}

// sim renders successive scrapes of simulated processes, interval apart.
type sim struct {
	ts    pcommon.Timestamp
	procs []*simProc
}

func newSim(procs ...*simProc) *sim {
	for _, p := range procs {
		if p.start == 0 {
			p.start = bootTime
		}
	}
	return &sim{procs: procs}
}

// scrape advances time by one interval (the first scrape is at firstScrape)
// and renders every process whose CPU time grew by rate x elapsed.
func (s *sim) scrape() pmetric.Metrics {
	if s.ts == 0 {
		s.ts = firstScrape
	} else {
		s.ts += pcommon.Timestamp(interval)
	}
	md := pmetric.NewMetrics()
	for _, p := range s.procs {
		if p.cpu == 0 {
			p.cpu = p.rate * float64(s.ts-p.start) / 1e9
		} else {
			p.cpu += p.rate * interval.Seconds()
		}
		name := p.name
		if name == "" {
			name = fmt.Sprintf("proc-%d", p.pid)
		}
		proctest.AppendProcess(md, proctest.Process{
			Host: p.host, PID: p.pid, Name: name, CommandLine: name, Owner: "app",
			CPUSeconds: p.cpu, RSS: p.rss, Start: p.start,
		}, s.ts)
		if p.priority != "" {
			rms := md.ResourceMetrics()
			rms.At(rms.Len()-1).Resource().Attributes().PutStr(proc.AttrPriority, p.priority)
		}
	}
	return md
}

func (s *sim) proc(pid int64) *simProc {
	for _, p := range s.procs {
		if p.pid == pid {
			return p
		}
	}
	panic(fmt.Sprintf("no process %d", pid))
}

// keptPIDs returns the sorted pids of the process resources kept: present in
// drop mode, marked phoenix.keep=true in mark mode.
func keptPIDs(t *testing.T, md pmetric.Metrics) []int64 {
	t.Helper()
	var out []int64
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		if !proc.IsProcess(res) {
			continue
		}
		if v, ok := res.Attributes().Get(proc.AttrKeep); ok && !v.Bool() {
			continue
		}
		pid, _ := proc.PID(res)
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// stateOf returns the series remembered for a process, nil when none.
func stateOf(p *topK, k proc.Key) *series {
	hs := p.hosts[k.Host]
	if hs == nil {
		return nil
	}
	st := hs.procs[instance{pid: k.PID, start: k.Start}]
	if st == nil || st.name != k.Name {
		return nil
	}
	return st
}

func process(t *testing.T, p *topK, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

func cfg(k, margin int) *Config {
	return &Config{K: k, ExitMargin: &margin, RankBy: RankCPU, AlwaysKeep: "critical", Action: ActionDrop, StateTTL: time.Minute}
}

func TestTopByCPU(t *testing.T) {
	t.Parallel()
	var procs []*simProc
	for i := range 10 {
		procs = append(procs, &simProc{pid: int64(100 + i), rate: float64(i) / 10})
	}
	s := newSim(procs...)
	p, _ := newTestTopK(t, cfg(3, 0))

	// First sighting: lifetime average already ranks the busy ones first.
	require.Equal(t, []int64{107, 108, 109}, keptPIDs(t, process(t, p, s.scrape())))
	// Deltas from now on; reverse the load.
	for i, sp := range s.procs {
		sp.rate = float64(9-i) / 10
	}
	require.Equal(t, []int64{100, 101, 102}, keptPIDs(t, process(t, p, s.scrape())))
}

func TestCPUScoreFromDeltas(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 0))
	// A process with a large lifetime average but idle now, against one that
	// was idle for most of its life but busy now.
	s := newSim(&simProc{pid: 1, rate: 2}, &simProc{pid: 2, rate: 0.01})
	require.Equal(t, []int64{1}, keptPIDs(t, process(t, p, s.scrape())))
	s.proc(1).rate, s.proc(2).rate = 0, 1.5
	require.Equal(t, []int64{2}, keptPIDs(t, process(t, p, s.scrape())))
	st := stateOf(p, proc.Key{PID: 2, Name: "proc-2", Start: bootTime})
	require.InDelta(t, 1.5, st.score, 1e-9, "cores since the previous scrape")

	// A repeated scrape (time did not advance) keeps the previous scores.
	md := s.scrape()
	again := pmetric.NewMetrics()
	md.CopyTo(again)
	require.Equal(t, []int64{2}, keptPIDs(t, process(t, p, md)))
	require.Equal(t, []int64{2}, keptPIDs(t, process(t, p, again)))
	require.InDelta(t, 1.5, st.score, 1e-9)
}

func TestCounterResetCountsAsRestart(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 0))
	s := newSim(&simProc{pid: 1, rate: 1}, &simProc{pid: 2, rate: 0.5})
	process(t, p, s.scrape())
	s.proc(1).cpu = 0.001 // counter went backwards: 0.001 + 10 s x rate
	require.Equal(t, []int64{1}, keptPIDs(t, process(t, p, s.scrape())))
	st := stateOf(p, proc.Key{PID: 1, Name: "proc-1", Start: bootTime})
	require.InDelta(t, (0.001+10)/10, st.score, 1e-9)
}

// oscillating builds A, B, C where B's CPU alternates above and below C's,
// so B's rank alternates between 2 and 3 while k is 2.
func oscillating() *sim {
	return newSim(
		&simProc{pid: 10, rate: 10}, // A
		&simProc{pid: 20, rate: 9},  // B: 9 then 7 then 9 ...
		&simProc{pid: 30, rate: 8},  // C
		&simProc{pid: 40, rate: 1},
		&simProc{pid: 50, rate: 0.5},
	)
}

func TestHysteresisPreventsFlapping(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(2, 1))
	s := oscillating()
	require.Equal(t, []int64{10, 20}, keptPIDs(t, process(t, p, s.scrape())))
	for i := range 10 {
		if i%2 == 0 {
			s.proc(20).rate = 7
		} else {
			s.proc(20).rate = 9
		}
		// B stays while within k+exit_margin = 3; C entered at once when it
		// reached the top 2 and stays the same way. Nobody flaps.
		require.Equal(t, []int64{10, 20, 30}, keptPIDs(t, process(t, p, s.scrape())), "batch %d", i)
	}
	// Falling below k+exit_margin ends membership.
	s.proc(20).rate = 0.1
	require.Equal(t, []int64{10, 30}, keptPIDs(t, process(t, p, s.scrape())))
	s.proc(20).rate = 7.5 // rank 3 again, but no longer a member
	require.Equal(t, []int64{10, 30}, keptPIDs(t, process(t, p, s.scrape())))
}

func TestWithoutMarginProcessesFlap(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(2, 0))
	s := oscillating()
	require.Equal(t, []int64{10, 20}, keptPIDs(t, process(t, p, s.scrape())))
	s.proc(20).rate = 7
	require.Equal(t, []int64{10, 30}, keptPIDs(t, process(t, p, s.scrape())))
	s.proc(20).rate = 9
	require.Equal(t, []int64{10, 20}, keptPIDs(t, process(t, p, s.scrape())))
}

func TestAlwaysKeep(t *testing.T) {
	t.Parallel()
	procs := []*simProc{
		{pid: 1, rate: 5},
		{pid: 2, rate: 4},
		{pid: 3, rate: 0, priority: "critical"},
		{pid: 4, rate: 0.1, priority: "critical"},
		{pid: 5, rate: 0.2, priority: "high"},
		{pid: 6, rate: 6, priority: "critical"},
		{pid: 7, rate: 0.3, priority: "bogus"},
	}
	tests := []struct {
		alwaysKeep string
		want       []int64
	}{
		// pid 6 is critical and the top CPU user: it takes the one slot.
		{"critical", []int64{3, 4, 6}},
		{"high", []int64{3, 4, 5, 6}},
		// An invalid priority counts as low, as does no priority.
		{"low", []int64{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.alwaysKeep, func(t *testing.T) {
			t.Parallel()
			c := cfg(1, 0)
			c.AlwaysKeep = tt.alwaysKeep
			p, _ := newTestTopK(t, c)
			var cp []*simProc
			for _, sp := range procs {
				v := *sp
				cp = append(cp, &v)
			}
			s := newSim(cp...)
			for range 3 {
				require.Equal(t, tt.want, keptPIDs(t, process(t, p, s.scrape())))
			}
		})
	}
}

func TestCriticalsKeptWithK1(t *testing.T) {
	t.Parallel()
	ps := proctest.Processes("host-a", 200)
	md := proctest.Metrics(ps, firstScrape)
	rms := md.ResourceMetrics()
	for i := range proctest.CriticalNames {
		rms.At(i).Resource().Attributes().PutStr(proc.AttrPriority, "critical")
	}
	p, _ := newTestTopK(t, cfg(1, 0))
	got := keptPIDs(t, process(t, p, md))
	// The five criticals (pids 1000..1004) and the top CPU user: CPU time is
	// (i % 97) x 1.5, largest at i = 96 and 193; the lower pid wins the tie.
	require.Equal(t, []int64{1000, 1001, 1002, 1003, 1004, 1096}, got)
}

func TestPIDReuseIsANewProcess(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 5))
	s := newSim(&simProc{pid: 100, name: "job", rate: 3}, &simProc{pid: 200, rate: 1})
	require.Equal(t, []int64{100}, keptPIDs(t, process(t, p, s.scrape())))
	require.Equal(t, []int64{100}, keptPIDs(t, process(t, p, s.scrape())))

	// pid 100 exits and the pid is reused by a new process started just
	// before this scrape. Were it the same process, it would keep its
	// membership (rank 2 is within k+exit_margin).
	old := s.proc(100)
	reused := &simProc{pid: 100, name: "job", rate: 0.5, start: s.ts + pcommon.Timestamp(5*time.Second)}
	s.procs[0] = reused
	require.Equal(t, []int64{200}, keptPIDs(t, process(t, p, s.scrape())))

	require.Equal(t, 3, p.nStates)
	oldSt := stateOf(p, proc.Key{PID: 100, Name: "job", Start: old.start})
	newSt := stateOf(p, proc.Key{PID: 100, Name: "job", Start: reused.start})
	require.NotNil(t, oldSt)
	require.NotNil(t, newSt)
	require.NotSame(t, oldSt, newSt)
	require.False(t, newSt.member)
	// First sighting of the new process: lifetime average over its 5 s.
	require.InDelta(t, 0.5, newSt.score, 1e-9)
}

func TestExecIsANewProcess(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 5))
	s := newSim(&simProc{pid: 100, name: "sh", rate: 3}, &simProc{pid: 200, rate: 1})
	require.Equal(t, []int64{100}, keptPIDs(t, process(t, p, s.scrape())))
	// Same pid and start time, another executable: the shell exec'd a
	// program, which has no membership of its own yet. It ranks second
	// (lifetime average 305 s / 110 s against pid 200's 4 cores), within
	// k+exit_margin, so only a carried-over membership would keep it.
	s.proc(100).name = "sleep"
	s.proc(100).rate = 0.5
	s.proc(200).rate = 4
	require.Equal(t, []int64{200}, keptPIDs(t, process(t, p, s.scrape())))
	st := stateOf(p, proc.Key{PID: 100, Name: "sleep", Start: bootTime})
	require.NotNil(t, st)
	require.False(t, st.member)
	require.Nil(t, stateOf(p, proc.Key{PID: 100, Name: "sh", Start: bootTime}))
}

// TestOrderChanges checks that processes are recognised whatever order the
// scrapes list them in.
func TestOrderChanges(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(3, 1))
	var procs []*simProc
	for i := range 12 {
		procs = append(procs, &simProc{pid: int64(10 + i), rate: float64(i)})
	}
	s := newSim(procs...)
	require.Equal(t, []int64{19, 20, 21}, keptPIDs(t, process(t, p, s.scrape())))
	slices.Reverse(s.procs)
	s.proc(19).rate = 7.5 // falls to rank 4: kept as a member
	require.Equal(t, []int64{18, 19, 20, 21}, keptPIDs(t, process(t, p, s.scrape())))
	s.procs = append(s.procs[6:], s.procs[:6]...)
	require.Equal(t, []int64{18, 19, 20, 21}, keptPIDs(t, process(t, p, s.scrape())))
	require.Equal(t, 12, p.nStates)
	for _, sp := range procs {
		st := stateOf(p, proc.Key{PID: sp.pid, Name: fmt.Sprintf("proc-%d", sp.pid), Start: bootTime})
		require.NotNil(t, st)
		require.InDelta(t, sp.rate, st.score, 1e-9, "pid %d", sp.pid)
	}
}

func TestMarkMode(t *testing.T) {
	t.Parallel()
	c := cfg(2, 0)
	c.Action = ActionMark
	p, _ := newTestTopK(t, c)
	s := newSim(&simProc{pid: 1, rate: 1}, &simProc{pid: 2, rate: 3}, &simProc{pid: 3, rate: 2}, &simProc{pid: 4, rate: 0})
	md := s.scrape()
	appendSystemCPU(md)
	points := md.DataPointCount()
	out := process(t, p, md)
	require.Equal(t, 5, out.ResourceMetrics().Len(), "mark mode keeps every resource")
	require.Equal(t, points, out.DataPointCount())
	want := map[int64]bool{1: false, 2: true, 3: true, 4: false}
	rms := out.ResourceMetrics()
	for i := 0; i < 4; i++ {
		res := rms.At(i).Resource()
		pid, _ := proc.PID(res)
		v, ok := res.Attributes().Get(proc.AttrKeep)
		require.True(t, ok, "pid %d", pid)
		require.Equal(t, pcommon.ValueTypeBool, v.Type())
		require.Equal(t, want[pid], v.Bool(), "pid %d", pid)
	}
	_, ok := rms.At(4).Resource().Attributes().Get(proc.AttrKeep)
	require.False(t, ok, "non-process resources are not marked")

	// A stale phoenix.keep from upstream is overwritten, not duplicated.
	md = s.scrape()
	md.ResourceMetrics().At(0).Resource().Attributes().PutBool(proc.AttrKeep, true)
	out = process(t, p, md)
	require.Equal(t, []int64{2, 3}, keptPIDs(t, out))
	n := 0
	for k := range out.ResourceMetrics().At(0).Resource().Attributes().All() {
		if k == proc.AttrKeep {
			n++
		}
	}
	require.Equal(t, 1, n)
}

func TestMemoryRanking(t *testing.T) {
	t.Parallel()
	c := cfg(2, 0)
	c.RankBy = RankMemory
	p, _ := newTestTopK(t, c)
	s := newSim(
		&simProc{pid: 1, rate: 9, rss: 10 << 20},
		&simProc{pid: 2, rate: 0, rss: 900 << 20},
		&simProc{pid: 3, rate: 0, rss: 500 << 20},
		&simProc{pid: 4, rate: 5, rss: 20 << 20},
	)
	require.Equal(t, []int64{2, 3}, keptPIDs(t, process(t, p, s.scrape())))
	s.proc(1).rss = 2 << 30
	require.Equal(t, []int64{1, 2}, keptPIDs(t, process(t, p, s.scrape())))

	// process.memory.usage as a gauge works too; no memory metric scores 0.
	md := pmetric.NewMetrics()
	for pid, rss := range map[int64]int64{7: 5, 8: 50, 9: -1} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, pid)
		if rss < 0 {
			continue
		}
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(proc.MetricMemoryUsage)
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(rss)
	}
	p2, _ := newTestTopK(t, c)
	require.Equal(t, []int64{7, 8}, keptPIDs(t, process(t, p2, md)))
}

func TestMultipleHosts(t *testing.T) {
	t.Parallel()
	c := cfg(2, 0)
	p, _ := newTestTopK(t, c)
	var procs []*simProc
	// Interleave three hosts, one of them unnamed; host b is much busier.
	for i := range 6 {
		procs = append(procs,
			&simProc{host: "a", pid: int64(100 + i), rate: float64(i)},
			&simProc{host: "b", pid: int64(200 + i), rate: float64(10 * (6 - i))},
			&simProc{host: "", pid: int64(300 + i), rate: float64(i % 3)},
		)
	}
	s := newSim(procs...)
	md := s.scrape()
	appendSystemCPU(md)
	out := process(t, p, md)
	require.Equal(t, []int64{104, 105, 200, 201, 302, 305}, keptPIDs(t, out))
	require.Equal(t, 7, out.ResourceMetrics().Len(), "6 processes and the cpu scraper's resource")
	// Same pid on two hosts: two processes.
	p2, _ := newTestTopK(t, cfg(1, 0))
	s2 := newSim(&simProc{host: "a", pid: 1, rate: 1}, &simProc{host: "b", pid: 1, rate: 2})
	require.Len(t, process(t, p2, s2.scrape()).ResourceMetrics().At(0).Resource().Attributes().AsRaw(), 5)
	require.Equal(t, 2, p2.nStates)
}

func TestStateEviction(t *testing.T) {
	t.Parallel()
	c := cfg(1, 3)
	c.StateTTL = time.Minute
	p, clock := newTestTopK(t, c)
	s := newSim(&simProc{pid: 1, rate: 5}, &simProc{pid: 2, rate: 4}, &simProc{pid: 3, rate: 1})
	require.Equal(t, []int64{1}, keptPIDs(t, process(t, p, s.scrape())))
	require.Equal(t, 3, p.nStates)

	// pid 1 goes quiet but stays a member (rank 2 < k+exit_margin).
	s.proc(1).rate = 3
	clock.t = clock.t.Add(interval)
	require.Equal(t, []int64{1, 2}, keptPIDs(t, process(t, p, s.scrape())))

	// pid 1 disappears for longer than state_ttl.
	gone := s.procs[0]
	s.procs = s.procs[1:]
	for range 8 {
		clock.t = clock.t.Add(interval)
		process(t, p, s.scrape())
	}
	require.Equal(t, 2, p.nStates, "the sweep forgot pid 1")
	require.Nil(t, stateOf(p, proc.Key{PID: 1, Name: "proc-1", Start: bootTime}))

	// When it comes back it is a first sighting: no membership, so at rank
	// 2 it is dropped.
	s.procs = append(s.procs, gone)
	clock.t = clock.t.Add(interval)
	require.Equal(t, []int64{2}, keptPIDs(t, process(t, p, s.scrape())))
}

func TestExpiredStateIsAFirstSightingBeforeTheSweep(t *testing.T) {
	t.Parallel()
	c := cfg(1, 3)
	c.StateTTL = time.Minute
	p, clock := newTestTopK(t, c)
	s := newSim(&simProc{pid: 1, rate: 5}, &simProc{pid: 2, rate: 4})
	require.Equal(t, []int64{1}, keptPIDs(t, process(t, p, s.scrape())))
	// Both vanish for over a minute and return with pid 2 ahead: pid 1
	// ranks 2nd, within k+exit_margin, but its membership expired with its
	// state, so it is dropped. The lookup expires it; no sweep ran.
	clock.t = clock.t.Add(61 * time.Second)
	p.lastSweep = clock.t.UnixNano()
	s.proc(2).cpu += 10000
	s.ts += pcommon.Timestamp(5 * interval)
	require.Equal(t, []int64{2}, keptPIDs(t, process(t, p, s.scrape())))
	st := stateOf(p, proc.Key{PID: 1, Name: "proc-1", Start: bootTime})
	require.False(t, st.member)
	// Its first-sighting score is the lifetime average, not a delta.
	require.InDelta(t, (500+50)/160.0, st.score, 1e-9) // 550 s of CPU over 160 s of life
}

func TestStateBound(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 0))
	p.maxStates = 50
	md := proctest.Metrics(proctest.Processes("h", 80), firstScrape)
	out := process(t, p, md)
	require.Len(t, keptPIDs(t, out), 1)
	require.Zero(t, p.nStates, "over the bound with nothing expired: all state is forgotten")
	require.Empty(t, p.hosts)
}

func TestTiesAreDeterministic(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(3, 0))
	md := pmetric.NewMetrics()
	for _, pid := range []int64{50, 7, 300, 9, 12, 8} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, pid)
		rm.Resource().Attributes().PutStr(proc.AttrExecutableName, "idle")
	}
	require.Equal(t, []int64{7, 8, 9}, keptPIDs(t, process(t, p, md)))
}

// appendSystemCPU appends a resource shaped like the cpu scraper's output.
func appendSystemCPU(md pmetric.Metrics) {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr(proc.AttrHostName, "a")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	dp := m.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetDoubleValue(12.5)
	dp.Attributes().PutStr("state", "user")
}

func TestNonProcessResourcesUntouched(t *testing.T) {
	t.Parallel()
	for _, action := range []string{ActionDrop, ActionMark} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			c := cfg(1, 0)
			c.Action = action
			p, _ := newTestTopK(t, c)
			md := pmetric.NewMetrics()
			appendSystemCPU(md)
			md.ResourceMetrics().AppendEmpty() // empty resource
			mem := md.ResourceMetrics().AppendEmpty()
			mem.Resource().Attributes().PutStr(proc.AttrOwner, "root") // not a process either
			mem.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("system.memory.usage")
			want := pmetric.NewMetrics()
			md.CopyTo(want)
			out := process(t, p, md)
			require.Equal(t, want, out)
			require.Zero(t, p.nStates)
		})
	}
}

func TestOddAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		attrs map[string]any
		// kept: a process loses the only slot of the unnamed host to a busy
		// competitor, so it is kept only by priority or when it forms a
		// host of its own; a non-process passes through.
		kept bool
	}{
		{"pid as string", map[string]any{proc.AttrPID: "5", proc.AttrExecutableName: "x"}, false},
		{"unparsable string pid", map[string]any{proc.AttrPID: "five"}, false},
		{"double pid", map[string]any{proc.AttrPID: 6.0}, false},
		{"bool pid", map[string]any{proc.AttrPID: true}, false},
		{"executable name only", map[string]any{proc.AttrExecutableName: "lonely"}, false},
		{"int executable name", map[string]any{proc.AttrPID: 12, proc.AttrExecutableName: 12}, false},
		{"priority as int", map[string]any{proc.AttrPID: 13, proc.AttrPriority: 4}, false},
		{"critical with string pid", map[string]any{proc.AttrPID: "14", proc.AttrPriority: "critical"}, true},
		{"int owner and int host", map[string]any{proc.AttrPID: 11, proc.AttrOwner: 0, proc.AttrHostName: 3}, true},
		{"not a process", map[string]any{proc.AttrOwner: "root", proc.AttrCommandLine: "x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newTestTopK(t, cfg(1, 0))
			md := newSim(&simProc{pid: 1, rate: 1}).scrape()
			require.NoError(t, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(tt.attrs))
			out := process(t, p, md)
			require.Equal(t, tt.kept, out.ResourceMetrics().Len() == 2)
			require.Equal(t, int64(1), func() int64 { pid, _ := proc.PID(out.ResourceMetrics().At(0).Resource()); return pid }())
		})
	}
}

// TestReadersAgreeWithProc checks that the one-pass readers give what the
// shared proc helpers give, on realistic and odd resources (in all of which,
// as in hostmetrics output, a process's points share one start time).
func TestReadersAgreeWithProc(t *testing.T) {
	t.Parallel()
	md := proctest.Metrics(proctest.Processes("h", 30), firstScrape)
	for i, pr := range []string{"low", "medium", "high", "critical", "CRITICAL", ""} {
		md.ResourceMetrics().At(i).Resource().Attributes().PutStr(proc.AttrPriority, pr)
	}
	odd := []map[string]any{
		{proc.AttrPID: "77", proc.AttrExecutableName: 5, proc.AttrHostName: true, proc.AttrPriority: "high"},
		{proc.AttrPID: 3.9, proc.AttrPriority: "nope"},
		{proc.AttrPID: []any{1}, proc.AttrPriority: "critical"},
		{proc.AttrOwner: "x"},
		{},
	}
	for _, a := range odd {
		rm := md.ResourceMetrics().AppendEmpty()
		require.NoError(t, rm.Resource().Attributes().FromRaw(a))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		g := ms.AppendEmpty()
		g.SetName(proc.MetricMemoryUsage)
		g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(42)
		h := ms.AppendEmpty()
		h.SetName(proc.MetricCPUTime)
		h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(1)
	}
	var keepers []*topK
	for _, level := range []string{"low", "medium", "high", "critical"} {
		c := cfg(1, 0)
		c.AlwaysKeep = level
		p, _ := newTestTopK(t, c)
		keepers = append(keepers, p)
	}
	p := keepers[0]
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource()
		var id entry
		host, ok := p.readIdentity(res, &id)
		require.Equal(t, proc.IsProcess(res), ok, "resource %d", i)
		pid, _ := proc.PID(res)
		require.Equal(t, pid, id.pid, "resource %d", i)
		require.Equal(t, proc.Host(res), host, "resource %d", i)
		require.Equal(t, proc.Str(res, proc.AttrExecutableName), id.name, "resource %d", i)
		wantPr := proc.PriorityOf(res)
		if wantPr == proc.Unknown {
			wantPr = proc.Low
		}
		for _, k := range keepers {
			var kid entry
			k.readIdentity(res, &kid)
			require.Equal(t, wantPr >= k.alwaysKeep, kid.always, "resource %d, always_keep %s", i, k.alwaysKeep)
		}

		var r entry
		readMetrics(rm, false, &r)
		cpu, ts, _, hasCPU := proc.CPUSeconds(rm)
		require.Equal(t, hasCPU, r.has, "resource %d", i)
		require.Equal(t, cpu, r.value, "resource %d", i)
		require.Equal(t, ts, r.ts, "resource %d", i)
		require.Equal(t, proc.StartTime(rm), r.start, "resource %d", i)
		r = entry{}
		readMetrics(rm, true, &r)
		mem, hasMem := proc.MemoryBytes(rm)
		require.Equal(t, hasMem, r.has, "resource %d", i)
		require.Equal(t, mem, r.value, "resource %d", i)
		require.Equal(t, proc.StartTime(rm), r.start, "resource %d", i)
	}
}

func TestEmptyMetrics(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(1, 0))
	out := process(t, p, pmetric.NewMetrics())
	require.Equal(t, 0, out.ResourceMetrics().Len())
}

func TestProcessWithoutMetricsOrWithHistograms(t *testing.T) {
	t.Parallel()
	p, _ := newTestTopK(t, cfg(2, 0))
	md := newSim(&simProc{pid: 1, rate: 1}).scrape()
	bare := md.ResourceMetrics().AppendEmpty()
	bare.Resource().Attributes().PutInt(proc.AttrPID, 2)
	hist := md.ResourceMetrics().AppendEmpty()
	hist.Resource().Attributes().PutInt(proc.AttrPID, 3)
	ms := hist.ScopeMetrics().AppendEmpty().Metrics()
	h := ms.AppendEmpty()
	h.SetName("process.latency")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(2)
	s := ms.AppendEmpty()
	s.SetName("process.summary")
	s.SetEmptySummary().DataPoints().AppendEmpty().SetCount(3)
	out := process(t, p, md)
	// pid 1 by CPU; 2 and 3 tie at 0 and the lower pid wins.
	require.Equal(t, []int64{1, 2}, keptPIDs(t, out))
	require.Equal(t, 7, out.DataPointCount())
}

func TestConcurrentBatches(t *testing.T) {
	t.Parallel()
	sink := new(consumertest.MetricsSink)
	c := cfg(5, 2)
	pm, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(Type), c, sink)
	require.NoError(t, err)
	require.NoError(t, pm.Start(context.Background(), componenttest.NewNopHost()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps := proctest.Processes(fmt.Sprintf("host-%d", g), 100)
			for i := range 20 {
				for j := range ps {
					ps[j].CPUSeconds += float64(j)
				}
				md := proctest.Metrics(ps, firstScrape+pcommon.Timestamp(i)*pcommon.Timestamp(interval))
				if err := pm.ConsumeMetrics(context.Background(), md); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, pm.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 80)
	for _, md := range sink.AllMetrics() {
		// Top 5 by CPU plus hysteresis members; no criticals are marked.
		n := md.ResourceMetrics().Len()
		require.GreaterOrEqual(t, n, 5)
		require.LessOrEqual(t, n, 7)
	}
}

func TestThroughFactory(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	require.Equal(t, "phoenix_topk", f.Type().String())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))

	_, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), &Config{K: 0, StateTTL: time.Minute}, consumertest.NewNop())
	require.ErrorContains(t, err, "k: must be between 1 and 10000")

	sink := new(consumertest.MetricsSink)
	pm, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.True(t, pm.Capabilities().MutatesData)
	require.NoError(t, pm.Start(context.Background(), componenttest.NewNopHost()))
	ps := proctest.Processes("host-a", 1000)
	md := proctest.Metrics(ps, firstScrape)
	appendSystemCPU(md)
	require.NoError(t, pm.ConsumeMetrics(context.Background(), md))
	require.NoError(t, pm.Shutdown(context.Background()))
	require.NoError(t, pm.Shutdown(context.Background()), "shutdown is idempotent")
	out := sink.AllMetrics()[0]
	// Default k = 20 by CPU plus nothing critical (no priorities set), and
	// the cpu scraper's resource.
	require.Equal(t, 21, out.ResourceMetrics().Len())
	require.Equal(t, 20*proctest.DataPointsPerProcess+1, out.DataPointCount())
}
