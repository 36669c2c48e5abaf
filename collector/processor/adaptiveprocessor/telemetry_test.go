package adaptiveprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/measure"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

const metricsHelp = `# HELP phoenix_adaptive_mode Current filtering mode of a host in a phoenix_adaptive processor: 1 for the current mode, 0 for the others.
# TYPE phoenix_adaptive_mode gauge
`

const transitionsHelp = `# HELP phoenix_adaptive_transitions_total Mode changes of a host in a phoenix_adaptive processor.
# TYPE phoenix_adaptive_transitions_total counter
`

func TestModeGaugeAndTransitions(t *testing.T) {
	reg := newRegistry()
	ap, _ := newTestProcessor(t, createDefaultConfig(), reg, "exp")
	ctx := context.Background()

	require.NoError(t, ap.ConsumeMetrics(ctx, merge(hostBatch("host-a", 600, 0), hostBatch("host-b", 100, 0))))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(metricsHelp+`
phoenix_adaptive_mode{host="host-a",mode="relaxed",pipeline="phoenix_adaptive/exp"} 0
phoenix_adaptive_mode{host="host-a",mode="tight",pipeline="phoenix_adaptive/exp"} 1
phoenix_adaptive_mode{host="host-b",mode="relaxed",pipeline="phoenix_adaptive/exp"} 1
phoenix_adaptive_mode{host="host-b",mode="tight",pipeline="phoenix_adaptive/exp"} 0
`+transitionsHelp+`
phoenix_adaptive_transitions_total{from="relaxed",host="host-a",pipeline="phoenix_adaptive/exp",to="tight"} 1
`), MetricMode, MetricTransitions))

	for i, n := range []int{300, 600, 450} {
		require.NoError(t, ap.ConsumeMetrics(ctx, hostBatch("host-a", n, i+1)))
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(metricsHelp+`
phoenix_adaptive_mode{host="host-a",mode="relaxed",pipeline="phoenix_adaptive/exp"} 0
phoenix_adaptive_mode{host="host-a",mode="tight",pipeline="phoenix_adaptive/exp"} 1
phoenix_adaptive_mode{host="host-b",mode="relaxed",pipeline="phoenix_adaptive/exp"} 1
phoenix_adaptive_mode{host="host-b",mode="tight",pipeline="phoenix_adaptive/exp"} 0
`+transitionsHelp+`
phoenix_adaptive_transitions_total{from="relaxed",host="host-a",pipeline="phoenix_adaptive/exp",to="tight"} 2
phoenix_adaptive_transitions_total{from="tight",host="host-a",pipeline="phoenix_adaptive/exp",to="relaxed"} 1
`), MetricMode, MetricTransitions))
}

// create builds an instance of the processor in reg without starting it.
func create(t *testing.T, f func() component.Config, reg prometheus.Registerer, name string) (func() error, func() error, func(n, i int) error) {
	t.Helper()
	fac := NewFactoryWithRegisterer(reg)
	set := processortest.NewNopSettings(Type)
	set.ID = component.NewIDWithName(Type, name)
	p, err := fac.CreateMetrics(context.Background(), set, f(), consumertest.NewNop())
	require.NoError(t, err)
	ctx := context.Background()
	return func() error { return p.Start(ctx, componenttest.NewNopHost()) },
		func() error { return p.Shutdown(ctx) },
		func(n, i int) error { return p.ConsumeMetrics(ctx, hostBatch("h", n, i)) }
}

func defaultConfig() component.Config { return createDefaultConfig() }

// pipelines returns the pipeline label values of the mode gauge in reg.
func pipelines(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != MetricMode {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" {
					got[l.GetValue()]++
				}
			}
		}
	}
	return got
}

func TestInstancesAndRestartsShareOneRegistration(t *testing.T) {
	reg := newRegistry()
	start1, stop1, push1 := create(t, defaultConfig, reg, "a")
	start2, stop2, push2 := create(t, defaultConfig, reg, "b")

	// Not started yet: nothing reported.
	require.NoError(t, push1(600, 0))
	require.Empty(t, pipelines(t, reg))

	require.NoError(t, start1())
	require.NoError(t, start2())
	require.NoError(t, push2(100, 0))
	require.Equal(t, map[string]int{"phoenix_adaptive/a": 2, "phoenix_adaptive/b": 2}, pipelines(t, reg))

	// Restart "a": shut it down, create a new instance with the same id.
	require.NoError(t, stop1())
	require.NoError(t, stop1(), "shutdown is idempotent")
	require.Equal(t, map[string]int{"phoenix_adaptive/b": 2}, pipelines(t, reg))
	start3, stop3, push3 := create(t, defaultConfig, reg, "a")
	require.NoError(t, start3())
	require.NoError(t, push3(100, 1))
	require.Equal(t, map[string]int{"phoenix_adaptive/a": 2, "phoenix_adaptive/b": 2}, pipelines(t, reg))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(metricsHelp+`
phoenix_adaptive_mode{host="h",mode="relaxed",pipeline="phoenix_adaptive/a"} 1
phoenix_adaptive_mode{host="h",mode="tight",pipeline="phoenix_adaptive/a"} 0
phoenix_adaptive_mode{host="h",mode="relaxed",pipeline="phoenix_adaptive/b"} 1
phoenix_adaptive_mode{host="h",mode="tight",pipeline="phoenix_adaptive/b"} 0
`), MetricMode))

	require.NoError(t, stop2())
	require.NoError(t, stop3())
	require.Empty(t, pipelines(t, reg))

	// Shutdown without Start is fine.
	_, stop4, _ := create(t, defaultConfig, reg, "c")
	require.NoError(t, stop4())
}

func TestSameIDInTwoPipelines(t *testing.T) {
	reg := newRegistry()
	start1, stop1, push1 := create(t, defaultConfig, reg, "x")
	start2, stop2, push2 := create(t, defaultConfig, reg, "x")
	require.NoError(t, start1())
	require.NoError(t, start2())
	defer func() { require.NoError(t, stop1()); require.NoError(t, stop2()) }()
	require.NoError(t, push1(600, 0))
	require.NoError(t, push2(100, 0))
	require.NoError(t, push2(600, 1))
	// The first started instance's mode wins; transitions add up.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(metricsHelp+`
phoenix_adaptive_mode{host="h",mode="relaxed",pipeline="phoenix_adaptive/x"} 0
phoenix_adaptive_mode{host="h",mode="tight",pipeline="phoenix_adaptive/x"} 1
`+transitionsHelp+`
phoenix_adaptive_transitions_total{from="relaxed",host="h",pipeline="phoenix_adaptive/x",to="tight"} 2
`), MetricMode, MetricTransitions))
}

func TestRegistrationConflict(t *testing.T) {
	reg := newRegistry()
	reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricMode, Help: "something else"},
		[]string{"host", "mode", "pipeline"}))
	_, err := NewFactoryWithRegisterer(reg).CreateMetrics(context.Background(),
		processortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	require.ErrorContains(t, err, "register phoenix_adaptive metrics")
}

func TestNilRegistererPublishesNothing(t *testing.T) {
	ap, sink := newTestProcessor(t, createDefaultConfig(), nil, "")
	require.NoError(t, ap.ConsumeMetrics(context.Background(), hostBatch("h", 600, 0)))
	require.Equal(t, tightKept, sink.AllMetrics()[0].ResourceMetrics().Len())
}

func TestNewFactoryUsesDefaultRegistry(t *testing.T) {
	f := NewFactory()
	set := processortest.NewNopSettings(Type)
	set.ID = component.NewIDWithName(Type, "default-registry")
	p, err := f.CreateMetrics(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	// A second factory on the same registry adopts the registered collector.
	_, err = NewFactory().CreateMetrics(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeMetrics(context.Background(), hostBatch("h", 600, 0)))
	require.Equal(t, map[string]int{"phoenix_adaptive/default-registry": 2}, pipelines(t, measure.Default()))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Empty(t, pipelines(t, measure.Default()))
}

func TestInvalidUTF8HostDoesNotBreakGather(t *testing.T) {
	reg := newRegistry()
	ap, _ := newTestProcessor(t, createDefaultConfig(), reg, "")
	// Two invalid host names that repair to the same label value.
	md := merge(hostBatch("bad\xffhost", 10, 0), hostBatch("bad\xfehost", 10, 0))
	require.NoError(t, ap.ConsumeMetrics(context.Background(), md))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(metricsHelp+
		"phoenix_adaptive_mode{host=\"bad\uFFFDhost\",mode=\"relaxed\",pipeline=\"phoenix_adaptive\"} 1\n"+
		"phoenix_adaptive_mode{host=\"bad\uFFFDhost\",mode=\"tight\",pipeline=\"phoenix_adaptive\"} 0\n"), MetricMode))
}
