package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/server"
	"github.com/phoenix/platform/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files and docs/cli.md")

// stuckDeployer never finishes deploying, so experiments stay where the
// tests put them; promotions succeed without a fleet.
type stuckDeployer struct{}

func (stuckDeployer) Deploy(context.Context, *experiment.Experiment) (experiment.DeployStatus, error) {
	return experiment.DeployStatus{Message: "waiting for agents"}, nil
}
func (stuckDeployer) Teardown(context.Context, *experiment.Experiment) error { return nil }
func (stuckDeployer) Promote(context.Context, *experiment.Experiment, string) (string, error) {
	return "", nil
}
func (stuckDeployer) Unpromote(context.Context, *experiment.Experiment, string) error { return nil }

// noAnalyzer has no measurements to analyse.
type noAnalyzer struct{}

func (noAnalyzer) Analyze(context.Context, *experiment.Experiment, bool) (*experiment.Analysis, error) {
	return nil, errors.New("no measurements in this test")
}

// testEnv is a real phoenix server (SQLite in a temporary directory) and
// the environment the CLI runs in against it.
type testEnv struct {
	t      *testing.T
	srv    *server.Server
	key    string
	tenant string
	vars   map[string]string
	now    time.Time
	// terminal is what the CLI is told about its output.
	terminal func(w any) (bool, int)
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, nil)
}

// newTestEnvWith is newTestEnv with the server configuration adjusted by
// tweak (nil: the defaults).
func newTestEnvWith(t *testing.T, tweak func(*server.Config)) *testEnv {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: io.Discard, Deployer: stuckDeployer{}, Analyzer: noAnalyzer{}})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("server did not shut down")
		}
	})
	k, err := srv.Store().APIKeyGetByHash(ctx, auth.HashSecret(srv.BootstrapKey))
	require.NoError(t, err)
	home := t.TempDir()
	return &testEnv{
		t: t, srv: srv, key: srv.BootstrapKey, tenant: k.TenantID,
		vars: map[string]string{
			"HOME":    home,
			envServer: "http://" + srv.Addr(),
			envAPIKey: srv.BootstrapKey,
		},
		now:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		terminal: func(any) (bool, int) { return false, 0 },
	}
}

// offlineEnv is an environment without a server.
func offlineEnv(t *testing.T) *testEnv {
	return &testEnv{t: t, vars: map[string]string{"HOME": t.TempDir()}, now: time.Now(),
		terminal: func(any) (bool, int) { return false, 0 }}
}

func (te *testEnv) env() *env {
	return &env{
		getenv:   func(k string) string { return te.vars[k] },
		now:      func() time.Time { return te.now },
		terminal: te.terminal,
	}
}

// result is one run of the phoenix command.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
	err    error
}

// run runs phoenix with args, as main does: errors are printed after
// "Error:" and mapped to the exit code.
func (te *testEnv) run(args ...string) result {
	return te.runIn("", args...)
}

func (te *testEnv) runIn(stdin string, args ...string) result {
	te.t.Helper()
	var out, errb bytes.Buffer
	err := te.execute(context.Background(), strings.NewReader(stdin), &out, &errb, args...)
	return result{args: args, stdout: out.String(), stderr: errb.String(), code: ExitCode(err), err: err}
}

func (te *testEnv) execute(ctx context.Context, in io.Reader, out, errOut io.Writer, args ...string) error {
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(withEnv(ctx, te.env()))
	if err != nil {
		fmt.Fprintln(errOut, "Error:", err)
	}
	return err
}

// session records a transcript of commands for a golden file.
type session struct {
	te  *testEnv
	buf strings.Builder
}

func (te *testEnv) session() *session { return &session{te: te} }

// run runs a command, records it and returns its result.
func (s *session) run(args ...string) result {
	s.te.t.Helper()
	return s.record(s.te.run(args...))
}

func (s *session) runIn(stdin string, args ...string) result {
	s.te.t.Helper()
	return s.record(s.te.runIn(stdin, args...))
}

func (s *session) record(r result) result {
	fmt.Fprintf(&s.buf, "$ phoenix %s\n", quoteArgs(r.args))
	s.buf.WriteString(r.stdout)
	if r.stderr != "" {
		s.buf.WriteString("[stderr]\n")
		s.buf.WriteString(r.stderr)
	}
	fmt.Fprintf(&s.buf, "[exit %d]\n\n", r.code)
	return r
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"|$()^*") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

var (
	uuidRE    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE    = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?`)
	secretRE  = regexp.MustCompile(`phxa?_[A-Za-z0-9_\-]+`)
	reqIDRE   = regexp.MustCompile(`("request_id": "|request id: )[^"\s]+`)
	goRE      = regexp.MustCompile(`go1\.\d+(\.\d+)?`)
	prefixRE  = regexp.MustCompile(`("prefix": "|prefix: )[^"\s]+`)
	addressRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	tempDirRE = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/Test[^/\s]+/\d+`)
)

// mask replaces what changes from run to run: IDs (numbered in order of
// appearance), times, secrets, request IDs, the server's address.
func mask(s string) string {
	ids := map[string]string{}
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if m, ok := ids[id]; ok {
			return m
		}
		ids[id] = fmt.Sprintf("<ID%d>", len(ids)+1)
		return ids[id]
	})
	s = timeRE.ReplaceAllString(s, "<TIME>")
	s = tempDirRE.ReplaceAllString(s, "<DIR>")
	s = secretRE.ReplaceAllString(s, "<SECRET>")
	s = reqIDRE.ReplaceAllString(s, "${1}<REQUEST>")
	s = prefixRE.ReplaceAllString(s, "${1}<PREFIX>")
	s = goRE.ReplaceAllString(s, "<GO>")
	return addressRE.ReplaceAllString(s, "<SERVER>")
}

// golden compares got with testdata/<name>.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/cli -update to create %s", path)
	require.Equal(t, string(want), got, "golden file %s differs; rewrite it with -update if the change is intended", path)
}

func (s *session) golden(name string) {
	s.te.t.Helper()
	golden(s.te.t, name, mask(s.buf.String()))
}

// syncBuffer is a buffer written and read by different goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// transition moves an experiment through the store, as the controller
// would.
func (te *testEnv) transition(id, from, to string, at time.Time, result json.RawMessage) {
	te.t.Helper()
	_, _, err := te.srv.Store().ExperimentTransition(context.Background(), &store.ExperimentTransitionParams{
		TenantID: te.tenant, ID: id, From: from, To: to, Actor: "controller", Reason: "test: " + to, At: at,
		SetStarted: to == "running", SetEnded: to == "completed" || to == "failed" || to == "cancelled", Result: result,
	})
	require.NoError(te.t, err)
}

// setResult stores an interim analysis, as the controller does.
func (te *testEnv) setResult(id string, result json.RawMessage) {
	te.t.Helper()
	_, err := te.srv.Store().ExperimentSetResult(context.Background(), &store.ExperimentSetResultParams{TenantID: te.tenant, ID: id, Result: result})
	require.NoError(te.t, err)
}

// createExperiment creates a draft through the CLI and returns its ID.
func (te *testEnv) createExperiment(name string, extra ...string) string {
	te.t.Helper()
	args := append([]string{"experiment", "create", "--name", name, "--baseline", "process-baseline-v1",
		"--candidate", "process-topk-v1", "--hosts", "web-1,web-2", "--duration", "5m", "-o", "json"}, extra...)
	r := te.run(args...)
	require.Equal(te.t, 0, r.code, r.stderr)
	var e struct{ ID string }
	require.NoError(te.t, json.Unmarshal([]byte(r.stdout), &e))
	return e.ID
}

// testReport is an analysis report with realistic figures.
func testReport(verdict string, final bool, start time.Time) json.RawMessage {
	eff := func(est, lo, hi, cslo, cshi float64) *analysis.Effect {
		return &analysis.Effect{Pairs: 40, Estimate: analysis.Float(est),
			CI: analysis.Range{Lo: analysis.Float(lo), Hi: analysis.Float(hi)}, BootstrapCI: analysis.Range{Lo: analysis.Float(lo), Hi: analysis.Float(hi)},
			SequentialCS: analysis.Range{Lo: analysis.Float(cslo), Hi: analysis.Float(cshi)}, PT: 0.00002, PWilcoxon: 0.0001}
	}
	r := analysis.Report{
		Verdict: verdict, Decided: final, Final: final,
		Explanation: "The candidate sends 62.5% fewer output series (95% CI 58.0% to 66.0%), keeps every critical process and adds 0.0010 cores.",
		Reasons:     []string{"output series reduced by 62.5%, more than the 20.0% required", "all 3 critical processes kept on every host"},
		Window:      analysis.Window{Start: start, End: start.Add(2 * time.Minute), ElapsedSeconds: 120, MinRuntimeElapsed: final},
		Criteria:    analysis.Criteria{MinReduction: 0.2, MaxOverhead: 0.05, CriticalRetention: 1, ConfidenceLevel: 0.95, MinRuntimeSeconds: 180},
		Hosts:       analysis.Hosts{Expected: []string{"web-1", "web-2"}, Used: []string{"web-1", "web-2"}, Unpaired: []string{}, Missing: []string{}, Fleet: 120},
		Pairs:       40,
		KPIs: []analysis.KPI{
			{Name: analysis.KPIOutputSeries, Unit: "series", Baseline: 1200, Candidate: 450, Reduction: eff(0.625, 0.58, 0.66, 0.55, 0.68)},
			{Name: analysis.KPIDatapoints, Unit: "datapoints/min", Baseline: 8400, Candidate: 3150, Reduction: eff(0.625, 0.58, 0.66, 0.55, 0.68)},
			{Name: analysis.KPIBytes, Unit: "bytes/min", Baseline: 1.26e6, Candidate: 472500, Reduction: eff(0.625, 0.58, 0.66, 0.55, 0.68)},
			{Name: analysis.KPIProcessing, Unit: "cores", Baseline: 0.012, Candidate: 0.013},
			{Name: analysis.KPIInputSeries, Unit: "series", Baseline: 1210, Candidate: 1210},
		},
		Critical: analysis.Critical{Measured: true, Expected: 3, RetentionBaseline: 1, RetentionCandidate: 1, Required: 1, Lost: []analysis.LostProcess{}, LostProcesses: []string{}},
		Overhead: analysis.Overhead{Measured: true, Max: 0.05, Extra: *eff(0.001, -0.0002, 0.0021, -0.0005, 0.003), Relative: 0.083},
		Cost: []analysis.CostEstimate{{
			Pricing: analysis.Pricing{Name: "per-gb-ingest", Model: analysis.ModelPerGB, UnitPrice: 0.3, FreeTier: 100, Currency: "USD"}, Hosts: 120,
			BaselineUnits: 6622.56, CandidateUnits: 2483.46, BaselineMonthly: 1956.77, CandidateMonthly: 715.04,
			Saving: 1241.73, SavingFraction: 0.6346, SavingRange: analysis.Range{Lo: 1152.34, Hi: 1311.25},
		}},
		PerHost: []analysis.HostReport{},
		Method:  analysis.Method{Test: "paired t-test on log ratios", Resamples: 2000, Seed: "x", MixtureScale: 1, WilcoxonExactMax: 50, RateWindowSeconds: 60},
	}
	if !final {
		r.Needs = []string{analysis.NeedMoreTime}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	if final {
		return b
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["interim"] = true
	b, _ = json.Marshal(m)
	return b
}
