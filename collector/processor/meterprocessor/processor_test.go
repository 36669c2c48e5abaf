package meterprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
	"github.com/phoenix/platform/collector/measure"
)

const ts = pcommon.Timestamp(1_700_000_060_000_000_000)

func TestPipelineFigures(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	var dropPostgres atomic.Bool
	dropPostgres.Store(true)
	chain := chainProcessor(t, func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		names := []string{"worker-7"}
		if dropPostgres.Load() {
			names = append(names, "postgres")
		}
		return dropNames(names...)(ctx, md)
	})
	sink := new(consumertest.MetricsSink)
	p := newPair(t, newFactory(reg, time.Now), "42", "candidate", chain, sink)

	// 20 processes: nginx, postgres, java, redis, kubelet, worker-5..worker-19.
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 20), ts))
	require.Len(t, sink.AllMetrics(), 1)
	sent := sink.AllMetrics()[0]
	require.Equal(t, 18*7, sent.DataPointCount())
	wantBytes := (&pmetric.ProtoMarshaler{}).MetricsSize(sent)

	fs := figures(t, reg)
	k := func(name string, extra ...string) string { return key(name, "host-a", "42", "candidate", extra...) }
	require.Equal(t, 140.0, fs[k(MetricInputSeries)], dumpFigures(fs))
	require.Equal(t, 20.0, fs[k(MetricInputProcesses)])
	require.Equal(t, 140.0, fs[k(MetricInputDatapoints)])
	require.Equal(t, 126.0, fs[k(MetricOutputSeries)])
	require.Equal(t, 126.0, fs[k(MetricOutputDatapoints)])
	require.Equal(t, float64(wantBytes), fs[k(MetricOutputBytes)])
	require.Equal(t, 3.0, fs[k(MetricCriticalExpected)])
	require.Equal(t, 2.0, fs[k(MetricCriticalRetained)])
	require.Equal(t, map[string]float64{k(MetricCriticalMissing, "process", "postgres"): 1}, withPrefix(fs, MetricCriticalMissing))
	require.Contains(t, fs, k(MetricProcessingSeconds))
	require.GreaterOrEqual(t, fs[k(MetricProcessingSeconds)], 0.0)
	// The figures carry exactly host, experiment and variant (plus process).
	require.Len(t, fs, 10, dumpFigures(fs))

	// Next scrape: postgres survives again; its missing series goes away.
	dropPostgres.Store(false)
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 20), ts+1e10))
	sent2 := sink.AllMetrics()[1]
	fs = figures(t, reg)
	require.Equal(t, 140.0, fs[k(MetricInputSeries)], "same series, seen again")
	require.Equal(t, 280.0, fs[k(MetricInputDatapoints)])
	require.Equal(t, 133.0, fs[k(MetricOutputSeries)], "postgres's 7 series join")
	require.Equal(t, 126.0+133.0, fs[k(MetricOutputDatapoints)])
	require.Equal(t, float64(wantBytes+(&pmetric.ProtoMarshaler{}).MetricsSize(sent2)), fs[k(MetricOutputBytes)])
	require.Equal(t, 3.0, fs[k(MetricCriticalExpected)])
	require.Equal(t, 3.0, fs[k(MetricCriticalRetained)])
	require.Empty(t, withPrefix(fs, MetricCriticalMissing))
}

func TestHostLabelFromResourceOrConfig(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sink := new(consumertest.MetricsSink)
	p := newPair(t, newFactory(reg, time.Now), "", "active", nil, sink)

	md := proctest.Metrics(proctest.Processes("host-b", 3), ts)
	proctest.AppendProcess(md, proctest.Processes("", 2)[1], ts) // postgres without host.name
	p.consume(t, md)

	fs := figures(t, reg)
	require.Equal(t, 21.0, fs[key(MetricInputSeries, "host-b", "", "active")], dumpFigures(fs))
	require.Equal(t, 7.0, fs[key(MetricInputSeries, "cfg-host", "", "active")])
	require.Equal(t, 3.0, fs[key(MetricInputProcesses, "host-b", "", "active")])
	require.Equal(t, 1.0, fs[key(MetricInputProcesses, "cfg-host", "", "active")])
	require.Equal(t, 3.0, fs[key(MetricCriticalExpected, "host-b", "", "active")])
	require.Equal(t, 3.0, fs[key(MetricCriticalRetained, "host-b", "", "active")])
	require.Equal(t, 1.0, fs[key(MetricCriticalExpected, "cfg-host", "", "active")])
	require.Equal(t, 1.0, fs[key(MetricCriticalRetained, "cfg-host", "", "active")])
	// Bytes of both hosts add up to the size of what was sent.
	got := fs[key(MetricOutputBytes, "host-b", "", "active")] + fs[key(MetricOutputBytes, "cfg-host", "", "active")]
	require.Equal(t, float64((&pmetric.ProtoMarshaler{}).MetricsSize(sink.AllMetrics()[0])), got)
	// Processing time is shared by data points, both hosts get a figure.
	require.Contains(t, fs, key(MetricProcessingSeconds, "host-b", "", "active"))
	require.Contains(t, fs, key(MetricProcessingSeconds, "cfg-host", "", "active"))
}

func TestPipelineDropsEverything(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sink := new(consumertest.MetricsSink)
	chain := chainProcessor(t, func(context.Context, pmetric.Metrics) (pmetric.Metrics, error) {
		return pmetric.Metrics{}, processorhelper.ErrSkipProcessingData
	})
	p := newPair(t, newFactory(reg, time.Now), "7", "candidate", chain, sink)
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 10), ts))
	require.Empty(t, sink.AllMetrics())

	fs := figures(t, reg)
	k := func(name string, extra ...string) string { return key(name, "host-a", "7", "candidate", extra...) }
	require.Equal(t, 3.0, fs[k(MetricCriticalExpected)])
	require.Equal(t, 0.0, fs[k(MetricCriticalRetained)])
	require.Contains(t, fs, k(MetricCriticalRetained))
	require.Equal(t, map[string]float64{
		k(MetricCriticalMissing, "process", "nginx"):    1,
		k(MetricCriticalMissing, "process", "postgres"): 1,
		k(MetricCriticalMissing, "process", "java"):     1,
	}, withPrefix(fs, MetricCriticalMissing))
	// Nothing was sent: the output counters of the host read 0.
	require.Equal(t, map[string]float64{k(MetricOutputDatapoints): 0}, withPrefix(fs, MetricOutputDatapoints))
	require.Equal(t, map[string]float64{k(MetricOutputBytes): 0}, withPrefix(fs, MetricOutputBytes))
	require.Empty(t, withPrefix(fs, MetricOutputSeries))
	require.Equal(t, 70.0, fs[k(MetricInputDatapoints)])
}

func TestProcessingTimeExcludesExporter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	const work, export = 20 * time.Millisecond, 300 * time.Millisecond
	chain := chainProcessor(t, func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		time.Sleep(work)
		return md, nil
	})
	sink := &slowSink{delay: export}
	p := newPair(t, newFactory(reg, time.Now), "1", "baseline", chain, sink)
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 5), ts))

	got := figures(t, reg)[key(MetricProcessingSeconds, "host-a", "1", "baseline")]
	require.GreaterOrEqual(t, got, work.Seconds())
	require.Less(t, got, export.Seconds(), "the exporter's time is left out")
}

func TestCriticalIdentity(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ps := proctest.Processes("host-a", 5)
	second := ps[0] // another nginx process
	second.PID = 4242
	// The chain drops the second nginx and rewrites the pid of the others as
	// a string: a process is matched by pid value and executable name.
	chain := chainProcessor(t, func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			pid, _ := proc.PID(rm.Resource())
			return pid == 4242
		})
		for _, rm := range md.ResourceMetrics().All() {
			if pid, ok := proc.PID(rm.Resource()); ok {
				rm.Resource().Attributes().PutStr(proc.AttrPID, fmt.Sprint(pid))
			}
		}
		return md, nil
	})
	p := newPair(t, newFactory(reg, time.Now), "9", "candidate", chain, consumertest.NewNop())
	md := proctest.Metrics(ps, ts)
	proctest.AppendProcess(md, second, ts)
	p.consume(t, md)

	fs := figures(t, reg)
	k := func(name string, extra ...string) string { return key(name, "host-a", "9", "candidate", extra...) }
	require.Equal(t, 4.0, fs[k(MetricCriticalExpected)], dumpFigures(fs))
	require.Equal(t, 3.0, fs[k(MetricCriticalRetained)])
	require.Equal(t, map[string]float64{k(MetricCriticalMissing, "process", "nginx"): 1}, withPrefix(fs, MetricCriticalMissing))
}

func TestSeveralOutputCallsPerInputCall(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	// The chain forwards each resource as its own call.
	split := func(next consumer.Metrics) consumer.Metrics {
		c, err := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
			for _, rm := range md.ResourceMetrics().All() {
				one := pmetric.NewMetrics()
				rm.CopyTo(one.ResourceMetrics().AppendEmpty())
				if err := next.ConsumeMetrics(ctx, one); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err)
		return c
	}
	sink := new(consumertest.MetricsSink)
	p := newPair(t, newFactory(reg, time.Now), "3", "candidate", split, sink)
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 6), ts))
	require.Len(t, sink.AllMetrics(), 6)

	fs := figures(t, reg)
	k := func(name string) string { return key(name, "host-a", "3", "candidate") }
	require.Equal(t, 3.0, fs[k(MetricCriticalRetained)])
	require.Equal(t, 42.0, fs[k(MetricOutputDatapoints)])
	var bytes int
	for _, md := range sink.AllMetrics() {
		bytes += (&pmetric.ProtoMarshaler{}).MetricsSize(md)
	}
	require.Equal(t, float64(bytes), fs[k(MetricOutputBytes)])
}

// markCall tags a batch so the chain can tell concurrent calls apart.
func markCall(md pmetric.Metrics, call string) pmetric.Metrics {
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("test.call", call)
	return md
}

func isCall(md pmetric.Metrics, call string) bool {
	v, ok := md.ResourceMetrics().At(0).Resource().Attributes().Get("test.call")
	return ok && v.Str() == call
}

func TestPairingIsPerCall(t *testing.T) {
	t.Parallel()
	for _, slowDrops := range []bool{true, false} {
		t.Run(fmt.Sprintf("slow call drops postgres=%v", slowDrops), func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			entered, release := make(chan struct{}), make(chan struct{})
			chain := chainProcessor(t, func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
				if !isCall(md, "slow") {
					if !slowDrops {
						return dropNames("postgres")(ctx, md)
					}
					return md, nil
				}
				close(entered)
				<-release
				if slowDrops {
					return dropNames("postgres")(ctx, md)
				}
				return md, nil
			})
			p := newPair(t, newFactory(reg, time.Now), "5", "candidate", chain, consumertest.NewNop())

			var wg sync.WaitGroup
			wg.Go(func() { p.consume(t, markCall(proctest.Metrics(proctest.Processes("host-a", 5), ts), "slow")) })
			<-entered
			// A whole call runs while the slow one is inside the pipeline.
			p.consume(t, markCall(proctest.Metrics(proctest.Processes("host-a", 5), ts), "fast"))
			fs := figures(t, reg)
			k := func(name string) string { return key(name, "host-a", "5", "candidate") }
			if slowDrops {
				require.Equal(t, 3.0, fs[k(MetricCriticalRetained)])
			} else {
				require.Equal(t, 2.0, fs[k(MetricCriticalRetained)])
			}
			close(release)
			wg.Wait()

			// The slow call finished last: the gauges describe exactly it.
			fs = figures(t, reg)
			missing := withPrefix(fs, MetricCriticalMissing)
			if slowDrops {
				require.Equal(t, 2.0, fs[k(MetricCriticalRetained)])
				require.Len(t, missing, 1)
			} else {
				require.Equal(t, 3.0, fs[k(MetricCriticalRetained)])
				require.Empty(t, missing)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	chain := chainProcessor(t, func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		return dropNames("postgres")(ctx, md)
	})
	sink := new(consumertest.MetricsSink)
	p := newPair(t, newFactory(reg, time.Now), "11", "candidate", chain, sink)

	const goroutines, calls, procs = 8, 25, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range calls {
				host := fmt.Sprintf("host-%d", g)
				require.NoError(t, p.in.ConsumeMetrics(context.Background(), proctest.Metrics(proctest.Processes(host, procs), ts)))
			}
		})
	}
	// Scrapes run while the calls are in flight.
	wg.Go(func() {
		for range 20 {
			_, err := reg.Gather()
			require.NoError(t, err)
		}
	})
	wg.Wait()

	fs := figures(t, reg)
	for g := range goroutines {
		k := func(name string) string { return key(name, fmt.Sprintf("host-%d", g), "11", "candidate") }
		require.Equal(t, float64(calls*procs*7), fs[k(MetricInputDatapoints)])
		require.Equal(t, float64(calls*(procs-1)*7), fs[k(MetricOutputDatapoints)])
		require.Equal(t, float64(procs*7), fs[k(MetricInputSeries)])
		require.Equal(t, float64((procs-1)*7), fs[k(MetricOutputSeries)])
		require.Equal(t, 3.0, fs[k(MetricCriticalExpected)])
		require.Equal(t, 2.0, fs[k(MetricCriticalRetained)])
		require.Equal(t, 1.0, fs[key(MetricCriticalMissing, fmt.Sprintf("host-%d", g), "11", "candidate", "process", "postgres")])
	}
	require.Len(t, sink.AllMetrics(), goroutines*calls)
}

func TestRestartContinuesCounters(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	clock := newFakeClock()
	k := func(name string) string { return key(name, "host-a", "42", "candidate") }
	batch := func() pmetric.Metrics { return proctest.Metrics(proctest.Processes("host-a", 10), ts) }

	first := newPair(t, newFactory(reg, clock.Now), "42", "candidate", nil, consumertest.NewNop())
	first.consume(t, batch())
	fs := figures(t, reg)
	require.Equal(t, 70.0, fs[k(MetricInputDatapoints)])
	bytes := fs[k(MetricOutputBytes)]
	require.Positive(t, bytes)

	first.shutdown(t)
	fs = figures(t, reg)
	require.Empty(t, fs, "nothing is reported without a live instance: %s", dumpFigures(fs))

	// The restarted collector builds its factories anew against the same registry.
	second := newPair(t, NewFactoryWithRegisterer(reg), "42", "candidate", nil, consumertest.NewNop())
	// A second variant runs beside it.
	other := newPair(t, NewFactoryWithRegisterer(reg), "42", "baseline", nil, consumertest.NewNop())
	second.consume(t, batch())
	other.consume(t, batch())
	fs = figures(t, reg)
	require.Equal(t, 140.0, fs[k(MetricInputDatapoints)])
	require.Equal(t, 140.0, fs[k(MetricOutputDatapoints)])
	require.Equal(t, 2*bytes, fs[k(MetricOutputBytes)])
	require.Equal(t, 70.0, fs[k(MetricInputSeries)])
	require.Equal(t, 70.0, fs[key(MetricInputDatapoints, "host-a", "42", "baseline")])

	// An overlapping instance with the same identity does not break a scrape;
	// the newest one reports the gauges.
	third := newPair(t, NewFactoryWithRegisterer(reg), "42", "candidate", nil, consumertest.NewNop())
	third.consume(t, proctest.Metrics(proctest.Processes("host-a", 3), ts))
	fs = figures(t, reg)
	require.Equal(t, 21.0, fs[k(MetricInputSeries)])
	require.Equal(t, 161.0, fs[k(MetricInputDatapoints)])
}

func TestSeriesExpireAfterActiveWindow(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	clock := newFakeClock()
	p := newPair(t, newFactory(reg, clock.Now), "", "active", nil, consumertest.NewNop())
	k := func(name string) string { return key(name, "host-a", "", "active") }
	ps := proctest.Processes("host-a", 10)

	p.consume(t, proctest.Metrics(ps, ts))
	require.Equal(t, 70.0, figures(t, reg)[k(MetricInputSeries)])
	clock.Advance(30 * time.Second)
	p.consume(t, proctest.Metrics(ps[:5], ts))
	require.Equal(t, 70.0, figures(t, reg)[k(MetricInputSeries)])
	require.Equal(t, 70.0, figures(t, reg)[k(MetricOutputSeries)])

	clock.Advance(31 * time.Second) // the first scrape is 61s old
	fs := figures(t, reg)
	require.Equal(t, 35.0, fs[k(MetricInputSeries)])
	require.Equal(t, 35.0, fs[k(MetricOutputSeries)])

	clock.Advance(30 * time.Second) // nothing seen for 60s: the host goes
	fs = figures(t, reg)
	require.NotContains(t, fs, k(MetricInputSeries))
	require.NotContains(t, fs, k(MetricOutputSeries))
	require.NotContains(t, fs, k(MetricCriticalExpected))
	require.Equal(t, 105.0, fs[k(MetricInputDatapoints)], "counters stay")

	// Expiry also happens on the hot path without scrapes.
	p.consume(t, proctest.Metrics(ps[:1], ts))
	clock.Advance(2 * time.Minute)
	p.consume(t, proctest.Metrics(ps[1:2], ts))
	require.Equal(t, 7.0, figures(t, reg)[k(MetricInputSeries)])
}

func TestOutputStageAlone(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f := newFactory(reg, time.Now)
	sink := new(consumertest.MetricsSink)
	out, err := f.CreateMetrics(context.Background(), settings("alone"),
		&Config{Stage: StageOutput, Variant: "active", Host: "cfg-host", ActiveWindow: time.Minute}, sink)
	require.NoError(t, err)
	require.NoError(t, out.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, out.Shutdown(context.Background())) }()

	md := proctest.Metrics(proctest.Processes("host-a", 4), ts)
	size := (&pmetric.ProtoMarshaler{}).MetricsSize(md)
	require.NoError(t, out.ConsumeMetrics(context.Background(), md))
	fs := figures(t, reg)
	require.Equal(t, map[string]float64{
		key(MetricOutputSeries, "host-a", "", "active"):     28,
		key(MetricOutputDatapoints, "host-a", "", "active"): 28,
		key(MetricOutputBytes, "host-a", "", "active"):      float64(size),
	}, fs)
}

func TestBadInputNeverPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sink := new(consumertest.MetricsSink)
	p := newPair(t, newFactory(reg, time.Now), "13", "candidate", nil, sink)

	gauge := func(ms pmetric.MetricSlice, name string) pmetric.NumberDataPoint {
		m := ms.AppendEmpty()
		m.SetName(name)
		return m.SetEmptyGauge().DataPoints().AppendEmpty()
	}
	tests := []struct {
		name  string
		build func(md pmetric.Metrics)
	}{
		{"empty metrics", func(pmetric.Metrics) {}},
		{"empty resource", func(md pmetric.Metrics) { md.ResourceMetrics().AppendEmpty() }},
		{"empty scope", func(md pmetric.Metrics) { md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty() }},
		{"metric without type", func(md pmetric.Metrics) {
			md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("x")
		}},
		{"resource without attributes", func(md pmetric.Metrics) {
			gauge(md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics(), "g").SetIntValue(1)
		}},
		{"pid as string and int executable", func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr(proc.AttrPID, "12x")
			rm.Resource().Attributes().PutInt(proc.AttrExecutableName, 5)
			rm.Resource().Attributes().PutInt(proc.AttrOwner, 0)
			gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "process.memory.usage").SetIntValue(1)
		}},
		{"critical name with bool pid and int host", func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutBool(proc.AttrPID, true)
			rm.Resource().Attributes().PutStr(proc.AttrExecutableName, "nginx")
			rm.Resource().Attributes().PutInt(proc.AttrHostName, 7)
			gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "process.memory.usage").SetIntValue(1)
		}},
		{"invalid utf-8 host and name", func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr(proc.AttrHostName, "h\xff")
			rm.Resource().Attributes().PutStr(proc.AttrExecutableName, "java")
			gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g\xfe").SetDoubleValue(1)
		}},
		{"system cpu metrics", func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("system.cpu.time")
			for _, st := range []string{"user", "system", "idle"} {
				dp := m.SetEmptySum().DataPoints().AppendEmpty()
				dp.Attributes().PutStr("state", st)
				dp.Attributes().PutStr("cpu", "cpu0")
			}
		}},
		{"histogram, exponential histogram, summary", func(md pmetric.Metrics) {
			ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
			h := ms.AppendEmpty()
			h.SetName("h")
			h.SetEmptyHistogram().DataPoints().AppendEmpty().BucketCounts().FromRaw([]uint64{1, 2})
			e := ms.AppendEmpty()
			e.SetName("e")
			e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetScale(3)
			s := ms.AppendEmpty()
			s.SetName("s")
			s.SetEmptySummary().DataPoints().AppendEmpty().SetCount(3)
		}},
		{"nested attribute values", func(md pmetric.Metrics) {
			rm := md.ResourceMetrics().AppendEmpty()
			attrs := rm.Resource().Attributes()
			inner := attrs.PutEmptyMap("m")
			for range 40 { // deeper than the hash recursion bound
				inner = inner.PutEmptyMap("m")
			}
			inner.PutEmptySlice("s").AppendEmpty().SetEmptyBytes().FromRaw([]byte{1, 2})
			attrs.PutEmptySlice("s").AppendEmpty().SetDouble(1.5)
			attrs.PutEmptyBytes("b").FromRaw([]byte("x"))
			attrs.PutEmpty("empty")
			dp := gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g")
			dp.Attributes().PutEmptyMap("nested").PutBool("b", false)
		}},
	}
	var want int
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			tt.build(md)
			want += md.DataPointCount()
			require.NotPanics(t, func() { p.consume(t, md) })
		})
	}
	fs := figures(t, reg)
	var in, out float64
	for _, v := range withPrefix(fs, MetricInputDatapoints) {
		in += v
	}
	for _, v := range withPrefix(fs, MetricOutputDatapoints) {
		out += v
	}
	require.Equal(t, float64(want), in, dumpFigures(fs))
	require.Equal(t, float64(want), out)
	require.Contains(t, fs, key(MetricInputDatapoints, "h\uFFFD", "13", "candidate"))
	require.Contains(t, fs, key(MetricInputDatapoints, "7", "13", "candidate"))
}

func TestRegistrationConflict(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricInputSeries, Help: "someone else"}))
	f := NewFactoryWithRegisterer(reg)
	_, err := f.CreateMetrics(context.Background(), settings("x"),
		&Config{Stage: StageInput, Variant: "active", ActiveWindow: time.Minute}, consumertest.NewNop())
	require.ErrorContains(t, err, "register phoenix_meter measurements")
}

func TestCreateRejectsBadConfig(t *testing.T) {
	t.Parallel()
	f := NewFactoryWithRegisterer(nil)
	p, err := f.CreateMetrics(context.Background(), settings("x"),
		&Config{Stage: StageInput, Variant: "active", ActiveWindow: time.Minute, CriticalExecutables: []string{"("}}, consumertest.NewNop())
	require.ErrorContains(t, err, "critical_executables[0]: invalid regexp")
	require.Nil(t, p)
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	f := NewFactoryWithRegisterer(nil)
	require.Equal(t, TypeStr, f.Type().String())
	p, err := f.CreateMetrics(context.Background(), settings("x"),
		&Config{Stage: StageOutput, Variant: "active", ActiveWindow: time.Minute}, consumertest.NewNop())
	require.NoError(t, err)
	require.False(t, p.Capabilities().MutatesData)
	// Shutdown without Start, twice.
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestErrorsOfTheExporterPassThrough(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	boom := errors.New("boom")
	p := newPair(t, newFactory(reg, time.Now), "", "active", nil, consumertest.NewErr(boom))
	err := p.in.ConsumeMetrics(context.Background(), proctest.Metrics(proctest.Processes("host-a", 5), ts))
	require.ErrorIs(t, err, boom)
	fs := figures(t, reg)
	require.Equal(t, 3.0, fs[key(MetricCriticalRetained, "host-a", "", "active")])
}

func TestDefaultFactoryPublishesToMeasureDefault(t *testing.T) {
	t.Parallel()
	// Components() may be called once per collector start: factories share
	// the collector of the registry.
	// The registry is process-wide and counters continue across instances
	// (and across -count runs), so the test compares before and after.
	f1, f2 := NewFactory(), NewFactory()
	p := newPair(t, f1, "default-test", "candidate", nil, consumertest.NewNop())
	q := newPair(t, f2, "default-test", "baseline", nil, consumertest.NewNop())
	before := figures(t, measure.Default())
	p.consume(t, proctest.Metrics(proctest.Processes("host-a", 2), ts))
	q.consume(t, proctest.Metrics(proctest.Processes("host-a", 2), ts))
	after := figures(t, measure.Default())
	for _, variant := range []string{"candidate", "baseline"} {
		k := key(MetricInputDatapoints, "host-a", "default-test", variant)
		require.Equal(t, 14.0, after[k]-before[k])
	}
}

func TestFactoriesShareTheCollectorOfAWrappedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	wrapped := func() prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"agent": "a1"}, reg)
	}
	first := newPair(t, NewFactoryWithRegisterer(wrapped()), "", "active", nil, consumertest.NewNop())
	first.consume(t, proctest.Metrics(proctest.Processes("host-a", 1), ts))
	first.shutdown(t)
	second := newPair(t, NewFactoryWithRegisterer(wrapped()), "", "active", nil, consumertest.NewNop())
	second.consume(t, proctest.Metrics(proctest.Processes("host-a", 1), ts))
	fs := figures(t, reg)
	require.Equal(t, 14.0, fs["phoenix_pipeline_input_datapoints_total{agent=a1,experiment=,host=host-a,variant=active}"], dumpFigures(fs))
}
