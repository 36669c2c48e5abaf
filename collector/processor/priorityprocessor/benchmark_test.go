package priorityprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proctest"
)

// benchConfig is the classification both sides of BenchmarkProcess perform.
var benchConfig = &Config{
	Rules: []Rule{
		{Priority: "critical", Executable: "^(nginx|postgres|java|redis|kubelet)$"},
		{Priority: "high", Executable: "^worker-1[0-9]$"},
		{Priority: "medium", Owner: "^root$"},
	},
	DefaultPriority: "low",
	Overwrite:       true,
}

// ottlStatements is benchConfig written for the stock transform processor:
// one statement per rule, each guarded so that the first match wins, then the
// default for every process resource that no rule matched.
var ottlStatements = []any{
	`set(resource.attributes["phoenix.priority"], "critical") where IsMatch(resource.attributes["process.executable.name"], "^(nginx|postgres|java|redis|kubelet)$")`,
	`set(resource.attributes["phoenix.priority"], "high") where resource.attributes["phoenix.priority"] == nil and IsMatch(resource.attributes["process.executable.name"], "^worker-1[0-9]$")`,
	`set(resource.attributes["phoenix.priority"], "medium") where resource.attributes["phoenix.priority"] == nil and IsMatch(resource.attributes["process.owner"], "^root$")`,
	`set(resource.attributes["phoenix.priority"], "low") where resource.attributes["phoenix.priority"] == nil and (resource.attributes["process.pid"] != nil or resource.attributes["process.executable.name"] != nil)`,
}

// newTransform builds the stock transform processor running ottlStatements.
func newTransform(tb testing.TB, next consumer.Metrics) processor.Metrics {
	tb.Helper()
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"error_mode": "ignore",
		"metric_statements": []any{map[string]any{
			"context":    "resource",
			"statements": ottlStatements,
		}},
	}).Unmarshal(cfg))
	require.NoError(tb, confmap.Validate(cfg))
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(tb, err)
	return p
}

// TestTransformEquivalent proves that the transform configuration used as the
// benchmark's comparison produces the same classes as the processor.
func TestTransformEquivalent(t *testing.T) {
	ps := proctest.Processes("host-a", 1000)
	ps[900].Owner = "root"
	md := proctest.Metrics(ps, ts)
	appendSystemCPU(md)
	want := run(t, benchConfig, cloneMetrics(md))

	sink := new(consumertest.MetricsSink)
	tp := newTransform(t, sink)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeMetrics(context.Background(), cloneMetrics(md)))
	require.NoError(t, tp.Shutdown(context.Background()))
	got := sink.AllMetrics()[0]
	require.Equal(t, priorities(want), priorities(got))
	require.Equal(t, "medium", priorities(got)[900])
	require.Equal(t, "high", priorities(got)[10])
}

func cloneMetrics(md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	return out
}

// BenchmarkProcess classifies one scrape of 1,000 processes (7,000 data
// points) per operation with phoenix_priority and with the equivalent
// transformprocessor statements, both built through their factories and
// driven through ConsumeMetrics into a nop consumer; see compareSides for
// what is measured.
func BenchmarkProcess(b *testing.B) {
	ctx := context.Background()
	template := proctest.Metrics(proctest.Processes("host-a", 1000), ts)
	compareSides(b,
		func(b *testing.B) processor.Metrics { return newTransform(b, consumertest.NewNop()) },
		func(b *testing.B) processor.Metrics {
			p, err := NewFactory().CreateMetrics(ctx, processortest.NewNopSettings(Type), benchConfig, consumertest.NewNop())
			require.NoError(b, err)
			return p
		},
		func() func() pmetric.Metrics {
			return func() pmetric.Metrics { return cloneMetrics(template) }
		})
}

// compareSides runs three sub-benchmarks over batches from a fresh source
// each: "floor", a processorhelper processor that passes batches through
// unchanged (the share of the ottl side's cost that is processorhelper's: its
// data point counting, which also pays for the first touch of a freshly
// built batch; the phoenix side implements processor.Metrics itself and does
// not count unless its telemetry is enabled), "ottl", the stock equivalent,
// and "phoenix". Each reports wall time per data point (ns/dp), throughput
// (dp/s) and the CPU time of the benchmark's thread per data point
// (cpu-ns/dp), which other processes competing for a busy machine's cores
// inflate less. The phoenix side also reports how many times faster it is
// than the ottl side by wall time (x-faster) and by CPU time
// (x-faster-cpu). One batch is
// consumed before the timer so that stateful processors are in their steady
// state. Each batch is built with the timer stopped, and a garbage
// collection runs with the timer stopped so that collecting the harness's
// batches is not charged to any side; each side's own allocations are
// reported with -benchmem.
func compareSides(b *testing.B, ottl, phoenix func(*testing.B) processor.Metrics, source func() func() pmetric.Metrics) {
	ctx := context.Background()
	type result struct{ wall, cpu float64 }
	var results [3]result
	sides := []struct {
		name string
		new  func(*testing.B) processor.Metrics
	}{
		{"floor", func(b *testing.B) processor.Metrics {
			p, err := processorhelper.NewMetrics(ctx, processortest.NewNopSettings(Type), nil, consumertest.NewNop(),
				func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) { return md, nil })
			require.NoError(b, err)
			return p
		}},
		{"ottl", ottl},
		{"phoenix", phoenix},
	}
	for i, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			p := side.new(b)
			require.NoError(b, p.Start(ctx, componenttest.NewNopHost()))
			defer func() { require.NoError(b, p.Shutdown(ctx)) }()
			next := source()
			first := next()
			dps := first.DataPointCount()
			require.NoError(b, p.ConsumeMetrics(ctx, first))
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				md := next()
				runtime.GC()
				b.StartTimer()
				c0 := threadCPU()
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
				cpu += threadCPU() - c0
			}
			b.StopTimer()
			points := float64(b.N) * float64(dps)
			r := result{wall: float64(b.Elapsed().Nanoseconds()) / points, cpu: float64(cpu.Nanoseconds()) / points}
			results[i] = r
			b.ReportMetric(r.wall, "ns/dp")
			b.ReportMetric(1e9/r.wall, "dp/s")
			b.ReportMetric(r.cpu, "cpu-ns/dp")
			if side.name != "phoenix" || results[1].wall == 0 {
				return
			}
			b.ReportMetric(results[1].wall/r.wall, "x-faster")
			if r.cpu > 0 {
				b.ReportMetric(results[1].cpu/r.cpu, "x-faster-cpu")
			}
		})
	}
}
