package agent

import (
	"flag"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/collector/measure"
)

var (
	overhead         = flag.Bool("overhead", false, "run TestOverhead: the agent's CPU and memory on this host running the baseline")
	overheadDuration = flag.Duration("overhead.duration", 60*time.Second, "measurement window of TestOverhead (after a 15 s warm-up)")
)

// TestOverhead measures what the agent costs the host (AT-P10): CPU as a
// percentage of one core and resident memory, while it runs the
// process-baseline-v1 configuration at the default 10 s interval and
// remote-writes its measurements every 10 s. Run it without -race:
//
//	go test ./internal/agent -run TestOverhead -overhead -v
func TestOverhead(t *testing.T) {
	if !*overhead {
		t.Skip("run with -overhead")
	}
	rw := newRWReceiver(t)
	srv := newTestServer(t, "")
	host := uniqueHost(t)
	baseline, err := BaselineConfig(host)
	require.NoError(t, err)
	a := runAgent(t, Config{ServerURL: srv.url(), StateDir: t.TempDir(), HostName: host}, Settings{})
	require.Eventually(t, func() bool { return a.Status().Connected }, 30*time.Second, 50*time.Millisecond)
	h := srv.push(string(baseline), "remote_write_url: "+rw.srv.URL+"/prometheus/api/v1/write\nremote_write_interval: 10s\n")
	srv.waitStatus(h, applied, 60*time.Second)

	time.Sleep(15 * time.Second) // warm-up: first scrapes, first remote write

	cpu0, err := processCPUSeconds()
	require.NoError(t, err)
	start := time.Now()
	var rssSum, rssMax float64
	n := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < *overheadDuration {
		<-tick.C
		rss, err := processRSSBytes()
		require.NoError(t, err)
		rssSum += rss
		rssMax = max(rssMax, rss)
		n++
	}
	cpu1, err := processCPUSeconds()
	require.NoError(t, err)
	wall := time.Since(start)

	// The agent's own measurements agree with the direct reading.
	mfs, err := measure.Default().Gather()
	require.NoError(t, err)
	var reported []string
	for _, mf := range mfs {
		if mf.GetName() == MetricCPUSeconds || mf.GetName() == MetricMemoryBytes {
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				reported = append(reported, mf.GetName()+"="+formatFloat(v))
			}
		}
	}
	procs := 0
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if strings.Trim(e.Name(), "0123456789") == "" {
				procs++
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	cpuPct := (cpu1 - cpu0) / wall.Seconds() * 100
	t.Logf("overhead over %s (baseline at 10s, %d processes on the host, %d CPUs, remote write every 10s, %d requests received):",
		wall.Round(time.Second), procs, runtime.NumCPU(), len(rw.all()))
	t.Logf("  CPU: %.3f s = %.2f%% of one core", cpu1-cpu0, cpuPct)
	t.Logf("  RSS: mean %.1f MiB, max %.1f MiB (Go heap in use %.1f MiB, sys %.1f MiB)",
		rssSum/float64(n)/(1<<20), rssMax/(1<<20), float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	t.Logf("  reported: %s", strings.Join(reported, " "))
	require.NotEmpty(t, reported)
	require.Greater(t, cpu1, cpu0)
	// AT-P10's limits: under 5% of one core and under 100 MiB.
	require.Less(t, cpuPct, 5.0, "AT-P10: agent CPU on an idle host")
	require.Less(t, rssMax, float64(100<<20), "AT-P10: agent resident memory")
}
