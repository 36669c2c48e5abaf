package telemetry_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/telemetry"
	"github.com/phoenix/platform/internal/version"
)

func TestMetricsRequests(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg)
	m.ObserveRequest("/api/v1/experiments/{id}", "GET", 200, 3*time.Millisecond)
	m.ObserveRequest("/api/v1/experiments/{id}", "GET", 200, 40*time.Millisecond)
	m.ObserveRequest("/api/v1/experiments", "POST", 400, 300*time.Microsecond)
	m.ObserveRequest("/api/v1/experiments", "BREW", 405, time.Millisecond)

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_http_requests_total HTTP requests served, by route pattern, method and status code.
# TYPE phoenix_http_requests_total counter
phoenix_http_requests_total{code="200",method="GET",route="/api/v1/experiments/{id}"} 2
phoenix_http_requests_total{code="400",method="POST",route="/api/v1/experiments"} 1
phoenix_http_requests_total{code="405",method="OTHER",route="/api/v1/experiments"} 1
`), "phoenix_http_requests_total")
	require.NoError(t, err)

	require.Equal(t, 3, testutil.CollectAndCount(reg, "phoenix_http_request_duration_seconds"), "one histogram per route and method")
}

func TestMetricsDurationBuckets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg)
	m.ObserveRequest("/api/v1/experiments", "POST", 201, 300*time.Microsecond)
	m.ObserveRequest("/api/v1/experiments", "POST", 201, 30*time.Millisecond)
	m.ObserveRequest("/api/v1/experiments", "POST", 201, 3*time.Second)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_http_request_duration_seconds Time to serve HTTP requests, by route pattern and method.
# TYPE phoenix_http_request_duration_seconds histogram
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.0005"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.001"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.0025"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.005"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.01"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.025"} 1
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.05"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.1"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.25"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="0.5"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="1"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="2.5"} 2
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="5"} 3
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="10"} 3
phoenix_http_request_duration_seconds_bucket{method="POST",route="/api/v1/experiments",le="+Inf"} 3
phoenix_http_request_duration_seconds_sum{method="POST",route="/api/v1/experiments"} 3.0303
phoenix_http_request_duration_seconds_count{method="POST",route="/api/v1/experiments"} 3
`), "phoenix_http_request_duration_seconds")
	require.NoError(t, err)
}

func TestMetricsBuildInfo(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_build_info Phoenix build, always 1.
# TYPE phoenix_build_info gauge
phoenix_build_info{goversion="`+runtime.Version()+`",version="`+version.Version+`"} 1
`), "phoenix_build_info")
	require.NoError(t, err)
}

func TestMetricsExperiments(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg)
	require.Zero(t, testutil.CollectAndCount(reg, "phoenix_experiments"), "no series until a counter is set")

	counts := map[string]int{"running": 2, "draft": 5}
	var fail error
	var noDeadline atomic.Bool
	m.SetExperimentCounter(func(ctx context.Context) (map[string]int, error) {
		if _, ok := ctx.Deadline(); !ok {
			noDeadline.Store(true)
		}
		return counts, fail
	})
	want := func(body string) {
		t.Helper()
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(body), "phoenix_experiments", "phoenix_metrics_collect_errors_total"))
	}
	want(`
# HELP phoenix_experiments Experiments by state.
# TYPE phoenix_experiments gauge
phoenix_experiments{state="draft"} 5
phoenix_experiments{state="running"} 2
# HELP phoenix_metrics_collect_errors_total Scrapes at which a metric read from Phoenix's state failed or timed out.
# TYPE phoenix_metrics_collect_errors_total counter
phoenix_metrics_collect_errors_total 0
`)

	// A state that empties is reported as 0 rather than vanishing.
	counts = map[string]int{"draft": 4, "completed": 1}
	want(`
# HELP phoenix_experiments Experiments by state.
# TYPE phoenix_experiments gauge
phoenix_experiments{state="completed"} 1
phoenix_experiments{state="draft"} 4
phoenix_experiments{state="running"} 0
# HELP phoenix_metrics_collect_errors_total Scrapes at which a metric read from Phoenix's state failed or timed out.
# TYPE phoenix_metrics_collect_errors_total counter
phoenix_metrics_collect_errors_total 0
`)

	// A failing counter yields no series and counts an error; the scrape
	// itself succeeds.
	fail = errors.New("database is locked")
	want(`
# HELP phoenix_metrics_collect_errors_total Scrapes at which a metric read from Phoenix's state failed or timed out.
# TYPE phoenix_metrics_collect_errors_total counter
phoenix_metrics_collect_errors_total 1
`)
	_, err := reg.Gather()
	require.NoError(t, err)

	m.SetExperimentCounter(nil)
	require.Zero(t, testutil.CollectAndCount(reg, "phoenix_experiments"))
	require.False(t, noDeadline.Load(), "the counter runs under a deadline")
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *telemetry.Metrics
	m.ObserveRequest("/", "GET", 200, time.Millisecond)
	m.SetExperimentCounter(func(context.Context) (map[string]int, error) { return nil, nil })
}

func TestNewMetricsTwiceOnOneRegistryPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg)
	require.Panics(t, func() { telemetry.NewMetrics(reg) })
	require.NotPanics(t, func() { telemetry.NewMetrics(nil) })
}
