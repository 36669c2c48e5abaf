package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/phoenix/platform/collector"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/phoenix/platform/collector/measure"
)

// TestComposedConfigRuns starts a real collector from a composed config
// with an active pipeline and a live and a shadow experiment, lets it
// scrape this host, and shuts it down.
func TestComposedConfigRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a collector that scrapes this host")
	}
	a := goldenAssignments(t)["experiments"]
	a.Active = &Spec{Catalog: "process-adaptive-filter-v1"}
	a.CollectionInterval = time.Second
	a.Exporters = []Exporter{{ID: "debug", Config: map[string]any{"verbosity": "basic"}}}
	a.LogLevel = "error"
	doc, err := Compose(a)
	require.NoError(t, err)

	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.NewDefaultBuildInfo(),
		Factories: collector.Components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"yaml:" + string(doc)},
			ProviderFactories: []confmap.ProviderFactory{yamlprovider.NewFactory()},
		}},
		SkipSettingGRPCLogger: true,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	require.Eventually(t, func() bool { return col.GetState() == otelcol.StateRunning }, 30*time.Second, 20*time.Millisecond)
	// Every pipeline's output meter sees the shared scrape.
	want := map[string]bool{"/active": true, "42/baseline": true, "42/candidate": true, "exp-7/baseline": true, "exp-7/candidate": true}
	require.Eventually(t, func() bool {
		seen := measuredPipelines(t, a.Host)
		for k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "output meters of %v", want)
	require.Equal(t, otelcol.StateRunning, col.GetState())
	col.Shutdown()
	require.NoError(t, <-done)
}

// measuredPipelines returns "experiment/variant" of every pipeline of host
// whose output meter counted data points.
func measuredPipelines(t *testing.T, host string) map[string]bool {
	t.Helper()
	mfs, err := measure.Default().Gather()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "phoenix_pipeline_output_datapoints_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["host"] == host && m.GetCounter().GetValue() > 0 {
				seen[l["experiment"]+"/"+l["variant"]] = true
			}
		}
	}
	return seen
}
