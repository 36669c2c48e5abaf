package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestExperimentCounterTimeoutAndPanic(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.experiments.timeout = 50 * time.Millisecond

	release := make(chan struct{})
	defer close(release)
	m.SetExperimentCounter(func(ctx context.Context) (map[string]int, error) {
		<-release // ignores its context on purpose
		return map[string]int{"running": 1}, nil
	})
	start := time.Now()
	require.Zero(t, testutil.CollectAndCount(reg, "phoenix_experiments"))
	require.Less(t, time.Since(start), time.Second, "a hanging counter does not hold up the scrape")

	m.SetExperimentCounter(func(ctx context.Context) (map[string]int, error) { panic("boom") })
	require.Zero(t, testutil.CollectAndCount(reg, "phoenix_experiments"))

	m.SetExperimentCounter(nil) // gathering below must not call it again
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_metrics_collect_errors_total Scrapes at which a metric read from Phoenix's state failed or timed out.
# TYPE phoenix_metrics_collect_errors_total counter
phoenix_metrics_collect_errors_total 2
`), "phoenix_metrics_collect_errors_total"))
}
