package meterprocessor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proc"
)

// fakeClock is a settable clock for the active window.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var criticalRegexps = []string{"^(nginx|postgres|java)$"}

// measuredPipeline is one measured pipeline: input stage -> chain -> output stage -> exporter.
type measuredPipeline struct {
	in, out processor.Metrics
}

func (p *measuredPipeline) consume(t testing.TB, md pmetric.Metrics) {
	t.Helper()
	require.NoError(t, p.in.ConsumeMetrics(context.Background(), md))
}

func (p *measuredPipeline) shutdown(t testing.TB) {
	t.Helper()
	require.NoError(t, p.in.Shutdown(context.Background()))
	require.NoError(t, p.out.Shutdown(context.Background()))
}

func settings(name string) processor.Settings {
	set := processortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, name)
	return set
}

// newPair builds and starts both stages around chain; chain may be nil.
// The pair is shut down when the test ends.
func newPair(t testing.TB, f processor.Factory, experiment, variant string, chain func(consumer.Metrics) consumer.Metrics, exporter consumer.Metrics) *measuredPipeline {
	t.Helper()
	ctx := context.Background()
	outCfg := &Config{Stage: StageOutput, Experiment: experiment, Variant: variant, Host: "cfg-host", ActiveWindow: time.Minute}
	inCfg := &Config{Stage: StageInput, Experiment: experiment, Variant: variant, Host: "cfg-host", ActiveWindow: time.Minute, CriticalExecutables: criticalRegexps}
	out, err := f.CreateMetrics(ctx, settings(variant), outCfg, exporter)
	require.NoError(t, err)
	var mid consumer.Metrics = out
	if chain != nil {
		mid = chain(out)
	}
	in, err := f.CreateMetrics(ctx, settings(variant+"-in"), inCfg, mid)
	require.NoError(t, err)
	require.NoError(t, out.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, in.Start(ctx, componenttest.NewNopHost()))
	p := &measuredPipeline{in: in, out: out}
	t.Cleanup(func() { p.shutdown(t) })
	return p
}

// chainProcessor builds a real processor (processorhelper) running fn.
func chainProcessor(t testing.TB, fn processorhelper.ProcessMetricsFunc) func(consumer.Metrics) consumer.Metrics {
	return func(next consumer.Metrics) consumer.Metrics {
		p, err := processorhelper.NewMetrics(context.Background(), processortest.NewNopSettings(component.MustNewType("test_chain")),
			struct{}{}, next, fn, processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
		require.NoError(t, err)
		return p
	}
}

// dropNames returns a processing function removing process resources whose
// executable name is in names.
func dropNames(names ...string) processorhelper.ProcessMetricsFunc {
	return func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			n := proc.Str(rm.Resource(), proc.AttrExecutableName)
			for _, d := range names {
				if n == d {
					return true
				}
			}
			return false
		})
		return md, nil
	}
}

// figures gathers reg into "name{label=value,...}" -> value.
func figures(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[seriesName(mf.GetName(), m.GetLabel())] = value(mf.GetType(), m)
		}
	}
	return out
}

func seriesName(name string, lps []*dto.LabelPair) string {
	parts := make([]string, 0, len(lps))
	for _, lp := range lps {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// key renders the series name of a measurement of host/experiment/variant.
func key(name, host, experiment, variant string, extra ...string) string {
	parts := []string{"experiment=" + experiment, "host=" + host, "variant=" + variant}
	for i := 0; i+1 < len(extra); i += 2 {
		parts = append(parts, extra[i]+"="+extra[i+1])
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// withPrefix returns the figures whose name starts with prefix.
func withPrefix(fs map[string]float64, prefix string) map[string]float64 {
	out := make(map[string]float64)
	for k, v := range fs {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// slowSink is an exporter that waits before storing.
type slowSink struct {
	consumertest.MetricsSink
	delay time.Duration
}

func (s *slowSink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	time.Sleep(s.delay)
	return s.MetricsSink.ConsumeMetrics(ctx, md)
}

func dumpFigures(fs map[string]float64) string {
	keys := make([]string, 0, len(fs))
	for k := range fs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %g\n", k, fs[k])
	}
	return b.String()
}
