package meterprocessor

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/internal/proctest"
)

// The meter has no equivalent in stock filter/transform (OTTL)
// configuration: nothing in OTTL counts series, sizes the payload or pairs
// two points of a pipeline. The benchmarks therefore report the meter alone,
// one stage at a time, on a realistic hostmetrics batch (1,000 processes x 7
// data points). The meter does not mutate its input, so the batch is reused
// across iterations without cloning.

func benchBatch() pmetric.Metrics {
	return proctest.Metrics(proctest.Processes("host-a", 1000), pcommon.Timestamp(time.Now().UnixNano()))
}

func benchStage(b *testing.B, stage Stage) processor.Metrics {
	b.Helper()
	cfg := &Config{Stage: stage, Experiment: "42", Variant: "candidate", Host: "h", ActiveWindow: time.Minute, CriticalExecutables: criticalRegexps}
	p, err := NewFactoryWithRegisterer(nil).CreateMetrics(context.Background(), settings("bench"), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, p.Shutdown(context.Background())) })
	return p
}

// cpuTime is the CPU time the process has used. The benchmarks report it
// next to wall time because the machines they run on are shared: CPU time
// per data point does not grow while the benchmark waits for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run times consume over b.N calls and reports ns/dp, dp/s and cpu-ns/dp.
func run(b *testing.B, dps int, consume func() error) {
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if err := consume(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns/float64(dps), "ns/dp")
	b.ReportMetric(float64(dps)*1e9/ns, "dp/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(dps), "cpu-ns/dp")
}

func BenchmarkMeter(b *testing.B) {
	built := benchBatch()
	// The same batch after an OTLP round trip: every string has its own
	// copy, as in data received over the network, so the hasher's cache of
	// shared strings does not help.
	decoded, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(marshal(b, built))
	require.NoError(b, err)
	dps := built.DataPointCount()

	for _, batch := range []struct {
		name string
		md   pmetric.Metrics
	}{{"", built}, {"-decoded", decoded}} {
		md := batch.md
		b.Run("input"+batch.name, func(b *testing.B) {
			p := benchStage(b, StageInput)
			ctx := context.Background()
			run(b, dps, func() error { return p.ConsumeMetrics(ctx, md) })
		})

		b.Run("output"+batch.name, func(b *testing.B) {
			p := benchStage(b, StageOutput)
			// Paired as in a pipeline: the input stage's state is in the context.
			st := &callState{expected: map[procKey]struct{}{
				{host: "host-a", pid: 1000, name: "nginx"}:    {},
				{host: "host-a", pid: 1001, name: "postgres"}: {},
				{host: "host-a", pid: 1002, name: "java"}:     {},
			}, names: map[uint64]struct{}{hashString("nginx"): {}, hashString("postgres"): {}, hashString("java"): {}}}
			ctx := context.WithValue(context.Background(), ctxKey(identity{experiment: "42", variant: "candidate"}), st)
			run(b, dps, func() error { return p.ConsumeMetrics(ctx, md) })
		})
	}

	b.Run("output-unpaired", func(b *testing.B) {
		p := benchStage(b, StageOutput)
		ctx := context.Background()
		run(b, dps, func() error { return p.ConsumeMetrics(ctx, built) })
	})

	// The floor of the output stage: the byte estimate the measurement
	// contract prescribes, ProtoMarshaler.MetricsSize, on its own.
	b.Run("proto-size-only", func(b *testing.B) {
		var sizer pmetric.ProtoMarshaler
		run(b, dps, func() error {
			if sizer.MetricsSize(built) == 0 {
				return errors.New("empty batch")
			}
			return nil
		})
	})
}
