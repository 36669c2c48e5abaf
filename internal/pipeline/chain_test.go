package pipeline

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
)

// runChain builds a document's processors through the distribution's
// factories, in order, pushes md through them and returns what comes out.
func runChain(t *testing.T, d *Document, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	f, err := factories()
	require.NoError(t, err)
	sink := &consumertest.MetricsSink{}
	var next consumer.Metrics = sink
	ctx := context.Background()
	for i := len(d.Processors) - 1; i >= 0; i-- {
		p := d.Processors[i]
		var id component.ID
		require.NoError(t, id.UnmarshalText([]byte(p.ID)))
		fac, ok := f.Processors[id.Type()]
		require.True(t, ok, p.ID)
		cfg := fac.CreateDefaultConfig()
		require.NoError(t, confmap.NewFromStringMap(p.Config).Unmarshal(&cfg))
		set := processortest.NewNopSettings(id.Type())
		set.ID = id
		proc, err := fac.CreateMetrics(ctx, set, cfg, next)
		require.NoError(t, err, p.ID)
		require.NoError(t, proc.Start(ctx, componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, proc.Shutdown(context.Background())) })
		next = proc
	}
	require.NoError(t, next.ConsumeMetrics(ctx, md))
	var out pmetric.Metrics
	switch all := sink.AllMetrics(); len(all) {
	case 0:
		out = pmetric.NewMetrics()
	case 1:
		out = all[0]
	default:
		t.Fatalf("one batch in, %d out", len(all))
	}
	return out
}

// scrape builds a hostmetrics-shaped batch: one resource per process with
// its identity on the resource, and one host-level resource.
func scrape(names ...string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i, name := range names {
		rm := md.ResourceMetrics().AppendEmpty()
		attrs := rm.Resource().Attributes()
		attrs.PutInt("process.pid", int64(100+i))
		attrs.PutStr("process.executable.name", name)
		attrs.PutStr("process.command_line", "/usr/bin/"+name)
		attrs.PutStr("process.owner", "app")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("process.cpu.time")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetDoubleValue(float64(i + 1))
		dp.Attributes().PutStr("state", "user")
	}
	host := md.ResourceMetrics().AppendEmpty()
	m := host.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.load_average.1m")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(0.5)
	return md
}

// survivors lists the executable names (or "host" for the host resource)
// and priorities of what a chain let through.
func survivors(md pmetric.Metrics) map[string]string {
	out := map[string]string{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		attrs := md.ResourceMetrics().At(i).Resource().Attributes()
		name, prio := "host", ""
		if v, ok := attrs.Get("process.executable.name"); ok {
			name = v.Str()
		}
		if v, ok := attrs.Get("phoenix.priority"); ok {
			prio = v.Str()
		}
		out[name] = prio
	}
	return out
}

// TestPriorityFilterChain runs process-priority-filter-v1 as rendered:
// critical and high processes and host metrics pass, the rest is dropped
// (the filter processor drops what its condition matches).
func TestPriorityFilterChain(t *testing.T) {
	t.Parallel()
	d, err := Render(CatalogSpec("process-priority-filter-v1", nil))
	require.NoError(t, err)
	out := runChain(t, d, scrape("nginx", "sshd", "worker-1", "dockerd", "python3"))
	require.Equal(t, map[string]string{
		"nginx":   "critical",
		"dockerd": "critical",
		"sshd":    "high",
		"host":    "",
	}, survivors(out))

	// default_priority medium keeps unnamed processes and drops only
	// low_processes.
	d, err = Render(CatalogSpec("process-priority-filter-v1", map[string]any{
		"default_priority": "medium",
		"low_processes":    []any{`^worker-\d+$`},
	}))
	require.NoError(t, err)
	out = runChain(t, d, scrape("nginx", "sshd", "worker-1", "python3"))
	require.Equal(t, map[string]string{
		"nginx":   "critical",
		"sshd":    "high",
		"python3": "medium",
		"host":    "",
	}, survivors(out))
}
