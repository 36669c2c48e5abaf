package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/metrics/promtest"
)

// comparisonData is 20 minutes of an experiment's measurements for tenant
// a: two hosts, two variants, counters (one with a reset) and gauges, one
// sample every 15 s. Sample times sit 1.234 s off whole seconds so that no
// sample falls on the edge of a range or lookback window evaluated at
// whole seconds: Prometheus 2 closes those windows on the left, Prometheus
// 3 opens them, and this comparison is about everything else.
func comparisonData(start time.Time) [][]prompb.TimeSeries {
	const n = 80
	var batches [][]prompb.TimeSeries
	var ss []prompb.TimeSeries
	add := func(pairs []string, value func(i int) float64) {
		samples := make([]prompb.Sample, n)
		for i := range n {
			samples[i] = prompb.Sample{Timestamp: start.Add(time.Duration(i)*15*time.Second + 1234*time.Millisecond).UnixMilli(), Value: value(i)}
		}
		ss = append(ss, series(append(pairs, "tenant", "a"), samples...))
	}
	for hi, host := range []string{"host-1", "host-2"} {
		for vi, variant := range []string{"baseline", "candidate"} {
			scale := float64(1+hi) * (1 - 0.6*float64(vi)) // the candidate sends 60% less
			add(contract("phoenix_pipeline_input_series", host, variant), func(i int) float64 { return 4000 * float64(1+hi) })
			add(contract("phoenix_pipeline_output_series", host, variant), func(i int) float64 { return math.Round(4000*scale) + float64(i%7) })
			add(contract("phoenix_pipeline_output_datapoints_total", host, variant), func(i int) float64 {
				if hi == 0 && vi == 1 && i >= 40 {
					return float64(i-40) * 1600 * scale // the agent restarted
				}
				return float64(i) * 16000 * scale
			})
			add(contract("phoenix_pipeline_output_bytes_total", host, variant), func(i int) float64 { return float64(i) * 1.25e6 * scale })
			add(contract("phoenix_pipeline_critical_expected", host, variant), func(int) float64 { return 3 })
			add(contract("phoenix_pipeline_critical_retained", host, variant), func(i int) float64 { return 3 - float64(vi*(i%2)) })
			add(contract("phoenix_pipeline_processing_seconds_total", host, variant), func(i int) float64 { return float64(i) * 0.0125 * scale })
		}
		add([]string{"__name__", "phoenix_agent_cpu_seconds_total", "host", host}, func(i int) float64 { return float64(i) * 0.3 })
		add([]string{"__name__", "phoenix_agent_memory_bytes", "host", host}, func(i int) float64 { return 80e6 + float64(i%11)*1e6 })
		batches = append(batches, ss)
		ss = nil
	}
	return batches
}

var comparisonQueries = []string{
	`phoenix_pipeline_output_series{tenant="a"}`,
	`rate(phoenix_pipeline_output_datapoints_total{tenant="a"}[5m])`,
	`sum by (variant) (rate(phoenix_pipeline_output_datapoints_total{tenant="a"}[5m]))`,
	`sum by (variant) (increase(phoenix_pipeline_output_bytes_total[10m]))`,
	`avg by (variant) (phoenix_pipeline_critical_retained / phoenix_pipeline_critical_expected)`,
	`sum by (host) (rate(phoenix_agent_cpu_seconds_total[5m]))`,
	`max_over_time(phoenix_agent_memory_bytes[10m])`,
	`quantile by (variant) (0.9, phoenix_pipeline_output_series)`,
	`1 - sum(rate(phoenix_pipeline_output_datapoints_total{variant="candidate"}[5m])) / sum(rate(phoenix_pipeline_output_datapoints_total{variant="baseline"}[5m]))`,
	`scalar(sum(phoenix_pipeline_output_series))`,
	`sum by (variant) (rate(phoenix_pipeline_processing_seconds_total[2m])) / sum by (variant) (rate(phoenix_pipeline_output_datapoints_total[2m]))`,
}

// TestMatchesPrometheus writes the same samples to Phoenix's store (through
// its remote-write ingest) and to a real Prometheus (through its
// remote-write receiver), runs the same PromQL through Store and Remote,
// and requires the same series, timestamps and values (to 1e-9). It then
// compares the JSON of Phoenix's query API with Prometheus's own.
func TestMatchesPrometheus(t *testing.T) {
	promURL := promtest.StartPrometheus(t)
	e := newEnv(t, Options{}, WriteConfig{})
	ctx := context.Background()

	start := time.Now().Add(-21 * time.Minute).Truncate(time.Minute)
	for _, batch := range comparisonData(start) {
		require.NoError(t, WriteRequest(ctx, e.srv.URL+WritePath, bearer("token-a"), batch))
		require.NoError(t, WriteRequest(ctx, promURL+"/api/v1/write", nil, batch))
	}
	remote, err := NewRemote(RemoteConfig{URL: promURL}, nil)
	require.NoError(t, err)
	defer http.DefaultClient.CloseIdleConnections()

	sources := map[string]Source{"Store": e.st, "Store.ForTenant": e.st.ForTenant("a")}
	var compared, points int
	evalAt := start.Add(17 * time.Minute)
	rangeStart, rangeEnd, step := start.Add(6*time.Minute), start.Add(19*time.Minute), 30*time.Second
	for _, q := range comparisonQueries {
		want, err := remote.Query(ctx, q, evalAt)
		require.NoError(t, err, q)
		require.NotEmpty(t, want, "prometheus has data for %s", q)
		wantRange, err := remote.QueryRange(ctx, q, rangeStart, rangeEnd, step)
		require.NoError(t, err, q)
		require.NotEmpty(t, wantRange, q)
		for name, src := range sources {
			got, err := src.Query(ctx, q, evalAt)
			require.NoError(t, err, q)
			requireSameSeries(t, want, got, name+" instant "+q)
			got, err = src.QueryRange(ctx, q, rangeStart, rangeEnd, step)
			require.NoError(t, err, q)
			requireSameSeries(t, wantRange, got, name+" range "+q)
			compared += len(want) + len(wantRange)
			for _, s := range append(want, wantRange...) {
				points += len(s.Samples)
			}
		}
	}
	t.Logf("%d queries: %d series and %d points identical in Store, Store.ForTenant and Prometheus", len(comparisonQueries), compared, points)

	// The HTTP API, as Grafana reads it, against Prometheus's.
	at := strconvTime(evalAt)
	for _, c := range []struct {
		path   string
		params url.Values
	}{
		{"query", url.Values{"query": {comparisonQueries[0]}, "time": {at}}},
		{"query", url.Values{"query": {comparisonQueries[2]}, "time": {at}}},
		{"query", url.Values{"query": {comparisonQueries[9]}, "time": {at}}},
		{"query", url.Values{"query": {`"text"`}, "time": {"1767268800.5"}}},
		{"query_range", url.Values{"query": {comparisonQueries[2]}, "start": {strconvTime(rangeStart)}, "end": {strconvTime(rangeEnd)}, "step": {"30"}}},
		{"query_range", url.Values{"query": {comparisonQueries[8]}, "start": {strconvTime(rangeStart)}, "end": {strconvTime(rangeEnd)}, "step": {"60s"}}},
		{"series", url.Values{"match[]": {`{__name__=~"phoenix_pipeline_output_.+"}`, `phoenix_agent_memory_bytes`}, "start": {strconvTime(start)}, "end": {at}}},
		{"labels", url.Values{"start": {strconvTime(start)}, "end": {at}}},
		{"labels", url.Values{"match[]": {`phoenix_agent_cpu_seconds_total`}}},
		{"label/variant/values", nil},
		{"label/__name__/values", url.Values{"match[]": {`{variant="candidate"}`}}},
		{"query", url.Values{"query": {`sum(`}}},
		{"query_range", url.Values{"query": {`up`}, "start": {"0"}, "end": {"10"}, "step": {"0"}}},
		{"series", nil},
	} {
		status, body := e.get(t, "token-a", c.path, c.params)
		pStatus, pBody := getJSON(t, promURL+"/api/v1/"+c.path+"?"+c.params.Encode())
		require.Equal(t, pStatus, status, "%s %v:\nphoenix: %s\nprometheus: %s", c.path, c.params, body, pBody)
		var got, want any
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		require.NoError(t, json.Unmarshal([]byte(pBody), &want))
		if status != http.StatusOK {
			// Same envelope and error type; messages may be worded apart.
			require.Equal(t, want.(map[string]any)["errorType"], got.(map[string]any)["errorType"], "%s %v", c.path, c.params)
			require.Equal(t, keys(want), keys(got))
			continue
		}
		requireSameJSON(t, want, got, c.path+" "+c.params.Encode())
		t.Logf("same JSON as Prometheus: %s %s", c.path, c.params.Encode())
	}
}

func getJSON(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// requireSameSeries requires the same label sets with the same timestamps,
// and values equal to 1e-9 (relative to their size when above 1).
func requireSameSeries(t *testing.T, want, got []Series, msg string) {
	t.Helper()
	want, got = sortSeries(want), sortSeries(got)
	require.Equal(t, len(want), len(got), msg)
	for i := range want {
		require.Equal(t, want[i].Labels, got[i].Labels, msg)
		require.Equal(t, len(want[i].Samples), len(got[i].Samples), msg)
		for j, w := range want[i].Samples {
			g := got[i].Samples[j]
			require.True(t, w.T.Equal(g.T), "timestamp %s != %s: %s", w.T, g.T, msg)
			requireClose(t, w.V, g.V, fmt.Sprintf("%s at %s", msg, w.T))
		}
	}
}

func requireClose(t *testing.T, want, got float64, msgAndArgs ...any) {
	t.Helper()
	if math.IsNaN(want) || math.IsInf(want, 0) {
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), msgAndArgs...)
		return
	}
	require.InDelta(t, want, got, 1e-9*math.Max(1, math.Abs(want)), msgAndArgs...)
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// requireSameJSON compares two answers of the API: same object keys, same
// arrays (results in label order), same numbers, and same strings except
// sample values, which must be equal to 1e-9.
func requireSameJSON(t *testing.T, want, got any, path string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.True(t, ok, "%s: want an object, got %v", path, got)
		require.Equal(t, keys(w), keys(g), path)
		for k := range w {
			requireSameJSON(t, w[k], g[k], path+"."+k)
		}
	case []any:
		g, ok := got.([]any)
		require.True(t, ok, "%s: want an array, got %v", path, got)
		require.Len(t, g, len(w), path)
		sortByMetric(w)
		sortByMetric(g)
		for i := range w {
			requireSameJSON(t, w[i], g[i], path+"["+strconv.Itoa(i)+"]")
		}
	case string:
		g, ok := got.(string)
		require.True(t, ok, "%s: want a string, got %v", path, got)
		wf, werr := strconv.ParseFloat(w, 64)
		gf, gerr := strconv.ParseFloat(g, 64)
		if werr == nil && gerr == nil {
			requireClose(t, wf, gf, path)
			return
		}
		require.Equal(t, w, g, path)
	default:
		require.Equal(t, want, got, path)
	}
}

// sortByMetric orders result entries by their metric, so that answers
// whose order Prometheus leaves open compare.
func sortByMetric(a []any) {
	key := func(v any) (string, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		metric, ok := m["metric"]
		if !ok {
			metric = m // a series answer is a bare label set
		}
		b, _ := json.Marshal(metric)
		return string(b), true
	}
	sort.SliceStable(a, func(i, j int) bool {
		ki, oki := key(a[i])
		kj, okj := key(a[j])
		return oki && okj && ki < kj
	})
}
