package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/metrics"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	testTenant = "tenant-1"
	testExp    = "exp-42"
)

// host returns a well-behaved host: 3,000 series, the candidate 60% fewer
// with 3% noise, 2 ms of processing per second more, all critical
// processes kept.
func host(name string) hostSim {
	return hostSim{
		name: name, series: 3000, reduction: 0.6, noise: 0.03,
		procBase: 0.004, procCand: 0.006, critical: []string{"nginx", "postgres"},
	}
}

func newExperiment(hosts []string, dur time.Duration) *experiment.Experiment {
	start := t0
	return &experiment.Experiment{
		ID: testExp, TenantID: testTenant, Name: "topk vs baseline",
		State: experiment.StateRunning, StartedAt: &start,
		Spec: experiment.Spec{
			Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
			Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
			Target:    experiment.Target{Hosts: hosts},
			Duration:  experiment.Duration(dur),
		},
	}
}

// run simulates hosts for dur, then analyses at now.
func run(t testing.TB, hosts []hostSim, targets []string, dur, now time.Duration, final bool, set Settings) (*Report, *experiment.Analysis, *fakeSource) {
	t.Helper()
	src := newFakeSource()
	sim{tenant: testTenant, experiment: testExp, start: t0, duration: dur, scrape: 10 * time.Second, seed: 5, hosts: hosts}.into(src)
	if set.Now == nil {
		set.Now = func() time.Time { return t0.Add(now) }
	}
	a, err := New(src, Config{}, set)
	require.NoError(t, err)
	exp := newExperiment(targets, dur)
	an, err := a.Analyze(context.Background(), exp, final)
	require.NoError(t, err)
	var r Report
	require.NoError(t, json.Unmarshal(an.Report, &r))
	require.Equal(t, an.Verdict, r.Verdict)
	require.Equal(t, an.Decided, r.Decided)
	return &r, an, src
}

func kpi(t testing.TB, r *Report, name string) KPI {
	t.Helper()
	for _, k := range r.KPIs {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no KPI %s", name)
	return KPI{}
}

func TestAnalyzePromote(t *testing.T) {
	t.Parallel()
	r, an, src := run(t, []hostSim{host("host-a"), host("host-b")}, []string{"host-a", "host-b"},
		10*time.Minute, 11*time.Minute, true, Settings{
			FleetSize: func(context.Context, *experiment.Experiment) (int, error) { return 200, nil },
			Disconnected: func(context.Context, *experiment.Experiment) ([]DisconnectedHost, error) {
				return []DisconnectedHost{{Host: "host-b", LastSeenAt: t0.Add(9 * time.Minute)}}, nil
			},
		})
	require.Equal(t, experiment.VerdictPromote, an.Verdict, r.Explanation)
	require.Equal(t, []DisconnectedHost{{Host: "host-b", LastSeenAt: t0.Add(9 * time.Minute)}}, r.Hosts.Disconnected)
	require.Contains(t, r.Explanation, "Disconnected mid-experiment: host-b (last seen "+t0.Add(9*time.Minute).UTC().Format(time.RFC3339)+"); their data up to then is used.")
	require.True(t, an.Decided)
	require.True(t, strings.HasPrefix(r.Explanation, "Promote: output series reduced by 60."), r.Explanation)
	require.Empty(t, r.Needs)

	// 10 minutes at 10 s: 61 steps per host; the first scrape lands 1 s
	// after the start, so the step at the start has no sample yet.
	require.Equal(t, 120, r.Pairs)
	require.Equal(t, []string{"host-a", "host-b"}, r.Hosts.Used)
	require.Empty(t, r.Hosts.Missing)
	require.Equal(t, 200, r.Hosts.Fleet)
	require.Equal(t, t0.Add(10*time.Minute), r.Window.End)

	series := kpi(t, r, KPIOutputSeries)
	require.InDelta(t, 3000, float64(series.Baseline), 30)
	require.InDelta(t, 1200, float64(series.Candidate), 20)
	red := series.Reduction
	require.InDelta(t, 0.6, float64(red.Estimate), 0.01)
	require.True(t, red.CI.interval().Contains(0.6), "%+v", red.CI)
	require.True(t, red.BootstrapCI.interval().Contains(float64(red.Estimate)))
	require.True(t, red.SequentialCS.interval().Contains(float64(red.Estimate)))
	require.Less(t, float64(red.CI.Hi-red.CI.Lo), float64(red.SequentialCS.Hi-red.SequentialCS.Lo), "the confidence sequence pays for peeking")
	require.Less(t, float64(red.PT), 1e-10)
	require.Less(t, float64(red.PWilcoxon), 1e-10)
	require.False(t, red.WilcoxonExact)
	require.Less(t, float64(red.PSequential), 1e-6)
	require.Less(t, float64(red.PSequentialCriterion), 1e-6)

	// Data points and bytes follow the series (one point per series per
	// scrape, 42 bytes each): 3000 series -> 18,000 points a minute.
	dps := kpi(t, r, KPIDatapoints)
	require.InDelta(t, 18000, float64(dps.Baseline), 300)
	require.InDelta(t, 0.6, float64(dps.Reduction.Estimate), 0.01)
	bytes := kpi(t, r, KPIBytes)
	require.InDelta(t, 42*float64(dps.Baseline), float64(bytes.Baseline), 1e-6*float64(bytes.Baseline))
	require.Nil(t, kpi(t, r, KPIInputSeries).Reduction)
	require.Equal(t, kpi(t, r, KPIInputSeries).Baseline, kpi(t, r, KPIInputSeries).Candidate, "one scrape feeds both")

	require.True(t, r.Overhead.Measured)
	require.InDelta(t, 0.002, float64(r.Overhead.Extra.Estimate), 0.0005)
	require.Less(t, float64(r.Overhead.Extra.CI.Hi), r.Criteria.MaxOverhead)
	require.InDelta(t, 0.5, float64(r.Overhead.Relative), 0.1)

	require.True(t, r.Critical.Measured)
	require.Equal(t, Float(1), r.Critical.RetentionCandidate)
	require.Equal(t, Float(2), r.Critical.Expected)
	require.Empty(t, r.Critical.Lost)

	require.Len(t, r.Cost, len(DefaultPricing()))
	for _, c := range r.Cost {
		require.Equal(t, 200, c.Hosts)
		require.Greater(t, float64(c.Saving), 0.0, c.Name)
		require.LessOrEqual(t, float64(c.SavingRange.Lo), float64(c.Saving), c.Name)
		require.GreaterOrEqual(t, float64(c.SavingRange.Hi), float64(c.Saving), c.Name)
	}
	require.Contains(t, r.Explanation, "Estimated saving")
	require.Len(t, r.PerHost, 2)
	for _, h := range r.PerHost {
		require.Equal(t, 60, h.Pairs)
		require.Len(t, h.KPIs, 5)
		for _, k := range h.KPIs[:3] { // series, data points, bytes
			require.InDelta(t, 0.6, float64(k.Estimate), 0.02, k.Name)
			require.True(t, k.CI.interval().Contains(float64(k.Estimate)), k.Name)
		}
		require.Equal(t, KPIProcessing, h.KPIs[3].Name)
		require.InDelta(t, 0.002, float64(h.KPIs[3].Estimate), 0.0005)
		require.Equal(t, KPIInputSeries, h.KPIs[4].Name)
		require.True(t, math.IsNaN(float64(h.KPIs[4].Estimate)))
		require.Equal(t, Float(1), h.RetentionCandidate)
	}

	// Every query is scoped to the tenant and the experiment.
	qs := src.issued()
	require.Len(t, qs, 8)
	for _, q := range qs {
		require.Contains(t, q, `tenant="tenant-1"`)
		require.Contains(t, q, `experiment="exp-42"`)
	}
}

func TestAnalyzeInterim(t *testing.T) {
	t.Parallel()
	hosts := []hostSim{host("host-a"), host("host-b")}
	targets := []string{"host-a", "host-b"}
	// Before the minimum runtime (3 minutes) the sequential rule may see
	// the win but must not decide.
	r, an, _ := run(t, hosts, targets, 10*time.Minute, 2*time.Minute, false, Settings{})
	require.False(t, r.Final)
	require.False(t, r.Window.MinRuntimeElapsed)
	require.Equal(t, t0.Add(2*time.Minute), r.Window.End)
	require.False(t, an.Decided)
	require.Contains(t, r.Explanation, "minimum runtime has not elapsed")

	// After it, a clear win is decided early.
	r, an, _ = run(t, hosts, targets, 10*time.Minute, 4*time.Minute, false, Settings{})
	require.True(t, r.Window.MinRuntimeElapsed)
	require.Equal(t, experiment.VerdictPromote, an.Verdict, r.Explanation)
	require.True(t, an.Decided)
	require.Contains(t, r.Explanation, "always-valid CS")
	require.Equal(t, 2*24, r.Pairs)
}

func TestAnalyzeRejectLostCritical(t *testing.T) {
	t.Parallel()
	a := host("host-a")
	a.critical = []string{"nginx", "postgres", "java"}
	a.bothMiss = []string{"java"} // neither variant has it: not the candidate's loss
	a.lostFrom = 4 * time.Minute
	b := host("host-b")
	b.lost = []string{"nginx"}
	b.lostFrom = 4 * time.Minute
	for _, final := range []bool{true, false} {
		r, an, _ := run(t, []hostSim{a, b}, []string{"host-a", "host-b"}, 10*time.Minute, 11*time.Minute, final, Settings{})
		require.Equal(t, experiment.VerdictReject, an.Verdict)
		require.True(t, an.Decided, "a lost critical process settles the verdict, final=%v", final)
		require.Equal(t, []string{"nginx"}, r.Critical.LostProcesses)
		require.Len(t, r.Critical.Lost, 1)
		lost := r.Critical.Lost[0]
		require.Equal(t, "host-b", lost.Host)
		require.Equal(t, 36, lost.Intervals) // scrapes from 4m01s on: steps 4m10s..10m
		require.Equal(t, t0.Add(4*time.Minute+10*time.Second), lost.First)
		require.Equal(t, t0.Add(10*time.Minute), lost.Last)
		require.True(t, strings.HasPrefix(r.Explanation, "Reject: the candidate lost critical processes the baseline kept: nginx (host-b, 36 intervals)"), r.Explanation)
		require.NotContains(t, r.Explanation, "java")
		require.Less(t, float64(r.Critical.RetentionCandidate), 1.0)
		require.Less(t, float64(r.Critical.RetentionBaseline), 1.0, "java was missing in both")
		require.Contains(t, r.Explanation, "critical retention")
		for _, h := range r.PerHost {
			if h.Host == "host-b" {
				require.Equal(t, []string{"nginx"}, h.Lost)
				require.Less(t, float64(h.RetentionCandidate), 1.0)
			} else {
				require.Empty(t, h.Lost)
			}
		}
	}
}

func TestAnalyzeInconclusive(t *testing.T) {
	t.Parallel()
	// A candidate that cuts exactly the required 20%, noisily: the interval
	// straddles the criterion.
	a, b := host("host-a"), host("host-b")
	a.reduction, b.reduction = 0.2, 0.2
	a.noise, b.noise = 0.08, 0.08
	r, an, _ := run(t, []hostSim{a, b}, []string{"host-a", "host-b"}, 5*time.Minute, 6*time.Minute, true, Settings{})
	require.Equal(t, experiment.VerdictInconclusive, an.Verdict, r.Explanation)
	require.False(t, an.Decided)
	red := kpi(t, r, KPIOutputSeries).Reduction
	require.True(t, red.CI.interval().Contains(0.2), "%+v", red.CI)
	require.Equal(t, []string{NeedMoreTime}, r.Needs)
	require.True(t, strings.HasPrefix(r.Explanation, "Inconclusive: output series reduced by"), r.Explanation)
	require.Contains(t, r.Explanation, "the interval includes the required 20.0%")
	require.Contains(t, r.Explanation, "Needs: more time")
}

func TestAnalyzeMissingHost(t *testing.T) {
	t.Parallel()
	u := host("host-u")
	u.baselineOnly = true
	targets := []string{"host-a", "host-b", "host-c", "host-u"}
	r, an, _ := run(t, []hostSim{host("host-a"), host("host-b"), u}, targets, 10*time.Minute, 11*time.Minute, true, Settings{})
	require.Equal(t, experiment.VerdictPromote, an.Verdict, r.Explanation)
	require.Equal(t, targets, r.Hosts.Expected)
	require.Equal(t, []string{"host-a", "host-b"}, r.Hosts.Used)
	require.Equal(t, []string{"host-u"}, r.Hosts.Unpaired)
	require.Equal(t, []string{"host-c"}, r.Hosts.Missing)
	require.Equal(t, 4, r.Hosts.Fleet, "fleet defaults to the target hosts")
	require.Contains(t, r.Explanation, "No data from host-c.")
	require.Contains(t, r.Reasons, "no data from target hosts host-c")
	require.Contains(t, r.Reasons, "hosts host-u sent data for one variant only")

	// When the evidence is short, the missing host is part of what is needed.
	a, b := host("host-a"), host("host-b")
	a.reduction, b.reduction = 0.2, 0.2
	a.noise, b.noise = 0.08, 0.08
	r, an, _ = run(t, []hostSim{a, b}, []string{"host-a", "host-b", "host-c"}, 5*time.Minute, 6*time.Minute, true, Settings{})
	require.Equal(t, experiment.VerdictInconclusive, an.Verdict)
	require.Equal(t, []string{NeedMoreHosts, NeedMoreTime}, r.Needs)
	require.Contains(t, r.Explanation, "more hosts")
}

func TestAnalyzeRejectByCriteria(t *testing.T) {
	t.Parallel()
	slow := host("host-a")
	slow.procCand = 0.3 // 0.3 cores more than the baseline's 0.004
	small := host("host-a")
	small.reduction = 0.05
	for _, c := range []struct {
		name string
		h    hostSim
		want string
	}{
		{"overhead", slow, "exceeds the maximum 0.05"},
		{"reduction", small, "below the required 20.0%"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, an, _ := run(t, []hostSim{c.h}, []string{"host-a"}, 10*time.Minute, 11*time.Minute, true, Settings{})
			require.Equal(t, experiment.VerdictReject, an.Verdict)
			require.True(t, an.Decided)
			require.Contains(t, r.Explanation, c.want)
		})
	}
}

func TestAnalyzeNoCriticalGauges(t *testing.T) {
	t.Parallel()
	a := host("host-a")
	a.noCritical = true
	r, an, _ := run(t, []hostSim{a}, []string{"host-a"}, 10*time.Minute, 11*time.Minute, true, Settings{})
	require.Equal(t, experiment.VerdictInconclusive, an.Verdict)
	require.Equal(t, []string{NeedCriticalData}, r.Needs)
	require.False(t, r.Critical.Measured)
	require.True(t, math.IsNaN(float64(r.Critical.RetentionCandidate)))
}

func TestAnalyzeNoData(t *testing.T) {
	t.Parallel()
	r, an, _ := run(t, nil, []string{"host-a"}, 10*time.Minute, 11*time.Minute, true, Settings{})
	require.Equal(t, experiment.VerdictInconclusive, an.Verdict)
	require.False(t, an.Decided)
	require.Zero(t, r.Pairs)
	require.Equal(t, []string{"host-a"}, r.Hosts.Missing)
	require.ElementsMatch(t, []string{NeedData, NeedCriticalData, NeedOverheadData}, r.Needs)
	require.Contains(t, string(an.Report), `"estimate":null`)
	require.NotContains(t, r.Explanation, "Estimated saving")
}

func TestAnalyzeTenantIsolation(t *testing.T) {
	t.Parallel()
	src := newFakeSource()
	good := sim{tenant: testTenant, experiment: testExp, start: t0, duration: 10 * time.Minute, scrape: 10 * time.Second, seed: 5,
		hosts: []hostSim{host("host-a")}}
	good.into(src)
	// Same experiment ID and host in another tenant, and another
	// experiment of this tenant: a candidate that keeps everything and
	// loses nginx. Neither may leak in.
	bad := host("host-a")
	bad.reduction = 0
	bad.lost = []string{"nginx"}
	sim{tenant: "tenant-2", experiment: testExp, start: t0, duration: 10 * time.Minute, scrape: 10 * time.Second, seed: 6, hosts: []hostSim{bad}}.into(src)
	sim{tenant: testTenant, experiment: "exp-43", start: t0, duration: 10 * time.Minute, scrape: 10 * time.Second, seed: 7, hosts: []hostSim{bad}}.into(src)
	a, err := New(src, Config{}, Settings{Now: func() time.Time { return t0.Add(time.Hour) }})
	require.NoError(t, err)
	r, err := a.Report(context.Background(), newExperiment([]string{"host-a"}, 10*time.Minute), true)
	require.NoError(t, err)
	require.Equal(t, experiment.VerdictPromote, r.Verdict, r.Explanation)
	require.Empty(t, r.Critical.Lost)
	require.Equal(t, 60, r.Pairs)
}

func TestAnalyzeReproducible(t *testing.T) {
	t.Parallel()
	_, a1, _ := run(t, []hostSim{host("host-a")}, []string{"host-a"}, 5*time.Minute, 6*time.Minute, true, Settings{})
	_, a2, _ := run(t, []hostSim{host("host-a")}, []string{"host-a"}, 5*time.Minute, 6*time.Minute, true, Settings{})
	require.JSONEq(t, string(a1.Report), string(a2.Report))
}

func TestAnalyzePricingSettings(t *testing.T) {
	t.Parallel()
	custom := []Pricing{
		{Name: "contract", Model: ModelPerActiveSeries, UnitPrice: 0.01, Currency: "EUR"},
		{Name: "broken", Model: "per_moon"},
	}
	r, _, _ := run(t, []hostSim{host("host-a")}, []string{"host-a"}, 5*time.Minute, 6*time.Minute, true, Settings{
		Pricing: func(_ context.Context, tenant string) ([]Pricing, error) {
			require.Equal(t, testTenant, tenant)
			return custom, nil
		},
	})
	require.Len(t, r.Cost, 1)
	c := r.Cost[0]
	require.Equal(t, "contract", c.Name)
	series := kpi(t, r, KPIOutputSeries)
	require.InDelta(t, float64(series.Baseline)*0.01, float64(c.BaselineMonthly), 1e-9)
	require.InDelta(t, float64(series.Candidate)*0.01, float64(c.CandidateMonthly), 1e-9)
	require.Contains(t, r.CostError, `pricing[1]: model: "per_moon" is not one of`)
	require.Contains(t, r.Explanation, "EUR a month on 1 hosts (contract")

	r, _, _ = run(t, []hostSim{host("host-a")}, []string{"host-a"}, 5*time.Minute, 6*time.Minute, true, Settings{
		Pricing: func(context.Context, string) ([]Pricing, error) {
			return []Pricing{{Name: "generous", Model: ModelPerActiveSeries, UnitPrice: 0.01, FreeTier: 1e6}}, nil
		},
	})
	require.Zero(t, float64(r.Cost[0].Saving))
	require.Contains(t, r.Explanation, "Both variants stay within the free tiers of every pricing profile on 1 hosts.")

	r, _, _ = run(t, []hostSim{host("host-a")}, []string{"host-a"}, 5*time.Minute, 6*time.Minute, true, Settings{
		Pricing: func(context.Context, string) ([]Pricing, error) { return nil, errors.New("store down") },
	})
	require.Empty(t, r.Cost)
	require.Equal(t, "read pricing of tenant tenant-1: store down", r.CostError)
}

func TestAnalyzeErrors(t *testing.T) {
	t.Parallel()
	src := newFakeSource()
	src.err = errors.New("connection refused")
	a, err := New(src, Config{}, Settings{})
	require.NoError(t, err)
	ctx := context.Background()

	_, err = a.Analyze(ctx, nil, true)
	require.EqualError(t, err, "analyze: nil experiment")

	exp := newExperiment([]string{"host-a"}, 10*time.Minute)
	exp.StartedAt = nil
	_, err = a.Analyze(ctx, exp, true)
	require.EqualError(t, err, "analyze experiment exp-42: not started")

	exp = newExperiment([]string{"host-a"}, 10*time.Minute)
	_, err = a.Analyze(ctx, exp, true)
	require.ErrorContains(t, err, "analyze experiment exp-42: query sum by (host, variant) (phoenix_pipeline_output_series")
	require.ErrorContains(t, err, "connection refused")

	src.err = metrics.ErrBadQuery
	_, err = a.Analyze(ctx, exp, true)
	require.ErrorIs(t, err, metrics.ErrBadQuery)

	_, err = New(nil, Config{}, Settings{})
	require.EqualError(t, err, "new analyzer: nil metrics source")
	_, err = New(src, Config{Step: time.Millisecond}, Settings{})
	require.ErrorContains(t, err, "new analyzer: step: 1ms is shorter than 1s")
}

func TestStepFor(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	for _, tc := range []struct {
		window           time.Duration
		step, rateWindow time.Duration
	}{
		{time.Hour, 10 * time.Second, time.Minute},
		{27 * time.Hour, 10 * time.Second, time.Minute}, // 9,720 steps
		{30 * time.Hour, 20 * time.Second, time.Minute}, // 10,800 steps at 10 s
		{30 * 24 * time.Hour, 260 * time.Second, 520 * time.Second},
	} {
		step, rw := stepFor(tc.window, c)
		require.Equal(t, tc.step, step, tc.window)
		require.Equal(t, tc.rateWindow, rw, tc.window)
		require.LessOrEqual(t, int(tc.window/step)+1, MaxSteps+1, tc.window)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero is valid", Config{}, ""},
		{"custom", Config{Step: 15 * time.Second, RateWindow: 45 * time.Second, Resamples: 500, MixtureScale: 0.5}, ""},
		{"short step", Config{Step: 500 * time.Millisecond}, "step: 500ms is shorter than 1s"},
		{"rate window", Config{Step: 30 * time.Second, RateWindow: 45 * time.Second}, "rate_window: 45s must hold at least two steps of 30s"},
		{"resamples", Config{Resamples: 10}, "resamples: 10 is not between 100 and 100000"},
		{"mixture", Config{MixtureScale: -1}, "mixture_scale: -1 must be a finite number > 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, c.want)
		})
	}
	// A long step lengthens the default rate window.
	require.Equal(t, 2*time.Minute, Config{Step: time.Minute}.WithDefaults().RateWindow)
}
