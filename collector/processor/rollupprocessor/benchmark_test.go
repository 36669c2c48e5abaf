package rollupprocessor

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbyattrsprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/benchside"
	"github.com/phoenix/platform/collector/internal/proc"
)

// newStockRollup builds what a user would write with stock contrib
// processors to roll up low-priority processes: a transform processor that
// strips the process identity from the resources of processes below high
// priority, then groupbyattrs keyed by process.executable.name, which merges
// resources whose remaining attributes are equal.
//
// It is not a rollup: groupbyattrs concatenates the points of the merged
// resources instead of adding them, so a group carries one point per
// process with identical attributes (duplicate series: gauges are not
// summed, and a backend keeping the last point per series sees counters
// jump between processes). Even if the points were added, a plain sum of
// cumulative counters goes backwards when a process exits or restarts; it
// keeps no per-process state to avoid that. phoenix_rollup does all three.
func newStockRollup(tb testing.TB, next consumer.Metrics) processor.Metrics {
	tb.Helper()
	ctx := context.Background()

	gf := groupbyattrsprocessor.NewFactory()
	gcfg := gf.CreateDefaultConfig().(*groupbyattrsprocessor.Config)
	gcfg.GroupByKeys = []string{proc.AttrExecutableName}
	gp, err := gf.CreateMetrics(ctx, processortest.NewNopSettings(gf.Type()), gcfg, next)
	require.NoError(tb, err)

	tf := transformprocessor.NewFactory()
	tcfg := tf.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"error_mode": "ignore",
		"metric_statements": []any{map[string]any{
			"context": "resource",
			"conditions": []any{
				`attributes["phoenix.priority"] != "high" and attributes["phoenix.priority"] != "critical"`,
			},
			"statements": []any{
				`delete_key(attributes, "process.pid")`,
				`delete_key(attributes, "process.command_line")`,
				`delete_key(attributes, "process.owner")`,
				`set(attributes["phoenix.group"], attributes["process.executable.name"])`,
				`set(attributes["phoenix.group_by"], "executable")`,
			},
		}},
	}).Unmarshal(tcfg))
	require.NoError(tb, confmap.Validate(tcfg))
	tp, err := tf.CreateMetrics(ctx, processortest.NewNopSettings(tf.Type()), tcfg, gp)
	require.NoError(tb, err)

	require.NoError(tb, gp.Start(ctx, nil))
	require.NoError(tb, tp.Start(ctx, nil))
	tb.Cleanup(func() {
		require.NoError(tb, tp.Shutdown(ctx))
		require.NoError(tb, gp.Shutdown(ctx))
	})
	return tp
}

// TestStockRollupDoesTheWork checks that the benchmark's stock side does the
// same grouping, and shows that it does not add the points.
func TestStockRollupDoesTheWork(t *testing.T) {
	t.Parallel()
	sink := new(consumertest.MetricsSink)
	p := newStockRollup(t, sink)
	require.NoError(t, p.ConsumeMetrics(context.Background(), benchBatch(ts0)))
	out := sink.AllMetrics()[0]
	require.Equal(t, 100, out.ResourceMetrics().Len(), "50 kept processes and 50 executables")
	groups := groupsOf(out)
	require.Len(t, groups, 50)
	rm := groups["host-a/worker-7"]
	cpu := rm.ScopeMetrics().At(0).Metrics().At(0)
	require.Equal(t, proc.MetricCPUTime, cpu.Name())
	require.Equal(t, 19*3, cpu.Sum().DataPoints().Len(), "19 processes' points side by side, not added")
	require.Equal(t, 1000*7, out.DataPointCount())
}

// BenchmarkProcess runs phoenix_rollup and the stock transform+groupbyattrs
// pipeline on the same 1,000-process batch (950 folded) and reports ns and
// throughput per input data point.
func BenchmarkProcess(b *testing.B) {
	in := benchBatch(ts0)
	dps := in.DataPointCount()
	ctx := context.Background()
	results := map[string]float64{}
	cpuResults := map[string]float64{}
	run := func(b *testing.B, p processor.Metrics) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var cpu int64
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			md := cloneMetrics(in)
			b.StartTimer()
			c0 := int64(benchside.ThreadCPU())
			if err := p.ConsumeMetrics(ctx, md); err != nil {
				b.Fatal(err)
			}
			c1 := int64(benchside.ThreadCPU())
			cpu += c1 - c0
		}
		b.StopTimer()
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/float64(dps), "ns/dp")
		b.ReportMetric(float64(dps)/ns*1e9, "dp/s")
		if cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N)/float64(dps), "cpu-ns/dp")
		}
		results[b.Name()] = ns / float64(dps)
		cpuResults[b.Name()] = float64(cpu) / float64(b.N) / float64(dps)
	}
	b.Run("phoenix_rollup", func(b *testing.B) {
		cfg := testConfig(GroupByExecutable)
		cfg.StateTTL = 5 * time.Minute
		p, err := NewFactoryWithSettings(Settings{}).CreateMetrics(ctx, processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
		require.NoError(b, err)
		require.NoError(b, p.Start(ctx, nil))
		defer func() { require.NoError(b, p.Shutdown(ctx)) }()
		run(b, p)
	})
	b.Run("stock_transform_groupbyattrs", func(b *testing.B) {
		run(b, newStockRollup(b, consumertest.NewNop()))
		// How many times slower than phoenix_rollup (run just before), in
		// wall ns/dp, printed in the same table.
		if ours := results[strings.TrimSuffix(b.Name(), "stock_transform_groupbyattrs")+"phoenix_rollup"]; ours > 0 {
			b.ReportMetric(results[b.Name()]/ours, "x_phoenix")
		}
	})
	ours, stock := results[b.Name()+"/phoenix_rollup"], results[b.Name()+"/stock_transform_groupbyattrs"]
	oursCPU, stockCPU := cpuResults[b.Name()+"/phoenix_rollup"], cpuResults[b.Name()+"/stock_transform_groupbyattrs"]
	if ours > 0 && stock > 0 {
		b.Logf("%d dps/batch: phoenix_rollup %.1f ns/dp (%.1f cpu-ns/dp), stock %.1f ns/dp (%.1f cpu-ns/dp), stock/phoenix_rollup = %.1fx wall, %.1fx cpu",
			dps, ours, oursCPU, stock, stockCPU, stock/ours, stockCPU/oursCPU)
	}
}

// BenchmarkFoldOnly measures the fold alone, without the processor.Metrics
// wrapper, steady state (the same batch every interval).
func BenchmarkFoldOnly(b *testing.B) {
	in := benchBatch(ts0)
	dps := in.DataPointCount()
	p := newDirect(b, *testConfig(GroupByExecutable), nil)
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		md := cloneMetrics(in)
		b.StartTimer()
		c0 := int64(benchside.ThreadCPU())
		if _, err := p.processMetrics(ctx, md); err != nil {
			b.Fatal(err)
		}
		c1 := int64(benchside.ThreadCPU())
		cpu += c1 - c0
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns/float64(dps), "ns/dp")
	b.ReportMetric(float64(dps)/ns*1e9, "dp/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N)/float64(dps), "cpu-ns/dp")
	}
}

// TestFoldAllocations guards the hot path: in steady state, folding 950
// processes (6,650 points) allocates only for the group attributes and
// values written (pdata allocates a small value wrapper per point set), not
// per input point.
func TestFoldAllocations(t *testing.T) {
	tests := []struct {
		mode      GroupBy
		groups    int
		maxAllocs float64
	}{
		{mode: GroupByOther, groups: 1, maxAllocs: 30},
		{mode: GroupByExecutable, groups: 50, maxAllocs: 700},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			in := benchBatch(ts0)
			p := newDirect(t, *testConfig(tt.mode), nil)
			batches := make([]pmetric.Metrics, 12)
			for i := range batches {
				batches[i] = cloneMetrics(in)
			}
			_, err := p.processMetrics(context.Background(), batches[0]) // warm the state
			require.NoError(t, err)
			n := 1
			allocs := testing.AllocsPerRun(10, func() {
				_, _ = p.processMetrics(context.Background(), batches[n])
				n++
			})
			out := batches[1]
			require.Equal(t, 50+tt.groups, out.ResourceMetrics().Len())
			t.Logf("%s: %.0f allocations per batch of %d points (%d group points written)", tt.mode, allocs, in.DataPointCount(), out.DataPointCount()-50*7)
			require.LessOrEqual(t, allocs, tt.maxAllocs)
		})
	}
}
