package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/metrics"
)

// Defaults of a Config.
const (
	DefaultStep       = 10 * time.Second
	DefaultRateWindow = time.Minute
)

// Config tunes an Analyzer. The zero value is valid: every zero field takes
// its default.
type Config struct {
	// Step is the scrape interval of the meters and the step of the range
	// queries: one paired observation per host per step. Zero means
	// DefaultStep.
	Step time.Duration `json:"step" yaml:"step"`
	// RateWindow is the range of rate() over the counters; it must hold at
	// least two scrapes. Zero means DefaultRateWindow.
	RateWindow time.Duration `json:"rate_window" yaml:"rate_window"`
	// Resamples is the number of bootstrap resamples. Zero means
	// DefaultResamples.
	Resamples int `json:"resamples" yaml:"resamples"`
	// MixtureScale is the variance g of the normal mixing distribution of
	// the standardized effect in the sequential test. Zero means
	// DefaultMixtureScale.
	MixtureScale float64 `json:"mixture_scale" yaml:"mixture_scale"`
}

// WithDefaults returns c with every zero field at its default.
func (c Config) WithDefaults() Config {
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	if c.RateWindow == 0 {
		c.RateWindow = max(DefaultRateWindow, 2*c.Step)
	}
	if c.Resamples == 0 {
		c.Resamples = DefaultResamples
	}
	if c.MixtureScale == 0 {
		c.MixtureScale = DefaultMixtureScale
	}
	return c
}

// Validate checks c (after defaults); messages name the YAML key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.Step < time.Second {
		errs = append(errs, fmt.Errorf("step: %s is shorter than 1s", c.Step))
	}
	if c.RateWindow < 2*c.Step {
		errs = append(errs, fmt.Errorf("rate_window: %s must hold at least two steps of %s", c.RateWindow, c.Step))
	}
	if c.Resamples < 100 || c.Resamples > 100000 {
		errs = append(errs, fmt.Errorf("resamples: %d is not between 100 and 100000", c.Resamples))
	}
	if !(c.MixtureScale > 0) || math.IsInf(c.MixtureScale, 0) {
		errs = append(errs, fmt.Errorf("mixture_scale: %v must be a finite number > 0", c.MixtureScale))
	}
	return errors.Join(errs...)
}

// MaxSteps is the largest number of evaluation times of one range query.
// Prometheus refuses more than 11,000 points per series; a window longer
// than MaxSteps scrape intervals (about 28 hours at 10 s) is analysed at a
// step that is a whole multiple of the scrape interval, which also bounds
// the memory of an analysis.
const MaxSteps = 10000

// stepFor returns the query step and rate window for a window of length w:
// the configured ones, or a multiple of the step that keeps the window
// within MaxSteps, with the rate window at least two steps.
func stepFor(w time.Duration, c Config) (step, rateWindow time.Duration) {
	step = c.Step
	if n := w / step; n >= MaxSteps {
		step *= n/MaxSteps + 1
	}
	return step, max(c.RateWindow, 2*step)
}

// Settings are the Analyzer's injected dependencies; nil fields take
// defaults.
type Settings struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Pricing returns a tenant's pricing profiles; nil means
	// DefaultPricing for every tenant.
	Pricing func(ctx context.Context, tenantID string) ([]Pricing, error)
	// FleetSize returns the number of hosts the experiment's target
	// matches, the fleet the costs are extrapolated to. Nil, an error, or
	// 0 fall back to the number of target hosts named in the spec, or else
	// the number of hosts with data.
	FleetSize func(ctx context.Context, exp *experiment.Experiment) (int, error)
	// Disconnected returns the experiment's target hosts whose agents
	// have all disconnected since it started; nil reports none. An error
	// is noted in the report's explanation, not fatal.
	Disconnected func(ctx context.Context, exp *experiment.Experiment) ([]DisconnectedHost, error)
}

// Analyzer reads an experiment's measurements from a metrics.Source and
// decides a verdict. It implements experiment.Analyzer and is safe for
// concurrent use.
type Analyzer struct {
	src metrics.Source
	cfg Config
	set Settings
}

var _ experiment.Analyzer = (*Analyzer)(nil)

// New returns an Analyzer over src.
func New(src metrics.Source, cfg Config, set Settings) (*Analyzer, error) {
	if src == nil {
		return nil, errors.New("new analyzer: nil metrics source")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new analyzer: %w", err)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Analyzer{src: src, cfg: cfg.WithDefaults(), set: set}, nil
}

// Analyze implements experiment.Analyzer: it analyses exp from its start
// to its deadline, or to now while it runs, and returns the verdict with
// the Report as JSON. final selects the fixed-horizon rule; otherwise the
// sequential rule decides (see Report). Errors come from the source.
func (a *Analyzer) Analyze(ctx context.Context, exp *experiment.Experiment, final bool) (*experiment.Analysis, error) {
	r, err := a.Report(ctx, exp, final)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode analysis of experiment %s: %w", exp.ID, err)
	}
	return &experiment.Analysis{Verdict: r.Verdict, Decided: r.Decided, Report: b}, nil
}

// Report analyses exp like Analyze and returns the Report itself.
func (a *Analyzer) Report(ctx context.Context, exp *experiment.Experiment, final bool) (*Report, error) {
	if exp == nil {
		return nil, errors.New("analyze: nil experiment")
	}
	if exp.StartedAt == nil {
		return nil, fmt.Errorf("analyze experiment %s: not started", exp.ID)
	}
	spec := exp.Spec.WithDefaults()
	crit := spec.Criteria
	if !(crit.ConfidenceLevel > 0 && crit.ConfidenceLevel < 1) {
		return nil, fmt.Errorf("analyze experiment %s: confidence level %v is not in (0, 1)", exp.ID, crit.ConfidenceLevel)
	}
	start := *exp.StartedAt
	end := exp.Deadline()
	if exp.EndedAt != nil && exp.EndedAt.Before(end) {
		end = *exp.EndedAt
	}
	if now := a.set.Now(); now.Before(end) {
		end = now
	}
	if end.Before(start) {
		end = start
	}

	step, rateWindow := stepFor(end.Sub(start), a.cfg)
	m, err := fetch(ctx, a.src, BuildQueries(exp.TenantID, exp.ID, rateWindow), start, end, step)
	if err != nil {
		return nil, fmt.Errorf("analyze experiment %s: %w", exp.ID, err)
	}

	r := &Report{
		Final: final,
		Window: Window{
			Start: start, End: end, ElapsedSeconds: end.Sub(start).Seconds(),
			MinRuntimeElapsed: end.Sub(start) >= crit.MinRuntime.Std(),
		},
		IntervalSeconds: step.Seconds(),
		Criteria: Criteria{
			MinReduction: crit.MinReduction, MaxOverhead: crit.MaxOverhead,
			CriticalRetention: crit.CriticalRetention, ConfidenceLevel: crit.ConfidenceLevel,
			MinRuntimeSeconds: crit.MinRuntime.Std().Seconds(),
		},
		Method: Method{
			Test:              "paired t on log(candidate/baseline) per host and interval; Wilcoxon signed-rank; percentile bootstrap; normal-mixture sequential t-test",
			Resamples:         a.cfg.Resamples,
			Seed:              exp.ID,
			MixtureScale:      a.cfg.MixtureScale,
			WilcoxonExactMax:  WilcoxonExactMax,
			RateWindowSeconds: rateWindow.Seconds(),
		},
	}
	opts := statOptions{level: crit.ConfidenceLevel, g: a.cfg.MixtureScale, resamples: a.cfg.Resamples, seed: exp.ID}
	criterion := math.Log1p(-crit.MinReduction)

	// Output KPIs.
	series := pairUp(m.outputSeries, m.grid)
	dps := pairUp(m.datapoints, m.grid)
	bytes := pairUp(m.bytes, m.grid)
	proc := pairUp(m.processing, m.grid)
	input := pairUp(m.inputSeries, m.grid)
	r.Pairs = len(series.base)
	effects := map[string]*Effect{}
	kpiPairs := []kpiData{
		{KPIOutputSeries, "series", series, true},
		{KPIDatapoints, "data points/min", dps, true},
		{KPIBytes, "bytes/min", bytes, true},
		{KPIProcessing, "cores", proc, false},
		{KPIInputSeries, "series", input, false},
	}
	for _, k := range kpiPairs {
		b, c := variantMeans(k.p)
		kpi := KPI{Name: k.name, Unit: k.unit, Baseline: Float(b), Candidate: Float(c)}
		if k.ratio {
			e := ratioEffect(k.name, k.p, criterion, opts)
			kpi.Reduction = &e
			effects[k.name] = &e
		}
		r.KPIs = append(r.KPIs, kpi)
	}

	// Overhead.
	r.Overhead = Overhead{Measured: len(proc.base) >= 2, Max: crit.MaxOverhead, Relative: Float(math.NaN())}
	r.Overhead.Extra = differenceEffect(KPIProcessing, proc, crit.MaxOverhead, opts)
	if b, c := variantMeans(proc); b > 0 {
		r.Overhead.Relative = Float(c/b - 1)
	}

	// Critical processes.
	cs := summarizeCritical(m)
	r.Critical = Critical{
		Measured:           cs.measured,
		Expected:           Float(math.NaN()),
		RetentionBaseline:  Float(retention(cs.all.expected[0], cs.all.retained[0])),
		RetentionCandidate: Float(retention(cs.all.expected[1], cs.all.retained[1])),
		Required:           crit.CriticalRetention,
		Lost:               cs.lost,
	}
	if cs.all.n[0] == 0 {
		r.Critical.RetentionBaseline = Float(math.NaN())
	}
	if cs.measured {
		r.Critical.Expected = Float(cs.all.expected[1] / float64(cs.all.n[1]))
	} else {
		r.Critical.RetentionCandidate = Float(math.NaN())
	}
	for _, l := range cs.lost {
		r.Critical.LostProcesses = append(r.Critical.LostProcesses, l.Process)
	}
	r.Critical.LostProcesses = slices.Compact(r.Critical.LostProcesses)
	if r.Critical.Lost == nil {
		r.Critical.Lost = []LostProcess{}
		r.Critical.LostProcesses = []string{}
	}

	// Hosts.
	used, unpaired, missing := hostCoverage(spec.Target.Hosts, m, series)
	r.Hosts = Hosts{Expected: nonNil(spec.Target.Hosts), Used: nonNil(used), Unpaired: nonNil(unpaired), Missing: nonNil(missing)}
	r.Hosts.Fleet = a.fleetSize(ctx, exp, len(spec.Target.Hosts), len(used))
	r.Hosts.Disconnected = []DisconnectedHost{}
	var disconnectedNote string
	if a.set.Disconnected != nil {
		gone, err := a.set.Disconnected(ctx, exp)
		if err != nil {
			disconnectedNote = fmt.Sprintf(" Which agents disconnected is unknown: %v.", err)
		} else if len(gone) > 0 {
			r.Hosts.Disconnected = gone
			disconnectedNote = disconnectedSentence(gone)
		}
	}
	r.PerHost = perHost(kpiPairs, cs, opts.level)

	// Cost.
	r.Cost, r.CostError = a.cost(ctx, exp.TenantID, r, effects)

	// Verdict.
	seriesEffect := effects[KPIOutputSeries]
	ev := evidence{
		final: final, criteria: r.Criteria, minRuntime: r.Window.MinRuntimeElapsed,
		pairs: seriesEffect.Pairs, estimate: float64(seriesEffect.Estimate),
		hosts: r.Hosts, critical: r.Critical, overhead: r.Overhead,
	}
	if final {
		ev.reduction = seriesEffect.CI.interval()
		ev.overheadInterval = r.Overhead.Extra.CI.interval()
	} else {
		ev.reduction = seriesEffect.SequentialCS.interval()
		ev.overheadInterval = r.Overhead.Extra.SequentialCS.interval()
	}
	d := decide(ev)
	r.Verdict, r.Decided, r.Reasons, r.Needs = d.verdict, d.decided, d.reasons, d.needs
	r.Explanation = d.summary + disconnectedNote + a.costSentence(r)
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	return r, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *Analyzer) fleetSize(ctx context.Context, exp *experiment.Experiment, targets, used int) int {
	if a.set.FleetSize != nil {
		if n, err := a.set.FleetSize(ctx, exp); err == nil && n > 0 {
			return n
		}
	}
	if targets > 0 {
		return targets
	}
	return used
}

// disconnectedSentence names the hosts that went away mid-experiment.
func disconnectedSentence(gone []DisconnectedHost) string {
	parts := make([]string, len(gone))
	for i, g := range gone {
		parts[i] = fmt.Sprintf("%s (last seen %s)", g.Host, g.LastSeenAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf(" Disconnected mid-experiment: %s; their data up to then is used.", strings.Join(parts, ", "))
}

// cost prices both variants under each of the tenant's profiles.
func (a *Analyzer) cost(ctx context.Context, tenantID string, r *Report, effects map[string]*Effect) ([]CostEstimate, string) {
	profiles := DefaultPricing()
	if a.set.Pricing != nil {
		p, err := a.set.Pricing(ctx, tenantID)
		if err != nil {
			return []CostEstimate{}, fmt.Sprintf("read pricing of tenant %s: %v", tenantID, err)
		}
		profiles = p
	}
	var base, cand Usage
	for _, k := range r.KPIs {
		b, c := float64(k.Baseline), float64(k.Candidate)
		switch k.Name {
		case KPIOutputSeries:
			base.Series, cand.Series = b, c
		case KPIDatapoints:
			base.DatapointsPerMin, cand.DatapointsPerMin = b, c
		case KPIBytes:
			base.BytesPerMin, cand.BytesPerMin = b, c
		}
	}
	out := make([]CostEstimate, 0, len(profiles))
	var bad []error
	for i, p := range profiles {
		if err := p.Validate(); err != nil {
			bad = append(bad, fmt.Errorf("pricing[%d]: %w", i, err))
			continue
		}
		ci := nanInterval
		if e := effects[BilledKPI(p.Model)]; e != nil {
			ci = e.CI.interval()
		}
		out = append(out, Estimate(p, base, cand, r.Hosts.Fleet, ci))
	}
	if len(bad) > 0 {
		return out, errors.Join(bad...).Error()
	}
	return out, ""
}

// costSentence summarizes, for the explanation, the profile with the
// largest baseline bill.
func (a *Analyzer) costSentence(r *Report) string {
	if len(r.Cost) == 0 || r.Pairs < 2 {
		return ""
	}
	best := -1
	for i, c := range r.Cost {
		if m := float64(c.BaselineMonthly); m > 0 && (best < 0 || m > float64(r.Cost[best].BaselineMonthly)) {
			best = i
		}
	}
	if best < 0 {
		return fmt.Sprintf(" Both variants stay within the free tiers of every pricing profile on %d hosts.", r.Hosts.Fleet)
	}
	c := r.Cost[best]
	cur := c.Currency
	if cur == "" {
		cur = "USD"
	}
	return fmt.Sprintf(" Estimated saving %.2f %s a month on %d hosts (%s: %.2f -> %.2f).",
		float64(c.Saving), cur, c.Hosts, c.Name, float64(c.BaselineMonthly), float64(c.CandidateMonthly))
}

// kpiData is the pairs of one KPI.
type kpiData struct {
	name, unit string
	p          pairs
	// ratio KPIs are compared by reduction; the others by difference
	// (processing) or not at all (input series).
	ratio bool
}

// perHost breaks the KPIs and the critical retention down by host.
func perHost(kpis []kpiData, cs criticalSummary, level float64) []HostReport {
	split := make([]map[string]pairs, len(kpis))
	var hosts []string
	for i, k := range kpis {
		split[i] = hostPairs(k.p)
		hosts = append(hosts, sortedKeys(split[i])...)
	}
	for h := range cs.perHost {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	lost := map[string][]string{}
	for _, l := range cs.lost {
		lost[l.Host] = append(lost[l.Host], l.Process)
	}
	out := make([]HostReport, 0, len(hosts))
	for _, h := range hosts {
		hr := HostReport{Host: h, Pairs: len(split[0][h].base), Lost: lost[h], RetentionCandidate: Float(math.NaN())}
		for i, k := range kpis {
			p := split[i][h]
			b, c := variantMeans(p)
			hk := HostKPI{Name: k.name, Pairs: len(p.base), Baseline: Float(b), Candidate: Float(c),
				Estimate: Float(math.NaN()), CI: rangeOf(nanInterval)}
			var d []float64
			switch {
			case k.ratio:
				for j := range p.base {
					if p.base[j] > 0 && p.cand[j] > 0 {
						d = append(d, math.Log(p.cand[j]/p.base[j]))
					}
				}
				tt := PairedT(d, level)
				hk.Estimate = Float(ReductionFromLogRatio(tt.Mean))
				hk.CI = rangeOf(ReductionInterval(tt.CI))
			case k.name == KPIProcessing:
				for j := range p.base {
					d = append(d, p.cand[j]-p.base[j])
				}
				tt := PairedT(d, level)
				hk.Estimate = Float(tt.Mean)
				hk.CI = rangeOf(tt.CI)
			}
			hr.KPIs = append(hr.KPIs, hk)
		}
		if v, ok := cs.perHost[h]; ok && v.n[1] > 0 {
			hr.RetentionCandidate = Float(retention(v.expected[1], v.retained[1]))
		}
		out = append(out, hr)
	}
	return out
}
