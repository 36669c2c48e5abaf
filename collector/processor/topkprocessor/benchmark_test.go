package topkprocessor

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/benchside"
	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

// scrapes renders successive scrapes of one host's 1,000 processes,
// interval apart: process i uses (i % 97) / 100 cores, and the processes
// named in proctest.CriticalNames carry phoenix.priority critical (the rest
// low), as phoenix_priority would have written.
type scrapes struct {
	ps    []proctest.Process
	round int
}

func newScrapes(n int) *scrapes {
	return &scrapes{ps: proctest.Processes("host-a", n)}
}

func (s *scrapes) next() pmetric.Metrics {
	ts := firstScrape + pcommon.Timestamp(s.round)*pcommon.Timestamp(interval)
	if s.round > 0 {
		for i := range s.ps {
			s.ps[i].CPUSeconds += float64(i%97) / 100 * interval.Seconds()
		}
	}
	s.round++
	md := proctest.Metrics(s.ps, ts)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		pr := "low"
		if i < len(proctest.CriticalNames) {
			pr = "critical"
		}
		rms.At(i).Resource().Attributes().PutStr(proc.AttrPriority, pr)
	}
	return md
}

// filterConfig is the closest stock equivalent of phoenix_topk's drop: a
// filter processor dropping every resource whose process.pid is not in a
// keep list. OTTL cannot rank, so the list has to be computed elsewhere (here
// by phoenix_topk itself); the filter side does only the drop, without the
// ranking, the CPU deltas, the hysteresis or the per-host state. The pids
// identify exactly the processes phoenix_topk keeps, so both sides send the
// same output.
func filterConfig(tb testing.TB, keep []int64) *filterprocessor.Config {
	tb.Helper()
	items := make([]string, len(keep))
	for i, pid := range keep {
		items[i] = fmt.Sprint(pid)
	}
	cond := fmt.Sprintf(`resource.attributes["process.pid"] != nil and not ContainsValue([%s], resource.attributes["process.pid"])`,
		strings.Join(items, ", "))
	cfg := filterprocessor.NewFactory().CreateDefaultConfig().(*filterprocessor.Config)
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"error_mode": "ignore",
		"metric_conditions": []any{map[string]any{
			"context":    "resource",
			"conditions": []any{cond},
		}},
	}).Unmarshal(cfg))
	require.NoError(tb, confmap.Validate(cfg))
	return cfg
}

func newFilter(tb testing.TB, keep []int64, next consumer.Metrics) processor.Metrics {
	tb.Helper()
	f := filterprocessor.NewFactory()
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), filterConfig(tb, keep), next)
	require.NoError(tb, err)
	return p
}

// warmKeepList runs phoenix_topk with the default config over two scrapes
// and returns the pids it keeps in the steady state.
func warmKeepList(t testing.TB, s *scrapes) []int64 {
	p, err := newTopK(createDefaultConfig().(*Config))
	require.NoError(t, err)
	var out pmetric.Metrics
	for range 2 {
		out, err = p.processMetrics(context.Background(), s.next())
		require.NoError(t, err)
	}
	var keep []int64
	rms := out.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		pid, _ := proc.PID(rms.At(i).Resource())
		keep = append(keep, pid)
	}
	slices.Sort(keep)
	return keep
}

// TestFilterEquivalent proves that the filter used as the benchmark's
// comparison sends the same resources as phoenix_topk in the steady state.
func TestFilterEquivalent(t *testing.T) {
	s := newScrapes(1000)
	keep := warmKeepList(t, s)
	require.Len(t, keep, 25, "20 by CPU and 5 criticals")

	md := s.next()
	p, err := newTopK(createDefaultConfig().(*Config))
	require.NoError(t, err)
	// The phoenix side needs one earlier scrape for deltas.
	s2 := newScrapes(1000)
	_, err = p.processMetrics(context.Background(), s2.next())
	require.NoError(t, err)
	_, err = p.processMetrics(context.Background(), s2.next())
	require.NoError(t, err)
	want, err := p.processMetrics(context.Background(), s2.next())
	require.NoError(t, err)

	sink := new(consumertest.MetricsSink)
	fp := newFilter(t, keep, sink)
	require.NoError(t, fp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, fp.ConsumeMetrics(context.Background(), md))
	require.NoError(t, fp.Shutdown(context.Background()))
	got := sink.AllMetrics()[0]
	require.Equal(t, want, got)
}

// BenchmarkProcess ranks and filters one scrape of 1,000 processes (7,000
// data points) per operation, in the steady state (every process has a
// previous CPU reading), with phoenix_topk's default config (k = 20 by CPU,
// criticals always kept, drop), against the stock filter processor dropping
// the same resources by a precomputed pid keep list. OTTL cannot rank, so the
// filter side does only the drop: the comparison flatters it. Both are built
// through their factories and driven through ConsumeMetrics into a nop
// consumer; see benchside.Compare for what is measured.
func BenchmarkProcess(b *testing.B) {
	ctx := context.Background()
	keep := warmKeepList(b, newScrapes(1000))
	benchside.Compare(b, Type,
		func(b *testing.B) processor.Metrics {
			return newFilter(b, keep, consumertest.NewNop())
		},
		func(b *testing.B) processor.Metrics {
			f := NewFactory()
			p, err := f.CreateMetrics(ctx, processortest.NewNopSettings(Type), f.CreateDefaultConfig(), consumertest.NewNop())
			require.NoError(b, err)
			return p
		},
		func() func() pmetric.Metrics { return newScrapes(1000).next })
}

// BenchmarkReadInputs reads what phoenix_topk ranks by, and nothing else,
// from the same batches as BenchmarkProcess: each process resource's
// identity attributes and its process.cpu.time points. It is the floor of
// the processor's cost on a batch fresh from a receiver, set by pdata's
// layout (a pointer per resource, scope, metric, point and attribute
// value), and it reports the same per data point figures.
func BenchmarkReadInputs(b *testing.B) {
	p, err := newTopK(createDefaultConfig().(*Config))
	require.NoError(b, err)
	next := newScrapes(1000).next
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var cpu time.Duration
	dps := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		md := next()
		dps = md.DataPointCount()
		b.StartTimer()
		c0 := benchside.ThreadCPU()
		rms := md.ResourceMetrics()
		p.entries = slices.Grow(p.entries[:0], rms.Len())[:rms.Len()]
		for i := range p.entries {
			p.readIdentity(rms.At(i).Resource(), &p.entries[i])
		}
		for i := range p.entries {
			p.entries[i].res = int32(i)
		}
		readCPU(rms, p.entries)
		cpu += benchside.ThreadCPU() - c0
	}
	b.StopTimer()
	points := float64(b.N) * float64(dps)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/points, "ns/dp")
	b.ReportMetric(float64(cpu.Nanoseconds())/points, "cpu-ns/dp")
}
