// Package benchside is the harness of the Phoenix processors' benchmarks:
// each processor against its stock OpenTelemetry (OTTL) equivalent and a
// pass-through floor, in the same run, per data point.
package benchside

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
)

// Compare runs three sub-benchmarks over batches from a fresh source
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
// state. Each batch is built with the timer stopped, right after a garbage
// collection, and no collection starts while a side consumes it: collecting
// the harness's batches and the sides' garbage is charged to no side, and
// each side's own allocations are reported with -benchmem. typ names the
// processor whose settings the floor side is built with.
func Compare(b *testing.B, typ component.Type, ottl, phoenix func(*testing.B) processor.Metrics, source func() func() pmetric.Metrics) {
	ctx := context.Background()
	type result struct{ wall, cpu float64 }
	var results [3]result
	sides := []struct {
		name string
		new  func(*testing.B) processor.Metrics
	}{
		{"floor", func(b *testing.B) processor.Metrics {
			p, err := processorhelper.NewMetrics(ctx, processortest.NewNopSettings(typ), nil, consumertest.NewNop(),
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
			// The collector runs no collection between a receiver building
			// a batch and the pipeline's processors consuming it: they run
			// in the scraper's call, on its goroutine. So the collection
			// runs before each batch is built, and none starts while a
			// side consumes it.
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			for range b.N {
				b.StopTimer()
				runtime.GC()
				md := next()
				b.StartTimer()
				c0 := ThreadCPU()
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
				cpu += ThreadCPU() - c0
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
