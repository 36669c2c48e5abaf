// The fan-out benchmark checks Phoenix's central design claim: an agent
// that scrapes the host once and fans the scrape out to the baseline and
// candidate pipelines costs much less CPU than two collectors each scraping
// for one variant, the PRD's design.

package collector_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/collector"
	"github.com/phoenix/platform/internal/pipeline"
)

var (
	fanoutPairs    = flag.Int("fanout.pairs", 3, "BenchmarkFanOut: measurement pairs, one window of each arm per pair, in alternating order")
	fanoutScrapes  = flag.Int("fanout.scrapes", 8, "BenchmarkFanOut: scrapes measured in each window")
	fanoutProcs    = flag.Int("fanout.procs", 200, "BenchmarkFanOut: sleeping child processes spawned as load, under distinct names")
	fanoutInterval = flag.Duration("fanout.interval", time.Second, "BenchmarkFanOut: hostmetrics collection interval of both arms")
)

// fanoutGoal is the claim: one scrape fanned out to both variants costs at
// most this fraction of the CPU of two collectors.
const fanoutGoal = 0.55

const (
	// fanoutInitialDelay is the scraper controller's default initial_delay:
	// the first scrape comes this long after the receiver starts, the
	// following ones a collection interval apart.
	fanoutInitialDelay = time.Second
	// fanoutWarmup is how many scrapes of each collector run before a
	// window opens, so the process scraper's per-process handles and the
	// processors' state exist.
	fanoutWarmup = 2
)

// fanoutArm is one way of running the baseline and the candidate: the
// collector configs it starts, one after the other.
type fanoutArm struct {
	name    string
	configs [][]byte
}

// BenchmarkFanOut compares, on the same host, load and collection
// interval and in the same run, the CPU of the process running
//
//   - one-scrape: one collector composed by pipeline.Compose for an
//     assignment with one experiment, process-baseline-v1 against
//     process-topk-v1 (what the agent runs: one hostmetrics scrape feeding
//     the active pipeline and both variants of the experiment), and
//   - two-collectors: two collectors, each composed with one variant as
//     its active pipeline and no experiment, each scraping for itself.
//
// Every exporter is nop, so the figure is the collectors' own work. The
// arms alternate (AB BA AB ...) to cancel drift; each window opens after
// warm-up scrapes, midway between scrape ticks, and spans a whole number
// of collection intervals, so it holds exactly -fanout.scrapes scrapes of
// every collector. CPU is the process's user+system time (getrusage)
// across the window, nothing subtracted. Run it without -race:
//
//	go test -run '^$' -bench FanOut -benchtime 1x ./collector/
func BenchmarkFanOut(b *testing.B) {
	interval, scrapes := *fanoutInterval, *fanoutScrapes
	require.GreaterOrEqual(b, interval, time.Second, "-fanout.interval")
	require.Positive(b, scrapes, "-fanout.scrapes")
	require.Positive(b, *fanoutPairs, "-fanout.pairs")
	spawnSleepers(b, *fanoutProcs)

	topk := pipeline.CatalogSpec("process-topk-v1", nil)
	compose := func(host string, active *pipeline.Spec, exps ...pipeline.Experiment) []byte {
		cfg, err := pipeline.Compose(pipeline.Assignment{
			Host:               host,
			CollectionInterval: interval,
			Active:             active,
			Experiments:        exps,
			LogLevel:           "error",
		})
		require.NoError(b, err)
		return cfg
	}
	one := fanoutArm{name: "one-scrape", configs: [][]byte{
		compose("fanout-one", nil, pipeline.Experiment{
			ID:        "fanout",
			Baseline:  pipeline.CatalogSpec(pipeline.BaselinePipeline, nil),
			Candidate: topk,
		}),
	}}
	two := fanoutArm{name: "two-collectors", configs: [][]byte{
		compose("fanout-two-baseline", nil),
		compose("fanout-two-candidate", &topk),
	}}

	var cpu [2]float64 // one, two
	windows := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p := 0; p < *fanoutPairs; p++ {
			order := []int{0, 1}
			if windows%2 == 1 {
				order = []int{1, 0}
			}
			for _, a := range order {
				arm := []fanoutArm{one, two}[a]
				used, procs := runFanoutWindow(b, arm, interval, scrapes)
				cpu[a] += used
				b.Logf("%-14s window %d: %.3f cpu-s over %d scrapes (%.1f ms/scrape), %d processes on the host",
					arm.name, windows+1, used, scrapes, used/float64(scrapes)*1e3, procs)
			}
			windows++
		}
	}
	b.StopTimer()

	perScrape := func(c float64) float64 { return c / float64(windows*scrapes) }
	ratio := cpu[0] / cpu[1]
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(perScrape(cpu[0]), "cpu-s/scrape-one")
	b.ReportMetric(perScrape(cpu[1]), "cpu-s/scrape-two")
	b.ReportMetric(ratio, "one/two")
	verdict := "met"
	if ratio > fanoutGoal {
		verdict = "NOT met"
	}
	b.Logf("fan-out at %s, %d spawned processes, %d windows of %d scrapes per arm: one scrape %.1f ms CPU per scrape, two collectors %.1f ms; ratio %.3f (goal <= %.2f: %s)",
		interval, *fanoutProcs, windows, scrapes, perScrape(cpu[0])*1e3, perScrape(cpu[1])*1e3, ratio, fanoutGoal, verdict)
}

// runFanoutWindow starts the arm's collectors one after the other, measures
// the process CPU over scrapes collection intervals after warm-up, and
// stops them. It returns the CPU seconds used in the window and the number
// of processes on the host when the window closed.
func runFanoutWindow(b *testing.B, arm fanoutArm, interval time.Duration, scrapes int) (float64, int) {
	b.Helper()
	ctx := context.Background()
	// The previous window's garbage is collected outside this one.
	runtime.GC()

	// The collectors start in sequence: building a hostmetrics receiver
	// must not overlap another one's start.
	var svcs []*collector.Service
	var ticks []time.Time // first scrape of each collector
	defer func() {
		for _, s := range slices.Backward(svcs) {
			require.NoError(b, s.Shutdown(ctx))
		}
	}()
	for _, cfg := range arm.configs {
		s := collector.NewService(cfg)
		require.NoError(b, s.Start(ctx, time.Minute), "start %s collector:\n%s", arm.name, cfg)
		svcs = append(svcs, s)
		ticks = append(ticks, time.Now().Add(fanoutInitialDelay))
	}

	start := windowStart(ticks, interval, fanoutWarmup)
	end := start.Add(time.Duration(scrapes) * interval)
	time.Sleep(time.Until(start))
	cpu0 := cpuSeconds(b)
	time.Sleep(time.Until(end))
	cpu1 := cpuSeconds(b)
	for _, s := range svcs {
		select {
		case <-s.Done():
			b.Fatalf("%s collector stopped during the window: %v", arm.name, s.Err())
		default:
		}
	}
	return cpu1 - cpu0, hostProcesses()
}

// windowStart returns when a window should open for collectors whose
// scrapes tick at ticks[i] + k*interval: after warmup scrapes of each,
// and midway through the longest stretch without a tick, so no scrape
// straddles the window's edges.
func windowStart(ticks []time.Time, interval time.Duration, warmup int) time.Time {
	ref := ticks[0]
	offs := make([]time.Duration, len(ticks))
	latest := ref
	for i, t := range ticks {
		offs[i] = ((t.Sub(ref) % interval) + interval) % interval
		if t.After(latest) {
			latest = t
		}
	}
	slices.Sort(offs)
	var edge, widest time.Duration
	for i, o := range offs {
		next := interval + offs[0]
		if i+1 < len(offs) {
			next = offs[i+1]
		}
		if gap := next - o; gap > widest {
			widest, edge = gap, o+gap/2
		}
	}
	earliest := latest.Add(time.Duration(warmup-1) * interval)
	at := ref.Add(edge)
	for at.Before(earliest) {
		at = at.Add(interval)
	}
	return at
}

// cpuSeconds returns the user plus system CPU time of this process.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// hostProcesses counts the processes on the host.
func hostProcesses() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") == "" {
			n++
		}
	}
	return n
}

// spawnSleepers starts n copies of sleep under distinct executable names
// (a few critical ones, so the candidate has processes to protect) and
// kills them when the benchmark ends.
func spawnSleepers(b *testing.B, n int) {
	b.Helper()
	sleep, err := exec.LookPath("sleep")
	require.NoError(b, err)
	src, err := os.ReadFile(sleep)
	require.NoError(b, err)
	dir := b.TempDir()
	critical := []string{"nginx", "postgres", "java", "redis", "kubelet"}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("fanout-load-%03d", i)
		if i < len(critical) {
			name = critical[i]
		}
		p := filepath.Join(dir, name)
		require.NoError(b, os.WriteFile(p, src, 0o755))
		cmd := exec.Command(p, "3600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		require.NoError(b, cmd.Start())
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
}
