package analysis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkAnalyze1h10Hosts is the final analysis of a one-hour experiment
// on 10 hosts at 10 s intervals (3,600 pairs per KPI, 2,000 bootstrap
// resamples for each of the four tested KPIs) from an in-memory source.
// The source's query results are computed once before the timer starts, so
// the figure is the analysis itself: alignment, statistics, cost, verdict
// and the JSON report.
func BenchmarkAnalyze1h10Hosts(b *testing.B) {
	src := newFakeSource()
	var hosts []hostSim
	var names []string
	for i := range 10 {
		h := host(fmt.Sprintf("host-%02d", i))
		h.series = 1500 + 300*float64(i)
		hosts = append(hosts, h)
		names = append(names, h.name)
	}
	sim{tenant: testTenant, experiment: testExp, start: t0, duration: time.Hour, scrape: 10 * time.Second, seed: 9, hosts: hosts}.into(src)
	a, err := New(src, Config{}, Settings{Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	require.NoError(b, err)
	exp := newExperiment(names, time.Hour)
	ctx := context.Background()
	an, err := a.Analyze(ctx, exp, true) // fills the source's cache
	require.NoError(b, err)
	r, err := a.Report(ctx, exp, true)
	require.NoError(b, err)
	require.Equal(b, 3600, r.Pairs)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		an, err = a.Analyze(ctx, exp, true)
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64(r.Pairs), "pairs")
	_ = an
}
