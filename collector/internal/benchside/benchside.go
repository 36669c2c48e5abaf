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

// Compare runs four sub-benchmarks over batches from a fresh source
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
// each side's own allocations are reported with -benchmem. The fourth,
// "paired", runs the ottl and phoenix sides in alternation, batch by batch,
// and reports their CPU time per data point and its ratio measured under the
// same conditions (its ns/op includes building the batches). typ names the
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
			p, next, dps := warm(b, side.new, source)
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
	b.Run("paired", func(b *testing.B) { paired(b, ottl, phoenix, source) })
}

// warm builds a side's processor, starts it (and shuts it down when b
// ends) and consumes one batch from a fresh source, so that a stateful
// processor is in its steady state. It returns the processor, the source
// and the number of data points of a batch.
func warm(b *testing.B, newSide func(*testing.B) processor.Metrics, source func() func() pmetric.Metrics) (processor.Metrics, func() pmetric.Metrics, int) {
	ctx := context.Background()
	p := newSide(b)
	require.NoError(b, p.Start(ctx, componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, p.Shutdown(ctx)) })
	next := source()
	first := next()
	// Count before consuming: a processor that drops (phoenix_topk, filter)
	// leaves fewer points in the batch than it was given.
	dps := first.DataPointCount()
	require.NoError(b, p.ConsumeMetrics(ctx, first))
	return p, next, dps
}

// paired runs the ottl and phoenix sides batch by batch in alternation
// (ottl first in even rounds, phoenix first in odd ones), each on batches
// from its own source, and reports both sides' thread CPU per data point and
// their ratio. Run one after the other, the sides can meet a machine in
// different states (a shared host's caches and memory bandwidth vary over
// seconds); alternated, they meet the same one.
func paired(b *testing.B, ottl, phoenix func(*testing.B) processor.Metrics, source func() func() pmetric.Metrics) {
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	type side struct {
		p    processor.Metrics
		next func() pmetric.Metrics
		cpu  time.Duration
	}
	var sides [2]*side
	dps := 0
	for i, newSide := range []func(*testing.B) processor.Metrics{ottl, phoenix} {
		s := &side{}
		s.p, s.next, dps = warm(b, newSide, source)
		sides[i] = s
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b.ResetTimer()
	for n := range b.N {
		for k := range 2 {
			s := sides[(n+k)%2]
			runtime.GC()
			md := s.next()
			c0 := ThreadCPU()
			if err := s.p.ConsumeMetrics(ctx, md); err != nil {
				b.Fatal(err)
			}
			s.cpu += ThreadCPU() - c0
		}
	}
	b.StopTimer()
	points := float64(b.N) * float64(dps)
	o, p := float64(sides[0].cpu.Nanoseconds())/points, float64(sides[1].cpu.Nanoseconds())/points
	b.ReportMetric(o, "ottl-cpu-ns/dp")
	b.ReportMetric(p, "phoenix-cpu-ns/dp")
	if p > 0 {
		b.ReportMetric(o/p, "x-faster-cpu")
	}
}
