package rollupprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

const ts0 = pcommon.Timestamp(1_700_000_100_000_000_000)

// benchPriority is the priority of process i of a proctest batch in the
// tests and benchmarks: the first five (critical names) are critical, the
// next 45 high, the rest low, so 950 of 1,000 are folded.
func benchPriority(i int) proc.Priority {
	switch {
	case i < len(proctest.CriticalNames):
		return proc.Critical
	case i < 50:
		return proc.High
	default:
		return proc.Low
	}
}

// withPriorities sets phoenix.priority on the i-th resource of md to
// prio(i); Unknown leaves it unset.
func withPriorities(md pmetric.Metrics, prio func(i int) proc.Priority) pmetric.Metrics {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if p := prio(i); p != proc.Unknown {
			rms.At(i).Resource().Attributes().PutStr(proc.AttrPriority, p.String())
		}
	}
	return md
}

// benchBatch is 1,000 processes x 7 points with benchPriority.
func benchBatch(ts pcommon.Timestamp) pmetric.Metrics {
	return withPriorities(proctest.Metrics(proctest.Processes("host-a", 1000), ts), benchPriority)
}

func testConfig(mode GroupBy) *Config {
	return &Config{GroupBy: mode, KeepPriority: proc.High, StateTTL: time.Hour}
}

// newTestProcessor builds the processor through its factory into a sink.
func newTestProcessor(t testing.TB, cfg *Config) (processor.Metrics, *consumertest.MetricsSink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	sink := new(consumertest.MetricsSink)
	f := NewFactoryWithSettings(Settings{Registerer: reg})
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink, reg
}

// newDirect builds the fold without the processor.Metrics wrapper, with a
// clock the test controls.
func newDirect(t testing.TB, cfg Config, now *time.Time) *rollup {
	t.Helper()
	cnt, err := newCounters(nil, "test")
	require.NoError(t, err)
	p := newRollup(cfg, cnt)
	if now != nil {
		p.now = func() time.Time { return *now }
	}
	return p
}

// counterValue returns the value of a phoenix_rollup counter in reg, 0 when
// it has no sample with the given reason ("" for the folded counter).
func counterValue(t testing.TB, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			r := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					r = l.GetValue()
				}
			}
			if r == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// groupsOf returns the group resources of md by host + "/" + group.
func groupsOf(md pmetric.Metrics) map[string]pmetric.ResourceMetrics {
	out := make(map[string]pmetric.ResourceMetrics)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource()
		if _, ok := res.Attributes().Get(proc.AttrGroup); ok {
			out[proc.Host(res)+"/"+proc.Str(res, proc.AttrGroup)] = rms.At(i)
		}
	}
	return out
}

// point is one number data point of a resource, found by metric name and
// data point attribute key=value ("" for none).
type point struct {
	metric pmetric.Metric
	dp     pmetric.NumberDataPoint
}

func findPoints(rm pmetric.ResourceMetrics) map[string]point {
	out := make(map[string]point)
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			var dps pmetric.NumberDataPointSlice
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			default:
				continue
			}
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				key := m.Name()
				for ak, av := range dp.Attributes().All() {
					key += "|" + ak + "=" + av.AsString()
				}
				out[key] = point{metric: m, dp: dp}
			}
		}
	}
	return out
}

func cloneMetrics(md pmetric.Metrics) pmetric.Metrics {
	c := pmetric.NewMetrics()
	md.CopyTo(c)
	return c
}

// marshalRM returns the protobuf encoding of one resource, for comparing
// resources that must pass through untouched.
func marshalRM(t testing.TB, rm pmetric.ResourceMetrics) string {
	t.Helper()
	md := pmetric.NewMetrics()
	rm.CopyTo(md.ResourceMetrics().AppendEmpty())
	b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	return string(b)
}
