package priorityprocessor

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/benchside"
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
// driven through ConsumeMetrics into a nop consumer; see benchside.Compare for
// what is measured.
func BenchmarkProcess(b *testing.B) {
	ctx := context.Background()
	template := proctest.Metrics(proctest.Processes("host-a", 1000), ts)
	benchside.Compare(b, Type,
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
