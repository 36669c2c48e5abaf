package adaptiveprocessor

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

// t0 is the timestamp of the first scrape in tests.
const t0 = pcommon.Timestamp(1_700_000_600_000_000_000)

// scrapeAt returns the timestamp of the i-th scrape, 10 s apart.
func scrapeAt(i int) pcommon.Timestamp {
	return t0 + pcommon.Timestamp(i)*pcommon.Timestamp(10*time.Second)
}

// prioritize sets phoenix.priority like phoenix_priority would: the
// proctest critical names are critical, every 10th other process is medium,
// the rest low.
func prioritize(md pmetric.Metrics) pmetric.Metrics {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		if !proc.IsProcess(res) {
			continue
		}
		pri := proc.Low
		name := proc.Str(res, proc.AttrExecutableName)
		pid, _ := proc.PID(res)
		switch {
		case isCritical(name):
			pri = proc.Critical
		case pid%10 == 0:
			pri = proc.Medium
		}
		res.Attributes().PutStr(proc.AttrPriority, pri.String())
	}
	return md
}

func isCritical(name string) bool {
	for _, c := range proctest.CriticalNames {
		if c == name {
			return true
		}
	}
	return false
}

// hostBatch renders n prioritized proctest processes of host at scrape i.
func hostBatch(host string, n, i int) pmetric.Metrics {
	return prioritize(proctest.Metrics(proctest.Processes(host, n), scrapeAt(i)))
}

// merge appends the resources of every batch to one.
func merge(batches ...pmetric.Metrics) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, b := range batches {
		b.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	return md
}

// newTestProcessor builds a processor through the factory, publishing in reg
// (nil for none), started, and stopped at the end of the test.
func newTestProcessor(t *testing.T, cfg *Config, reg prometheus.Registerer, name string) (processor.Metrics, *consumertest.MetricsSink) {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	f := NewFactoryWithRegisterer(reg)
	set := processortest.NewNopSettings(Type)
	set.ID = component.NewIDWithName(Type, name)
	p, err := f.CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink
}

// fakeClock is a settable clock for state_ttl tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newDirectProcessor builds the processor itself, with a fake clock.
func newDirectProcessor(t *testing.T, cfg *Config) (*adaptiveProcessor, *fakeClock) {
	t.Helper()
	p, err := newProcessor(component.NewID(Type), cfg, nil)
	require.NoError(t, err)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	p.now = clk.now
	p.lastSweep = clk.t
	return p, clk
}

// run pushes md through the processor and returns the output.
func run(t *testing.T, p *adaptiveProcessor, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// modeOf returns the current mode name of host.
func modeOf(p *adaptiveProcessor, host string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	hs, ok := p.hosts[host]
	if !ok {
		return ""
	}
	return p.modes[hs.mode].name
}

// keptPIDs returns the sorted pids of the process resources in md and checks
// that each carries the mode attribute.
func keptPIDs(t *testing.T, md pmetric.Metrics, wantMode string) []int64 {
	t.Helper()
	var pids []int64
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		if !proc.IsProcess(res) {
			continue
		}
		pid, _ := proc.PID(res)
		pids = append(pids, pid)
		if wantMode != "" {
			require.Equal(t, wantMode, proc.Str(res, AttrMode), "pid %d", pid)
		}
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	return pids
}

// countProcesses returns the number of process resources of host in md.
func countProcesses(md pmetric.Metrics, host string) int {
	n := 0
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		if proc.IsProcess(res) && proc.Host(res) == host {
			n++
		}
	}
	return n
}

// systemResource returns a batch with one cpu-scraper resource (no process
// identity) carrying system.cpu.time.
func systemResource(host string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if host != "" {
		rm.Resource().Attributes().PutStr(proc.AttrHostName, host)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, st := range []string{"user", "system", "idle"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(t0)
		dp.SetDoubleValue(1234.5)
		dp.Attributes().PutStr("state", st)
		dp.Attributes().PutStr("cpu", "cpu0")
	}
	return md
}
