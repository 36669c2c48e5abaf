package rollupprocessor

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

const (
	foldedTotal  = "phoenix_rollup_folded_processes_total"
	droppedTotal = "phoenix_rollup_dropped_datapoints_total"
)

// expectedFold sums the number points of the resources of in that fold
// says are folded, by group id (host + "/" + group) and point key.
func expectedFold(in pmetric.Metrics, fold func(rm pmetric.ResourceMetrics) (string, bool)) (map[string]map[string]float64, map[string]int) {
	sums := make(map[string]map[string]float64)
	members := make(map[string]int)
	rms := in.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		g, ok := fold(rm)
		if !ok {
			continue
		}
		id := proc.Host(rm.Resource()) + "/" + g
		members[id]++
		if sums[id] == nil {
			sums[id] = make(map[string]float64)
		}
		for k, p := range findPoints(rm) {
			sums[id][k] += proc.NumberValue(p.dp)
		}
	}
	return sums, members
}

func TestFoldProctestBatch(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByExecutable))
	in := benchBatch(ts0)
	want, members := expectedFold(in, func(rm pmetric.ResourceMetrics) (string, bool) {
		pid, _ := proc.PID(rm.Resource())
		return proc.Str(rm.Resource(), proc.AttrExecutableName), pid >= 1050
	})
	kept := make([]string, 50)
	for i := range kept {
		kept[i] = marshalRM(t, in.ResourceMetrics().At(i))
	}

	require.NoError(t, p.ConsumeMetrics(context.Background(), in))
	require.Len(t, sink.AllMetrics(), 1)
	out := sink.AllMetrics()[0]
	rms := out.ResourceMetrics()
	require.Equal(t, 100, rms.Len(), "50 kept processes and 50 groups")
	for i, k := range kept {
		require.Equal(t, k, marshalRM(t, rms.At(i)), "kept resource %d must pass through untouched", i)
	}
	groups := groupsOf(out)
	require.Len(t, groups, 50)
	require.Len(t, want, 50)
	for id, sums := range want {
		rm, ok := groups[id]
		require.True(t, ok, "group %s", id)
		attrs := rm.Resource().Attributes()
		require.Equal(t, 4, attrs.Len(), "only host.name and the phoenix.group* attributes: %v", attrs.AsRaw())
		require.Equal(t, "host-a", proc.Host(rm.Resource()))
		require.Equal(t, "executable", proc.Str(rm.Resource(), proc.AttrGroupBy))
		n, _ := attrs.Get(proc.AttrGroupMembers)
		require.Equal(t, pcommon.ValueTypeInt, n.Type())
		require.Equal(t, int64(members[id]), n.Int())
		require.Equal(t, int64(19), n.Int())
		got := findPoints(rm)
		require.Len(t, got, proctest.DataPointsPerProcess)
		for k, v := range sums {
			pt, ok := got[k]
			require.True(t, ok, "%s: point %s", id, k)
			require.InDelta(t, v, proc.NumberValue(pt.dp), 1e-9*math.Max(1, math.Abs(v)), "%s %s", id, k)
			require.Equal(t, ts0, pt.dp.Timestamp())
			require.Equal(t, pcommon.Timestamp(1_700_000_000_000_000_000), pt.dp.StartTimestamp())
		}
		cpu := got["process.cpu.time|state=user"]
		require.Equal(t, "s", cpu.metric.Unit())
		require.True(t, cpu.metric.Sum().IsMonotonic())
		require.Equal(t, pmetric.AggregationTemporalityCumulative, cpu.metric.Sum().AggregationTemporality())
		require.Equal(t, pmetric.NumberDataPointValueTypeDouble, cpu.dp.ValueType())
		io := got["process.disk.io|direction=read"]
		require.Equal(t, pmetric.NumberDataPointValueTypeInt, io.dp.ValueType())
		mem := got["process.memory.usage"]
		require.False(t, mem.metric.Sum().IsMonotonic())
		require.Equal(t, "By", mem.metric.Unit())
	}
	require.Equal(t, 700, out.DataPointCount(), "50x7 kept + 50x7 group points instead of 1,000x7")
	require.Equal(t, 950.0, counterValue(t, reg, foldedTotal, ""))
}

func TestGroupByModes(t *testing.T) {
	t.Parallel()
	prios := []proc.Priority{proc.Unknown, proc.Low, proc.Medium, proc.High, proc.Critical, proc.Low, proc.Medium, proc.Unknown}
	mk := func() pmetric.Metrics {
		md := proctest.Metrics(proctest.Processes("h", len(prios)), ts0)
		return withPriorities(md, func(i int) proc.Priority { return prios[i] })
	}
	tests := []struct {
		mode    GroupBy
		members map[string]int64
	}{
		{GroupByExecutable, map[string]int64{"h/postgres": 1, "h/java": 1, "h/worker-5": 1, "h/worker-6": 1, "h/worker-7": 1, "h/nginx": 1}},
		{GroupByPriority, map[string]int64{"h/low": 4, "h/medium": 2}},
		{GroupByOther, map[string]int64{"h/other": 6}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			p, sink, _ := newTestProcessor(t, testConfig(tt.mode))
			require.NoError(t, p.ConsumeMetrics(context.Background(), mk()))
			out := sink.AllMetrics()[0]
			groups := groupsOf(out)
			got := make(map[string]int64, len(groups))
			for id, rm := range groups {
				v, _ := rm.Resource().Attributes().Get(proc.AttrGroupMembers)
				got[id] = v.Int()
				require.Equal(t, string(tt.mode), proc.Str(rm.Resource(), proc.AttrGroupBy))
			}
			require.Equal(t, tt.members, got)
			require.Equal(t, 2+len(tt.members), out.ResourceMetrics().Len(), "high and critical kept")
		})
	}
}

func TestWhichProcessesFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		keep  proc.Priority
		attrs map[string]any
		fold  bool
	}{
		{name: "unknown folds", keep: proc.High, attrs: map[string]any{}, fold: true},
		{name: "low folds", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "low"}, fold: true},
		{name: "medium folds", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "medium"}, fold: true},
		{name: "high kept", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "high"}},
		{name: "critical kept", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "critical"}},
		{name: "keep_priority low keeps unknown", keep: proc.Low, attrs: map[string]any{}},
		{name: "keep_priority medium folds unknown", keep: proc.Medium, attrs: map[string]any{}, fold: true},
		{name: "keep_priority critical folds high", keep: proc.Critical, attrs: map[string]any{proc.AttrPriority: "high"}, fold: true},
		{name: "keep_priority critical keeps critical", keep: proc.Critical, attrs: map[string]any{proc.AttrPriority: "critical"}},
		{name: "keep true keeps low", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "low", proc.AttrKeep: true}},
		{name: "keep false folds high", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "high", proc.AttrKeep: false}, fold: true},
		{name: "keep false never folds critical", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "critical", proc.AttrKeep: false}},
		{name: "keep as string is ignored (low folds)", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "low", proc.AttrKeep: "true"}, fold: true},
		{name: "keep as string is ignored (high kept)", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "high", proc.AttrKeep: "false"}},
		{name: "priority as int counts as unknown", keep: proc.High, attrs: map[string]any{proc.AttrPriority: int64(4)}, fold: true},
		{name: "bad priority name counts as unknown", keep: proc.High, attrs: map[string]any{proc.AttrPriority: "urgent"}, fold: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(GroupByExecutable)
			cfg.KeepPriority = tt.keep
			p, sink, _ := newTestProcessor(t, cfg)
			md := proctest.Metrics(proctest.Processes("h", 8)[7:], ts0)
			attrs := md.ResourceMetrics().At(0).Resource().Attributes()
			require.NoError(t, attrs.FromRaw(mergeRaw(attrs.AsRaw(), tt.attrs)))
			before := marshalRM(t, md.ResourceMetrics().At(0))
			require.NoError(t, p.ConsumeMetrics(context.Background(), md))
			out := sink.AllMetrics()[0]
			require.Equal(t, 1, out.ResourceMetrics().Len())
			rm := out.ResourceMetrics().At(0)
			if tt.fold {
				require.Equal(t, "worker-7", proc.Str(rm.Resource(), proc.AttrGroup))
				require.False(t, proc.IsProcess(rm.Resource()))
				return
			}
			require.Equal(t, before, marshalRM(t, rm))
		})
	}
}

func mergeRaw(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// systemResource is what the cpu scraper emits: no process identity.
func systemResource(md pmetric.Metrics, host string) {
	rm := md.ResourceMetrics().AppendEmpty()
	if host != "" {
		rm.Resource().Attributes().PutStr(proc.AttrHostName, host)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, st := range []string{"user", "system", "idle"} {
		dp := s.DataPoints().AppendEmpty()
		dp.SetDoubleValue(100)
		dp.SetTimestamp(ts0)
		dp.Attributes().PutStr("state", st)
		dp.Attributes().PutStr("cpu", "cpu0")
	}
}

func TestNonProcessResourcesPassThrough(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	systemResource(md, "h")
	proctest.AppendProcess(md, proctest.Processes("h", 10)[9], ts0)
	systemResource(md, "")
	md.ResourceMetrics().AppendEmpty() // no attributes at all
	want := map[int]string{0: marshalRM(t, md.ResourceMetrics().At(0)), 2: marshalRM(t, md.ResourceMetrics().At(2)), 3: marshalRM(t, md.ResourceMetrics().At(3))}

	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	out := sink.AllMetrics()[0].ResourceMetrics()
	require.Equal(t, 4, out.Len())
	for i, w := range want {
		require.Equal(t, w, marshalRM(t, out.At(i)))
	}
	require.Equal(t, "other", proc.Str(out.At(1).Resource(), proc.AttrGroup), "the group takes the place of its first process")
}

func TestOnlyNonProcessBatchUnchanged(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByExecutable))
	md := pmetric.NewMetrics()
	systemResource(md, "h")
	want := marshalRM(t, md.ResourceMetrics().At(0))
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Equal(t, 1, sink.AllMetrics()[0].ResourceMetrics().Len())
	require.Equal(t, want, marshalRM(t, sink.AllMetrics()[0].ResourceMetrics().At(0)))
	require.Zero(t, counterValue(t, reg, foldedTotal, ""))
}

// oneProcess renders one low-priority proctest process.
func oneProcess(md pmetric.Metrics, host string, pid int64, name string, start pcommon.Timestamp, ts pcommon.Timestamp, cpu float64) {
	proctest.AppendProcess(md, proctest.Process{
		Host: host, PID: pid, Name: name, CommandLine: name + " " + strconv.FormatInt(pid, 10),
		Owner: "app", CPUSeconds: cpu, RSS: pid << 10, Start: start,
	}, ts)
}

func TestCounterAcrossIntervals(t *testing.T) {
	t.Parallel()
	const (
		s1 = pcommon.Timestamp(1_000)
		s2 = pcommon.Timestamp(5_000)
		s0 = pcommon.Timestamp(500) // earlier than the group's creation
	)
	type simple struct {
		pid   int64
		start pcommon.Timestamp
		cpu   float64
	}
	steps := []struct {
		name    string
		procs   []simple
		wantCPU float64 // all states of process.cpu.time
		wantIO  int64   // process.disk.io direction=read
		wantMem int64   // process.memory.usage (sum of this interval)
	}{
		{name: "A and B start", procs: []simple{{1, s1, 10}, {2, s1, 20}}, wantCPU: 30, wantIO: 10*4096 + 20*4096, wantMem: 1<<10 + 2<<10},
		{name: "B exits, A grows, C starts", procs: []simple{{1, s1, 15}, {3, s0, 5}}, wantCPU: 40, wantIO: 40 * 4096, wantMem: 1<<10 + 3<<10},
		{name: "A resets, C grows", procs: []simple{{1, s1, 2}, {3, s0, 7}}, wantCPU: 44, wantIO: 44 * 4096, wantMem: 1<<10 + 3<<10},
		{name: "pid 1 reused by a new process", procs: []simple{{1, s2, 1}, {3, s0, 7}}, wantCPU: 45, wantIO: 45 * 4096, wantMem: 1<<10 + 3<<10},
		{name: "old pid 1 gone, new one grows", procs: []simple{{1, s2, 3}}, wantCPU: 47, wantIO: 47 * 4096, wantMem: 1 << 10},
	}
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	for i, st := range steps {
		ts := ts0 + pcommon.Timestamp(i)*10e9
		md := pmetric.NewMetrics()
		for _, pr := range st.procs {
			oneProcess(md, "h", pr.pid, "worker", pr.start, ts, pr.cpu)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md), st.name)
		out := sink.AllMetrics()[i]
		require.Equal(t, 1, out.ResourceMetrics().Len(), st.name)
		rm := out.ResourceMetrics().At(0)
		pts := findPoints(rm)
		cpu := 0.0
		for _, state := range []string{"user", "system", "wait"} {
			pt := pts["process.cpu.time|state="+state]
			cpu += pt.dp.DoubleValue()
			require.Equal(t, s1, pt.dp.StartTimestamp(), "%s: start fixed at creation", st.name)
			require.Equal(t, ts, pt.dp.Timestamp())
		}
		require.InDelta(t, st.wantCPU, cpu, 1e-9, st.name)
		require.Equal(t, st.wantIO, pts["process.disk.io|direction=read"].dp.IntValue(), st.name)
		require.Equal(t, st.wantMem, pts["process.memory.usage"].dp.IntValue(), st.name)
		require.Equal(t, s1, pts["process.memory.usage"].dp.StartTimestamp())
		n, _ := rm.Resource().Attributes().Get(proc.AttrGroupMembers)
		require.Equal(t, int64(len(st.procs)), n.Int(), st.name)
	}
}

func TestGroupStartIsEarliestOfCreationBatch(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	md := pmetric.NewMetrics()
	oneProcess(md, "h", 1, "w", 3_000, ts0, 1)
	oneProcess(md, "h", 2, "w", 2_000, ts0+5, 1)
	oneProcess(md, "h", 3, "w", 4_000, ts0+2, 1)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	pt := findPoints(sink.AllMetrics()[0].ResourceMetrics().At(0))["process.disk.io|direction=write"]
	require.Equal(t, pcommon.Timestamp(2_000), pt.dp.StartTimestamp())
	require.Equal(t, ts0+5, pt.dp.Timestamp(), "latest timestamp of the folded points")
}

func TestGaugeAndDeltaSums(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	for i := 0; i < 3; i++ {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, int64(10+i))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("scope")
		sm.Scope().SetVersion("v1")
		g := sm.Metrics().AppendEmpty()
		g.SetName("process.threads")
		g.SetDescription("threads")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetIntValue(int64(i + 1))
		dp.SetTimestamp(ts0 + pcommon.Timestamp(i))
		d := sm.Metrics().AppendEmpty()
		d.SetName("process.context_switches")
		ds := d.SetEmptySum()
		ds.SetIsMonotonic(true)
		ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for j, typ := range []string{"involuntary", "voluntary"} {
			dp := ds.DataPoints().AppendEmpty()
			dp.SetDoubleValue(float64(i*10 + j))
			dp.SetStartTimestamp(ts0 - pcommon.Timestamp(100*(i+1)))
			dp.SetTimestamp(ts0)
			dp.Attributes().PutStr("type", typ)
		}
	}
	orig := cloneMetrics(md)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	out := sink.AllMetrics()[0]
	require.Equal(t, 1, out.ResourceMetrics().Len())
	sm := out.ResourceMetrics().At(0).ScopeMetrics().At(0)
	require.Equal(t, "scope", sm.Scope().Name())
	require.Equal(t, "v1", sm.Scope().Version())
	pts := findPoints(out.ResourceMetrics().At(0))
	th := pts["process.threads"]
	require.Equal(t, pmetric.MetricTypeGauge, th.metric.Type())
	require.Equal(t, "threads", th.metric.Description())
	require.Equal(t, int64(6), th.dp.IntValue())
	require.Equal(t, ts0+2, th.dp.Timestamp())
	inv := pts["process.context_switches|type=involuntary"]
	require.Equal(t, pmetric.AggregationTemporalityDelta, inv.metric.Sum().AggregationTemporality())
	require.Equal(t, 30.0, inv.dp.DoubleValue())
	require.Equal(t, ts0-300, inv.dp.StartTimestamp(), "earliest start of the merged delta points")
	require.Equal(t, 33.0, pts["process.context_switches|type=voluntary"].dp.DoubleValue())

	// The next interval sums again from zero.
	md2 := pmetric.NewMetrics()
	orig.ResourceMetrics().At(1).CopyTo(md2.ResourceMetrics().AppendEmpty())
	require.NoError(t, p.ConsumeMetrics(context.Background(), md2))
	pts = findPoints(sink.AllMetrics()[1].ResourceMetrics().At(0))
	require.Equal(t, int64(2), pts["process.threads"].dp.IntValue())
	require.Equal(t, 10.0, pts["process.context_switches|type=involuntary"].dp.DoubleValue())
}

func TestMultipleHosts(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	for _, h := range []string{"a", "b", "", "a"} {
		oneProcess(md, h, int64(md.ResourceMetrics().Len()+1), "w", 1, ts0, 1)
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	out := sink.AllMetrics()[0]
	groups := groupsOf(out)
	require.Len(t, groups, 3)
	for id, members := range map[string]int64{"a/other": 2, "b/other": 1, "/other": 1} {
		rm := groups[id]
		n, _ := rm.Resource().Attributes().Get(proc.AttrGroupMembers)
		require.Equal(t, members, n.Int(), id)
	}
	_, hasHost := groups["/other"].Resource().Attributes().Get(proc.AttrHostName)
	require.False(t, hasHost, "no host.name when the inputs had none")
}

func TestDuplicateProcessInOneBatchCountsOnce(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	md := pmetric.NewMetrics()
	oneProcess(md, "h", 7, "w", 1, ts0, 4)
	oneProcess(md, "h", 7, "w", 1, ts0+1, 6) // a second scrape in the same batch
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	rm := sink.AllMetrics()[0].ResourceMetrics().At(0)
	n, _ := rm.Resource().Attributes().Get(proc.AttrGroupMembers)
	require.Equal(t, int64(1), n.Int())
	require.Equal(t, int64(6*4096), findPoints(rm)["process.disk.io|direction=read"].dp.IntValue(), "the last value of the process")
}

// appendUnsupported adds one histogram, summary and exponential histogram
// metric (2 points each) to the resource.
func appendUnsupported(rm pmetric.ResourceMetrics) {
	ms := rm.ScopeMetrics().At(0).Metrics()
	h := ms.AppendEmpty()
	h.SetName("process.latency")
	hs := h.SetEmptyHistogram()
	hs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	s := ms.AppendEmpty()
	s.SetName("process.summary")
	ss := s.SetEmptySummary()
	e := ms.AppendEmpty()
	e.SetName("process.exp")
	es := e.SetEmptyExponentialHistogram()
	for i := 0; i < 2; i++ {
		hp := hs.DataPoints().AppendEmpty()
		hp.SetCount(3)
		hp.ExplicitBounds().FromRaw([]float64{1, 2})
		hp.BucketCounts().FromRaw([]uint64{1, 1, 1})
		ss.DataPoints().AppendEmpty().SetCount(1)
		es.DataPoints().AppendEmpty().SetCount(1)
	}
	ms.AppendEmpty().SetName("process.empty") // MetricTypeEmpty
}

func TestUnsupportedTypesDroppedAndCounted(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByExecutable))
	md := withPriorities(proctest.Metrics(proctest.Processes("h", 7)[5:], ts0), func(i int) proc.Priority {
		return []proc.Priority{proc.High, proc.Low}[i]
	})
	appendUnsupported(md.ResourceMetrics().At(0))
	appendUnsupported(md.ResourceMetrics().At(1))
	keptBefore := marshalRM(t, md.ResourceMetrics().At(0))
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	out := sink.AllMetrics()[0]
	require.Equal(t, 2, out.ResourceMetrics().Len())
	require.Equal(t, keptBefore, marshalRM(t, out.ResourceMetrics().At(0)), "a kept process keeps its histograms")
	g := out.ResourceMetrics().At(1)
	require.Equal(t, "worker-6", proc.Str(g.Resource(), proc.AttrGroup))
	require.Equal(t, 4, g.ScopeMetrics().At(0).Metrics().Len(), "number metrics only")
	require.Equal(t, 6.0, counterValue(t, reg, droppedTotal, ReasonUnsupportedType))
}

func TestFoldedProcessOnlyUnsupportedEmitsNothing(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByExecutable))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt(proc.AttrPID, 1)
	rm.ScopeMetrics().AppendEmpty()
	appendUnsupported(rm)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Equal(t, 0, sink.AllMetrics()[0].ResourceMetrics().Len())
	require.Equal(t, 6.0, counterValue(t, reg, droppedTotal, ReasonUnsupportedType))
	require.Equal(t, 1.0, counterValue(t, reg, foldedTotal, ""))
}

func TestWrongAttributeTypes(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	md := proctest.Metrics(proctest.Processes("h", 12)[8:], ts0)
	rms := md.ResourceMetrics()
	rms.At(0).Resource().Attributes().PutStr(proc.AttrPID, "1234") // pid as string
	rms.At(1).Resource().Attributes().PutInt(proc.AttrOwner, 1000) // int owner
	rms.At(2).Resource().Attributes().PutInt(proc.AttrExecutableName, 42)
	rms.At(2).Resource().Attributes().PutInt(proc.AttrHostName, 7)
	rms.At(3).Resource().Attributes().PutEmptyMap(proc.AttrPID).PutStr("x", "y")
	require.NotPanics(t, func() { require.NoError(t, p.ConsumeMetrics(context.Background(), md)) })
	groups := groupsOf(sink.AllMetrics()[0])
	require.Contains(t, groups, "h/worker-8")
	require.Contains(t, groups, "h/worker-9")
	require.Contains(t, groups, "7/42")
	require.Contains(t, groups, "h/worker-11")
}

func TestMissingAttributes(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	md := proctest.Metrics(proctest.Processes("", 3)[1:], ts0)
	md.ResourceMetrics().At(0).Resource().Attributes().Remove(proc.AttrExecutableName) // pid only
	md.ResourceMetrics().At(1).Resource().Attributes().Remove(proc.AttrPID)            // name only
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	groups := groupsOf(sink.AllMetrics()[0])
	require.Len(t, groups, 2)
	require.Contains(t, groups, "/"+GroupUnknown)
	require.Contains(t, groups, "/java")
}

func TestEmptyInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(md pmetric.Metrics)
		want  int // resources out
	}{
		{name: "empty batch", build: func(pmetric.Metrics) {}},
		{name: "empty resource", build: func(md pmetric.Metrics) { md.ResourceMetrics().AppendEmpty() }, want: 1},
		{name: "process without scopes", build: func(md pmetric.Metrics) {
			md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutInt(proc.AttrPID, 3)
		}},
		{name: "process with empty scope", build: func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutInt(proc.AttrPID, 3)
			rm.ScopeMetrics().AppendEmpty()
		}},
		{name: "process with metrics without points", build: func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutInt(proc.AttrPID, 3)
			ms := rm.ScopeMetrics().AppendEmpty().Metrics()
			ms.AppendEmpty().SetName("empty")
			ms.AppendEmpty().SetEmptyGauge()
			ms.AppendEmpty().SetEmptySum()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
			md := pmetric.NewMetrics()
			tt.build(md)
			require.NoError(t, p.ConsumeMetrics(context.Background(), md))
			require.Equal(t, tt.want, sink.AllMetrics()[0].ResourceMetrics().Len())
		})
	}
}

func TestInvalidValuesCounted(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByExecutable))
	build := func(ts pcommon.Timestamp, vals ...func(dp pmetric.NumberDataPoint)) pmetric.Metrics {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, 9)
		rm.Resource().Attributes().PutStr(proc.AttrExecutableName, "w")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("c")
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i, set := range vals {
			dp := s.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetStartTimestamp(1)
			dp.Attributes().PutInt("i", int64(i))
			set(dp)
		}
		return md
	}
	double := func(v float64) func(pmetric.NumberDataPoint) {
		return func(dp pmetric.NumberDataPoint) { dp.SetDoubleValue(v) }
	}
	// Series 0..4 start valid.
	require.NoError(t, p.ConsumeMetrics(context.Background(), build(ts0, double(1), double(1), double(1), double(1), double(1), double(1))))
	require.Zero(t, counterValue(t, reg, droppedTotal, ReasonInvalidValue))
	require.NoError(t, p.ConsumeMetrics(context.Background(), build(ts0+10,
		double(math.NaN()), double(-1), double(math.Inf(1)),
		func(dp pmetric.NumberDataPoint) {
			dp.SetDoubleValue(5)
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		},
		func(pmetric.NumberDataPoint) {}, // no value
		double(3),
	)))
	require.Equal(t, 5.0, counterValue(t, reg, droppedTotal, ReasonInvalidValue))
	// A point older than the previous one of the same process is stale.
	none := func(pmetric.NumberDataPoint) {}
	require.NoError(t, p.ConsumeMetrics(context.Background(), build(ts0+5, none, none, none, none, none, double(0.5))))
	require.Equal(t, 11.0, counterValue(t, reg, droppedTotal, ReasonInvalidValue))
	require.Equal(t, 0, sink.AllMetrics()[2].ResourceMetrics().Len(), "nothing usable, no group")

	// Valid points kept their totals; the one valid update (series 5) applied.
	require.NoError(t, p.ConsumeMetrics(context.Background(), build(ts0+20, double(2), double(2), double(2), double(2), double(2), double(4))))
	pts := findPoints(sink.AllMetrics()[3].ResourceMetrics().At(0))
	for i := 0; i < 5; i++ {
		require.Equal(t, 2.0, pts["c|i="+strconv.Itoa(i)].dp.DoubleValue(), "series %d", i)
	}
	require.Equal(t, 4.0, pts["c|i=5"].dp.DoubleValue())
}

func TestMixedValueTypes(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	for i, v := range []any{int64(3), 2.75, int64(1), math.Inf(1)} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, int64(i))
		dp := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
		switch v := v.(type) {
		case int64:
			dp.SetIntValue(v)
		case float64:
			dp.SetDoubleValue(v)
		}
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	pt := findPoints(sink.AllMetrics()[0].ResourceMetrics().At(0))[""]
	require.Equal(t, pmetric.NumberDataPointValueTypeInt, pt.dp.ValueType())
	require.Equal(t, int64(3+2+1), pt.dp.IntValue(), "the double is truncated into the int series; +Inf cannot be")
}

func TestAttributeOrderDoesNotSplitSeries(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	for i, order := range [][]string{{"a", "b", "c"}, {"c", "a", "b"}, {"b", "c", "a"}} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, int64(i))
		dp := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
		for _, k := range order {
			dp.Attributes().PutStr(k, k+"v")
		}
		dp.Attributes().PutInt("n", 1)
		dp.Attributes().PutBool("t", true)
		dp.Attributes().PutDouble("d", 0.5)
		dp.Attributes().PutEmptyBytes("y").FromRaw([]byte{1})
		dp.Attributes().PutEmptySlice("s").AppendEmpty().SetStr("x")
		dp.SetIntValue(1)
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	ms := sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, ms.Len())
	require.Equal(t, 1, ms.At(0).Gauge().DataPoints().Len())
	require.Equal(t, int64(3), ms.At(0).Gauge().DataPoints().At(0).IntValue())
}

func TestSeriesLimit(t *testing.T) {
	t.Parallel()
	p, sink, reg := newTestProcessor(t, testConfig(GroupByOther))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt(proc.AttrPID, 1)
	dps := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
	for i := 0; i < MaxStatePerGroup+10; i++ {
		dp := dps.AppendEmpty()
		dp.SetIntValue(1)
		dp.Attributes().PutStr("id", strconv.Itoa(i))
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	// One scope and one metric count in the state with the series.
	require.Equal(t, MaxStatePerGroup-2, sink.AllMetrics()[0].DataPointCount())
	require.Equal(t, 12.0, counterValue(t, reg, droppedTotal, ReasonSeriesLimit))

	// Points without a value open no series, but their scopes and metrics
	// count too: unique scope names cannot grow the state either.
	md = pmetric.NewMetrics()
	rm = md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt(proc.AttrPID, 1)
	for i := 0; i < 100; i++ {
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("scope-" + strconv.Itoa(i))
		sm.Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty() // no value
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Equal(t, 12.0+100, counterValue(t, reg, droppedTotal, ReasonSeriesLimit))
}

func TestStateTTL(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	cfg := *testConfig(GroupByExecutable)
	cfg.StateTTL = time.Hour
	p := newDirect(t, cfg, &now)
	run := func(procs ...[3]int64) pmetric.Metrics { // pid, start, cpu
		md := pmetric.NewMetrics()
		for _, pr := range procs {
			oneProcess(md, "h", pr[0], "w", pcommon.Timestamp(pr[1]), pcommon.NewTimestampFromTime(now), float64(pr[2]))
		}
		out, err := p.processMetrics(context.Background(), md)
		require.NoError(t, err)
		return out
	}
	io := func(md pmetric.Metrics) int64 {
		return findPoints(md.ResourceMetrics().At(0))["process.disk.io|direction=read"].dp.IntValue()
	}
	require.Equal(t, int64(10*4096), io(run([3]int64{1, 100, 10})))
	// A is not seen again; B keeps the group alive every 20 minutes.
	for i := 1; i <= 4; i++ {
		now = now.Add(20 * time.Minute)
		require.Equal(t, int64((10+5)*4096), io(run([3]int64{2, 100, 5})), "A's contribution stays")
	}
	p.mu.Lock()
	require.Len(t, p.groups[groupKey{"h", "w"}].members, 1, "A forgotten after state_ttl")
	p.mu.Unlock()
	// A comes back after state_ttl: it counts as a new process.
	require.Equal(t, int64((10+5+12)*4096), io(run([3]int64{1, 100, 12}, [3]int64{2, 100, 5})))

	// Nothing for more than state_ttl: the group is forgotten and restarts.
	now = now.Add(90 * time.Minute)
	out := run([3]int64{2, 200, 6})
	require.Equal(t, int64(6*4096), io(out))
	require.Equal(t, pcommon.Timestamp(200), findPoints(out.ResourceMetrics().At(0))["process.disk.io|direction=read"].dp.StartTimestamp())
	p.mu.Lock()
	require.Len(t, p.groups, 1)
	p.mu.Unlock()
}

func TestConcurrentConsume(t *testing.T) {
	t.Parallel()
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	const workers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := fmt.Sprintf("host-%d", w)
			for r := 0; r < rounds; r++ {
				md := withPriorities(proctest.Metrics(proctest.Processes(host, 100), ts0+pcommon.Timestamp(r)), benchPriority)
				errs <- p.ConsumeMetrics(context.Background(), md)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, sink.AllMetrics(), workers*rounds)
	// Every batch repeats the same values: each group's counters never move.
	first := make(map[string]float64)
	for _, md := range sink.AllMetrics() {
		for id, rm := range groupsOf(md) {
			v := proc.NumberValue(findPoints(rm)["process.cpu.time|state=user"].dp)
			if f, ok := first[id]; ok {
				require.Equal(t, f, v, id)
			} else {
				first[id] = v
			}
		}
	}
	require.Len(t, first, workers*50)
}

func TestFactory(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	require.Equal(t, "phoenix_rollup", f.Type().String())
	cfg := f.CreateDefaultConfig().(*Config)
	require.Equal(t, GroupByExecutable, cfg.GroupBy)
	require.Equal(t, proc.High, cfg.KeepPriority)
	require.Equal(t, 5*time.Minute, cfg.StateTTL)

	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()), "shutdown is idempotent")

	bad := &Config{GroupBy: "pid", KeepPriority: proc.High, StateTTL: time.Minute}
	_, err = f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), bad, consumertest.NewNop())
	require.ErrorContains(t, err, "group_by")

	// Two factories on one registry share the counters.
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		_, err := NewFactoryWithSettings(Settings{Registerer: reg}).CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
		require.NoError(t, err)
	}
}

func TestIdentityIgnoresDeltaStart(t *testing.T) {
	t.Parallel()
	// After a cumulativetodelta processor the start of delta points moves
	// every interval; the process must keep its identity.
	p, sink, _ := newTestProcessor(t, testConfig(GroupByExecutable))
	for i, v := range []int64{10, 15, 15} {
		ts := ts0 + pcommon.Timestamp(i)*10e9
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt(proc.AttrPID, 4)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		c := ms.AppendEmpty().SetEmptySum()
		c.SetIsMonotonic(true)
		c.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := c.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(ts0 - 1e9)
		dp.SetTimestamp(ts)
		dp.SetIntValue(v)
		d := ms.AppendEmpty()
		d.SetName("delta")
		ds := d.SetEmptySum()
		ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		ddp := ds.DataPoints().AppendEmpty()
		ddp.SetStartTimestamp(ts0 - 20e9 + pcommon.Timestamp(i)*10e9) // earlier than the process start at first
		ddp.SetTimestamp(ts)
		ddp.SetIntValue(1)
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		got := findPoints(sink.AllMetrics()[i].ResourceMetrics().At(0))[""].dp
		require.Equal(t, v, got.IntValue(), "interval %d", i)
		require.Equal(t, ts0-1e9, got.StartTimestamp())
	}
}

// TestScanMatchesProc checks that the one-pass attribute scan reads what the
// shared proc helpers read.
func TestScanMatchesProc(t *testing.T) {
	t.Parallel()
	tests := []map[string]any{
		{},
		{proc.AttrPID: int64(12), proc.AttrExecutableName: "nginx", proc.AttrHostName: "h", proc.AttrPriority: "high"},
		{proc.AttrPID: "77", proc.AttrPriority: "critical", proc.AttrKeep: false},
		{proc.AttrPID: "x77", proc.AttrPriority: "urgent", proc.AttrKeep: "true"},
		{proc.AttrPID: 12.9, proc.AttrPriority: int64(3), proc.AttrKeep: true},
		{proc.AttrPID: []any{1}, proc.AttrExecutableName: int64(5), proc.AttrHostName: true},
		{proc.AttrExecutableName: "", proc.AttrPriority: "low"},
		{proc.AttrHostName: "only-host"},
	}
	for i, raw := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			res := pcommon.NewResource()
			require.NoError(t, res.Attributes().FromRaw(raw))
			if i%2 == 1 {
				// Duplicated keys (possible on the wire): the first wins.
				res = withDuplicates(t, raw)
			}
			ri := scan(res)
			require.Equal(t, proc.IsProcess(res), ri.hasPID || ri.hasName)
			require.Equal(t, proc.PriorityOf(res), ri.prio)
			require.Equal(t, proc.KeyOf(res, 42), proc.Key{Host: ri.host, PID: ri.pid, Name: ri.name, Start: 42})
			v, ok := res.Attributes().Get(proc.AttrKeep)
			require.Equal(t, ok && v.Type() == pcommon.ValueTypeBool, ri.hasKeep)
			require.Equal(t, ok && v.Type() == pcommon.ValueTypeBool && v.Bool(), ri.keep)
		})
	}
}

// TestTemplateCleaned checks that a group written over its first process
// keeps nothing of that process but what the group shares.
func TestTemplateCleaned(t *testing.T) {
	t.Parallel()
	p := newDirect(t, *testConfig(GroupByExecutable), nil)
	md := pmetric.NewMetrics()
	oneProcess(md, "h", 1, "w", 100, ts0, 8)
	oneProcess(md, "h", 2, "w", 100, ts0, 8)
	first := md.ResourceMetrics().At(0)
	first.SetSchemaUrl("https://opentelemetry.io/schemas/1.9.0")
	first.Resource().SetDroppedAttributesCount(3)
	first.ScopeMetrics().At(0).Metrics().At(0).Metadata().PutStr("k", "v")
	ex := first.ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).Exemplars().AppendEmpty()
	ex.SetDoubleValue(1)
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	require.Equal(t, uint64(1), p.reused)
	require.Equal(t, 1, out.ResourceMetrics().Len())
	g := out.ResourceMetrics().At(0)
	require.Empty(t, g.SchemaUrl())
	require.Zero(t, g.Resource().DroppedAttributesCount())
	require.Equal(t, map[string]any{
		proc.AttrHostName: "h", proc.AttrGroup: "w", proc.AttrGroupBy: "executable", proc.AttrGroupMembers: int64(2),
	}, g.Resource().Attributes().AsRaw())
	cpu := g.ScopeMetrics().At(0).Metrics().At(0)
	require.Zero(t, cpu.Metadata().Len())
	require.Zero(t, cpu.Sum().DataPoints().At(0).Exemplars().Len())
}

// TestTemplatePathsAgree checks that writing over the first process and
// rebuilding from the state give the same group series.
func TestTemplatePathsAgree(t *testing.T) {
	t.Parallel()
	build := func(firstHasHistogram bool) pmetric.Metrics {
		md := pmetric.NewMetrics()
		for i, cpu := range []float64{3, 5, 9} {
			oneProcess(md, "h", int64(10+i), "w", pcommon.Timestamp(100+i), ts0+pcommon.Timestamp(i), cpu)
		}
		if firstHasHistogram {
			appendUnsupported(md.ResourceMetrics().At(0))
		}
		return md
	}
	var got []map[string]string
	for _, hist := range []bool{false, true} {
		p := newDirect(t, *testConfig(GroupByExecutable), nil)
		out, err := p.processMetrics(context.Background(), build(hist))
		require.NoError(t, err)
		require.Equal(t, 1, out.ResourceMetrics().Len())
		if hist {
			require.Equal(t, uint64(1), p.rebuilt)
		} else {
			require.Equal(t, uint64(1), p.reused)
		}
		rm := out.ResourceMetrics().At(0)
		pts := map[string]string{"resource": fmt.Sprint(rm.Resource().Attributes().AsRaw())}
		for k, pt := range findPoints(rm) {
			pts[k] = fmt.Sprintf("%s %s %v %v %d %d %v", pt.metric.Unit(), pt.metric.Type(), pt.dp.ValueType(), proc.NumberValue(pt.dp),
				pt.dp.StartTimestamp(), pt.dp.Timestamp(), pt.dp.Attributes().AsRaw())
			if pt.metric.Type() == pmetric.MetricTypeSum {
				pts[k] += fmt.Sprint(" ", pt.metric.Sum().IsMonotonic(), pt.metric.Sum().AggregationTemporality())
			}
		}
		got = append(got, pts)
	}
	require.Len(t, got[0], 8)
	require.Equal(t, got[0], got[1])
}

// TestForgottenProcessAtSamePosition checks that a process forgotten after
// state_ttl counts as new when it comes back at the position it had in
// earlier batches.
func TestForgottenProcessAtSamePosition(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	cfg := *testConfig(GroupByExecutable)
	cfg.StateTTL = time.Hour
	p := newDirect(t, cfg, &now)
	run := func(withA bool) int64 {
		md := pmetric.NewMetrics()
		if withA {
			oneProcess(md, "h", 1, "w", 100, pcommon.NewTimestampFromTime(now), 10)
		} else {
			systemResource(md, "h") // keeps position 0 taken
		}
		oneProcess(md, "h", 2, "w", 100, pcommon.NewTimestampFromTime(now), 5)
		out, err := p.processMetrics(context.Background(), md)
		require.NoError(t, err)
		return findPoints(groupsOf(out)["h/w"])["process.disk.io|direction=read"].dp.IntValue()
	}
	require.Equal(t, int64(15*4096), run(true))
	require.Equal(t, int64(15*4096), run(true), "same values, no increase")
	for i := 0; i < 5; i++ {
		now = now.Add(20 * time.Minute)
		require.Equal(t, int64(15*4096), run(false))
	}
	require.Equal(t, int64((15+10)*4096), run(true), "A was forgotten: its full value counts again")
}

// withDuplicates decodes a resource whose attributes are raw followed by a
// second value for every key Phoenix reads, as a sender may put on the wire.
func withDuplicates(t *testing.T, raw map[string]any) pcommon.Resource {
	t.Helper()
	md := pmetric.NewMetrics()
	require.NoError(t, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(raw))
	first, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	dup := pmetric.NewMetrics()
	require.NoError(t, dup.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(map[string]any{
		proc.AttrPID: int64(999), proc.AttrPriority: "low", proc.AttrHostName: "other", proc.AttrKeep: true, proc.AttrExecutableName: "dup",
	}))
	second, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(dup)
	require.NoError(t, err)
	// Metrics{resource_metrics: [ResourceMetrics{resource: R}]}: unwrap R of
	// each, concatenate (repeated attributes append), and wrap again.
	r := append(resourceBytes(t, first), resourceBytes(t, second)...)
	rm := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), r)
	b := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rm)
	out, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
	require.NoError(t, err)
	require.Equal(t, 1, out.ResourceMetrics().Len())
	require.Equal(t, len(raw)+5, out.ResourceMetrics().At(0).Resource().Attributes().Len(), "duplicated keys kept")
	return out.ResourceMetrics().At(0).Resource()
}

// resourceBytes returns the encoded Resource of the only ResourceMetrics of
// an encoded Metrics.
func resourceBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	field := func(b []byte, want protowire.Number) []byte {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			require.GreaterOrEqual(t, n, 0)
			b = b[n:]
			if typ != protowire.BytesType {
				n = protowire.ConsumeFieldValue(num, typ, b)
				require.GreaterOrEqual(t, n, 0)
				b = b[n:]
				continue
			}
			v, n := protowire.ConsumeBytes(b)
			require.GreaterOrEqual(t, n, 0)
			b = b[n:]
			if num == want {
				return v
			}
		}
		return nil
	}
	return field(field(b, 1), 1)
}
