package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/server"
	"github.com/phoenix/platform/internal/store/postgres/pgtest"
)

var (
	loadTest     = flag.Bool("load", false, "run the API load test (make loadtest)")
	loadRate     = flag.Int("load-rate", 1000, "requests per second, all endpoints together")
	loadDuration = flag.Duration("load-duration", 10*time.Second, "how long the measured attack lasts")
	loadWarmup   = flag.Duration("load-warmup", 2*time.Second, "how long an unmeasured attack at the same rate runs first")
	loadStore    = flag.String("load-store", "sqlite", "sqlite or postgres")
	loadMix      = flag.String("load-mix", "get=70,list=20,create=10", "weights of the endpoints in the attack")
	loadP99      = flag.Duration("load-p99", 10*time.Millisecond, "the p99 latency reads (get and list) must stay under; 0 only reports")
	loadWriteP99 = flag.Duration("load-write-p99", 50*time.Millisecond, "the p99 latency creates must stay under; 0 only reports")
)

// loadgenEnv names the plan file that turns the test binary into the load
// generator (TestLoadGenerator).
const loadgenEnv = "PHOENIX_LOADGEN_PLAN"

// The endpoints of the attack, by the names the mix uses.
const (
	epGet    = "get"
	epList   = "list"
	epCreate = "create"
)

var endpointRoutes = map[string]string{
	epGet:    "GET /api/v1/experiments/{id}",
	epList:   "GET /api/v1/experiments?limit=20",
	epCreate: "POST /api/v1/experiments",
}

// loadPlan is what the server side tells the generator process.
type loadPlan struct {
	BaseURL  string         `json:"base_url"`
	Key      string         `json:"key"`
	IDs      []string       `json:"ids"`
	Rate     int            `json:"rate"`
	Duration time.Duration  `json:"duration"`
	Warmup   time.Duration  `json:"warmup"`
	Mix      map[string]int `json:"mix"`
	Out      string         `json:"out"`
}

// loadReport is what the generator measured.
type loadReport struct {
	// Sent counts every request, the warm-up's too.
	Sent      int          `json:"sent"`
	Endpoints []loadResult `json:"endpoints"`
}

// loadResult is the generator's measurement of one endpoint.
type loadResult struct {
	Endpoint string        `json:"endpoint"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	P50      time.Duration `json:"p50"`
	P90      time.Duration `json:"p90"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
	Samples  []string      `json:"error_samples,omitempty"`
}

// TestLoad drives a real phoenix server with a fixed rate of mixed requests
// (get, list and create experiments) and prints p50/p99 latency and the
// error count per endpoint. The generator runs in a separate process (this
// test binary, re-executed as TestLoadGenerator), so the figures, and a
// -cpuprofile of this test, are the server's alone. It runs only with
// -load: go test ./internal/server -run '^TestLoad$' -load.
func TestLoad(t *testing.T) {
	if !*loadTest {
		t.Skip("load test: run with -load (make loadtest)")
	}
	mix, err := parseMix(*loadMix)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "error"
	if *loadStore == "postgres" {
		cfg.DatabaseURL = pgtest.DSN(t)
		cfg.DBSchema = pgtest.Schema(t, "phoenix_load_")
	}
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: io.Discard})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	key := srv.BootstrapKey
	require.NotEmpty(t, key)

	// Seed 1,000 experiments through the service.
	tenant := tenantOfKey(t, srv, key)
	var ids []string
	for i := 0; i < 1000; i++ {
		e, err := srv.Experiments().Create(ctx, experiment.CreateParams{TenantID: tenant, Name: fmt.Sprintf("load-%04d", i), Spec: loadSpec()})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}

	dir := t.TempDir()
	plan := loadPlan{
		BaseURL: "http://" + srv.Addr(), Key: key, IDs: ids[:200],
		Rate: *loadRate, Duration: *loadDuration, Warmup: *loadWarmup, Mix: mix,
		Out: filepath.Join(dir, "results.json"),
	}
	planFile := filepath.Join(dir, "plan.json")
	b, err := json.Marshal(plan)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(planFile, b, 0o600))

	gen := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoadGenerator$", "-test.count=1")
	gen.Env = append(os.Environ(), loadgenEnv+"="+planFile)
	cpu0 := processCPU(t)
	out, err := gen.CombinedOutput()
	cpu := processCPU(t) - cpu0
	require.NoError(t, err, "load generator: %s", out)
	b, err = os.ReadFile(plan.Out)
	require.NoError(t, err, "load generator wrote no results: %s", out)
	var report loadReport
	require.NoError(t, json.Unmarshal(b, &report))

	// The server's CPU time per request depends little on what else runs
	// on the machine, unlike the latencies; the load average and the CPU
	// pressure (the share of time some task waited for a CPU) tell how much
	// else did.
	perRequest := func(d time.Duration) time.Duration {
		return (d / time.Duration(max(1, report.Sent))).Round(time.Microsecond)
	}
	fmt.Printf("loadtest store=%s rate=%d/s duration=%s mix=%s cpus=%d loadavg=%s cpu_pressure=%s server_cpu=%s/request generator_cpu=%s/request\n",
		*loadStore, *loadRate, *loadDuration, *loadMix, runtime.NumCPU(), loadAverage(), cpuPressure(),
		perRequest(cpu), perRequest(gen.ProcessState.UserTime()+gen.ProcessState.SystemTime()))
	// Reads are held to the target; a create waits for its commits to
	// reach the disk (the experiment, its audit entry and its idempotency
	// record), so it has a bound of its own.
	limits := map[string]time.Duration{
		endpointRoutes[epGet]: *loadP99, endpointRoutes[epList]: *loadP99, endpointRoutes[epCreate]: *loadWriteP99,
	}
	for _, r := range report.Endpoints {
		fmt.Printf("loadtest store=%s %-34s requests=%d p50=%s p90=%s p99=%s max=%s errors=%d\n",
			*loadStore, r.Endpoint, r.Requests, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond),
			r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Errors)
		if r.Errors > 0 {
			t.Errorf("%s: %d errors, e.g. %v", r.Endpoint, r.Errors, r.Samples)
		}
		if limit := limits[r.Endpoint]; limit > 0 && r.P99 > limit {
			t.Errorf("%s: p99 %s is above the target %s", r.Endpoint, r.P99, limit)
		}
	}
	cancel()
	require.NoError(t, <-done)
}

// TestLoadGenerator is the load generator of TestLoad, which runs this test
// binary again with the plan file named by PHOENIX_LOADGEN_PLAN; without it
// the test is skipped.
func TestLoadGenerator(t *testing.T) {
	planFile := os.Getenv(loadgenEnv)
	if planFile == "" {
		t.Skip("the load generator runs only under TestLoad")
	}
	b, err := os.ReadFile(planFile)
	require.NoError(t, err)
	var plan loadPlan
	require.NoError(t, json.Unmarshal(b, &plan))

	// One client for the warm-up and the measured attack (an Attacker
	// serves one attack), with a bounded set of kept-alive connections.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, IdleConnTimeout: time.Minute,
	}}
	attack := func(d time.Duration, name string) <-chan *vegeta.Result {
		a := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(32))
		return a.Attack(mixedTargeter(plan), vegeta.Rate{Freq: plan.Rate, Per: time.Second}, d, name)
	}
	report := loadReport{}
	if plan.Warmup > 0 {
		for range attack(plan.Warmup, "warmup") {
			report.Sent++
		}
	}
	lat := map[string][]time.Duration{}
	results := map[string]*loadResult{}
	for res := range attack(plan.Duration, "load") {
		ep := endpointOf(res.Method, res.URL)
		r := results[ep]
		if r == nil {
			r = &loadResult{Endpoint: endpointRoutes[ep]}
			results[ep] = r
		}
		r.Requests++
		lat[ep] = append(lat[ep], res.Latency)
		if res.Error != "" || res.Code < 200 || res.Code > 299 {
			r.Errors++
			if len(r.Samples) < 3 {
				r.Samples = append(r.Samples, fmt.Sprintf("%d %s %s", res.Code, res.Error, bytes.TrimSpace(res.Body)))
			}
		}
	}
	all := &loadResult{Endpoint: "all"}
	var allLat []time.Duration
	for _, ep := range []string{epGet, epList, epCreate} {
		r := results[ep]
		if r == nil {
			continue
		}
		quantiles(r, lat[ep])
		report.Endpoints = append(report.Endpoints, *r)
		all.Requests += r.Requests
		all.Errors += r.Errors
		allLat = append(allLat, lat[ep]...)
	}
	quantiles(all, allLat)
	report.Endpoints = append(report.Endpoints, *all)
	report.Sent += all.Requests
	b, err = json.Marshal(report)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plan.Out, b, 0o600))
}

// mixedTargeter interleaves the endpoints by their weights (smooth weighted
// round robin), cycles GETs over the plan's experiments and gives every
// create a fresh name and Idempotency-Key.
func mixedTargeter(plan loadPlan) vegeta.Targeter {
	order := interleave(plan.Mix)
	read := http.Header{"Authorization": {"Bearer " + plan.Key}}
	body := func(n uint64) []byte {
		b, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("load-new-%d", n), "spec": loadSpec()})
		return b
	}
	var seq atomic.Uint64
	return func(tgt *vegeta.Target) error {
		n := seq.Add(1) - 1
		switch order[n%uint64(len(order))] {
		case epGet:
			*tgt = vegeta.Target{Method: "GET", URL: plan.BaseURL + "/api/v1/experiments/" + plan.IDs[n%uint64(len(plan.IDs))], Header: read}
		case epList:
			*tgt = vegeta.Target{Method: "GET", URL: plan.BaseURL + "/api/v1/experiments?limit=20", Header: read}
		default:
			*tgt = vegeta.Target{Method: "POST", URL: plan.BaseURL + "/api/v1/experiments", Body: body(n), Header: http.Header{
				"Authorization":   {"Bearer " + plan.Key},
				"Content-Type":    {"application/json"},
				"Idempotency-Key": {"load-" + strconv.FormatUint(n, 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
			}}
		}
		return nil
	}
}

func endpointOf(method, url string) string {
	switch {
	case method == "POST":
		return epCreate
	case strings.Contains(url, "?"):
		return epList
	default:
		return epGet
	}
}

// interleave spreads the endpoints over one period of the mix so each
// appears evenly, e.g. get=2,list=1 gives get, list, get.
func interleave(mix map[string]int) []string {
	names := make([]string, 0, len(mix))
	total := 0
	for name, w := range mix {
		names = append(names, name)
		total += w
	}
	slices.Sort(names)
	credit := map[string]int{}
	out := make([]string, 0, total)
	for range total {
		best := ""
		for _, name := range names {
			credit[name] += mix[name]
			if best == "" || credit[name] > credit[best] {
				best = name
			}
		}
		credit[best] -= total
		out = append(out, best)
	}
	return out
}

func parseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if _, known := endpointRoutes[name]; !ok || !known || err != nil || n < 0 {
			return nil, fmt.Errorf("load-mix: %q must be get=N, list=N or create=N", part)
		}
		if n > 0 {
			mix[name] = n
		}
	}
	if len(mix) == 0 {
		return nil, fmt.Errorf("load-mix: %q gives no endpoint a weight", s)
	}
	return mix, nil
}

// quantiles sets r's latency figures from the exact sorted latencies
// (nearest rank).
func quantiles(r *loadResult, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	r.P50, r.P90, r.P99, r.Max = at(0.50), at(0.90), at(0.99), lat[len(lat)-1]
}

// loadAverage is the machine's 1, 5 and 15 minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ",")
	}
	return "?"
}

// cpuPressure is the share of the last 10s in which some task waited for a
// CPU (Linux PSI), or "?".
func cpuPressure() string {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return "?"
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "avg10="); ok {
			return v + "%"
		}
	}
	return "?"
}

// processCPU is the CPU time this process (the server) has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadSpec() experiment.Spec {
	return experiment.Spec{
		Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
		Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
		Target:    experiment.Target{Hosts: []string{"web-1"}},
		Duration:  experiment.Duration(5 * time.Minute),
	}
}

func TestLoadMix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mix  string
		want []string
		err  bool
	}{
		{mix: "get=70,list=20,create=10", want: nil},
		{mix: "get=2,list=1", want: []string{epGet, epList, epGet}},
		{mix: "get=1, create=1, list=0", want: []string{epCreate, epGet}},
		{mix: "get=1,put=1", err: true},
		{mix: "get", err: true},
		{mix: "list=0", err: true},
	} {
		mix, err := parseMix(tc.mix)
		if tc.err {
			require.Error(t, err, tc.mix)
			continue
		}
		require.NoError(t, err, tc.mix)
		order := interleave(mix)
		counts := map[string]int{}
		for _, ep := range order {
			counts[ep]++
		}
		require.Equal(t, mix, counts, "each endpoint appears as often as its weight")
		if tc.want != nil {
			require.Equal(t, tc.want, order, tc.mix)
		}
	}
}
