package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/metrics"
)

// Variants of an experiment, as the variant label spells them.
const (
	VariantBaseline  = "baseline"
	VariantCandidate = "candidate"
)

// Names of the KPIs in a Report.
const (
	// KPIOutputSeries is the number of distinct series a variant sends per
	// host (phoenix_pipeline_output_series); the criteria's reduction is
	// measured on it.
	KPIOutputSeries = "output_series"
	// KPIDatapoints is data points sent per minute per host.
	KPIDatapoints = "output_datapoints_per_min"
	// KPIBytes is estimated OTLP bytes sent per minute per host.
	KPIBytes = "output_bytes_per_min"
	// KPIProcessing is the time spent in a variant's processors per second
	// of wall time per host, in cores (1 = one core busy).
	KPIProcessing = "processing_cores"
	// KPIInputSeries is the number of distinct series a variant receives per
	// host; both variants see one scrape, so it is a check of the pairing.
	KPIInputSeries = "input_series"
)

// Label names of the measurement contract.
const (
	labelTenant     = "tenant"
	labelHost       = "host"
	labelExperiment = "experiment"
	labelVariant    = "variant"
	labelProcess    = "process"
)

// Queries are the PromQL queries one analysis issues, each a range query
// with step = the scrape interval. Every query selects the tenant, the
// experiment and the two variants, and aggregates by host and variant so
// that duplicate series (say a restarted agent) are summed, not mixed.
type Queries struct {
	OutputSeries     string
	InputSeries      string
	Datapoints       string
	Bytes            string
	Processing       string
	CriticalExpected string
	CriticalRetained string
	CriticalMissing  string
}

// BuildQueries returns the queries of an experiment's measurements.
// rateWindow is the range of rate(); it must hold at least two scrapes.
func BuildQueries(tenantID, experimentID string, rateWindow time.Duration) Queries {
	sel := fmt.Sprintf(`{%s=%s, %s=%s, %s=~"%s|%s"}`,
		labelTenant, strconv.Quote(tenantID), labelExperiment, strconv.Quote(experimentID),
		labelVariant, VariantBaseline, VariantCandidate)
	w := promDuration(rateWindow)
	gauge := func(name string) string {
		return fmt.Sprintf("sum by (%s, %s) (%s%s)", labelHost, labelVariant, name, sel)
	}
	rate := func(name, scale string) string {
		return fmt.Sprintf("sum by (%s, %s) (rate(%s%s[%s]))%s", labelHost, labelVariant, name, sel, w, scale)
	}
	return Queries{
		OutputSeries:     gauge("phoenix_pipeline_output_series"),
		InputSeries:      gauge("phoenix_pipeline_input_series"),
		Datapoints:       rate("phoenix_pipeline_output_datapoints_total", " * 60"),
		Bytes:            rate("phoenix_pipeline_output_bytes_total", " * 60"),
		Processing:       rate("phoenix_pipeline_processing_seconds_total", ""),
		CriticalExpected: gauge("phoenix_pipeline_critical_expected"),
		CriticalRetained: gauge("phoenix_pipeline_critical_retained"),
		CriticalMissing: fmt.Sprintf("max by (%s, %s, %s) (phoenix_pipeline_critical_missing%s) == 1",
			labelHost, labelVariant, labelProcess, sel),
	}
}

// promDuration writes d as a PromQL duration: whole seconds as "60s",
// anything else in milliseconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// grid is the evaluation times of the range queries: start + k*step for
// k in [0, n).
type grid struct {
	start time.Time
	step  time.Duration
	n     int
}

func newGrid(start, end time.Time, step time.Duration) grid {
	if end.Before(start) {
		return grid{start: start, step: step}
	}
	return grid{start: start, step: step, n: int(end.Sub(start)/step) + 1}
}

// index maps a sample time to its step, rounding to the nearest one (some
// Prometheus-compatible servers align evaluation times to the step).
func (g grid) index(t time.Time) (int, bool) {
	k := int(math.Round(float64(t.Sub(g.start)) / float64(g.step)))
	return k, k >= 0 && k < g.n
}

func (g grid) at(k int) time.Time { return g.start.Add(time.Duration(k) * g.step) }

// values holds one KPI of one host: [variant][step], NaN where absent.
type values [2][]float64

// table holds one KPI for every host that reported it.
type table map[string]*values

func variantIndex(v string) (int, bool) {
	switch v {
	case VariantBaseline:
		return 0, true
	case VariantCandidate:
		return 1, true
	}
	return 0, false
}

// tableOf arranges range-query results on the grid. Series of other
// variants and non-finite samples are skipped; two series of the same host
// and variant are added.
func tableOf(series []metrics.Series, g grid) table {
	t := make(table)
	for _, s := range series {
		vi, ok := variantIndex(s.Labels[labelVariant])
		if !ok {
			continue
		}
		h := s.Labels[labelHost]
		v := t[h]
		if v == nil {
			v = &values{nanSlice(g.n), nanSlice(g.n)}
			t[h] = v
		}
		for _, smp := range s.Samples {
			k, ok := g.index(smp.T)
			if !ok || math.IsNaN(smp.V) || math.IsInf(smp.V, 0) {
				continue
			}
			if math.IsNaN(v[vi][k]) {
				v[vi][k] = smp.V
			} else {
				v[vi][k] += smp.V
			}
		}
	}
	return t
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// missingKey names a critical executable of a host.
type missingKey struct{ host, process string }

// missingTable marks, per host and process, the steps at which each
// variant reported the process expected but not retained.
type missingTable map[missingKey]*[2][]bool

func missingOf(series []metrics.Series, g grid) missingTable {
	m := make(missingTable)
	for _, s := range series {
		vi, ok := variantIndex(s.Labels[labelVariant])
		if !ok {
			continue
		}
		k := missingKey{s.Labels[labelHost], s.Labels[labelProcess]}
		v := m[k]
		if v == nil {
			v = &[2][]bool{make([]bool, g.n), make([]bool, g.n)}
			m[k] = v
		}
		for _, smp := range s.Samples {
			if i, ok := g.index(smp.T); ok && smp.V == 1 {
				v[vi][i] = true
			}
		}
	}
	return m
}

// measurements are the results of all queries of one analysis.
type measurements struct {
	grid                                           grid
	outputSeries, inputSeries, datapoints, bytes   table
	processing, criticalExpected, criticalRetained table
	criticalMissing                                missingTable
}

// fetch runs the queries concurrently over [start, end] at step.
func fetch(ctx context.Context, src metrics.Source, q Queries, start, end time.Time, step time.Duration) (*measurements, error) {
	g := newGrid(start, end, step)
	m := &measurements{grid: g}
	type job struct {
		query string
		into  *table
	}
	jobs := []job{
		{q.OutputSeries, &m.outputSeries}, {q.InputSeries, &m.inputSeries},
		{q.Datapoints, &m.datapoints}, {q.Bytes, &m.bytes}, {q.Processing, &m.processing},
		{q.CriticalExpected, &m.criticalExpected}, {q.CriticalRetained, &m.criticalRetained},
	}
	var (
		wg      sync.WaitGroup
		errs    = make([]error, len(jobs)+1) // in query order, each written by one goroutine
		missing []metrics.Series
	)
	run := func(i int, query string, done func([]metrics.Series)) {
		defer wg.Done()
		res, err := src.QueryRange(ctx, query, start, end, step)
		if err != nil {
			errs[i] = fmt.Errorf("query %s: %w", query, err)
			return
		}
		done(res)
	}
	wg.Add(len(jobs) + 1)
	for i, j := range jobs {
		go run(i, j.query, func(res []metrics.Series) { *j.into = tableOf(res, g) })
	}
	go run(len(jobs), q.CriticalMissing, func(res []metrics.Series) { missing = res })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.criticalMissing = missingOf(missing, g)
	return m, nil
}

// pairs are the paired observations of one KPI, in time order (all hosts
// of step k before any of step k+1, hosts sorted by name).
type pairs struct {
	// base and cand are the paired values.
	base, cand []float64
	// host is the host of each pair.
	host []string
	// stepEnd[k] is the number of pairs up to and including step k.
	stepEnd []int
}

// pairUp returns the pairs of a KPI: steps where both variants of a host
// have a value.
func pairUp(t table, g grid) pairs {
	hosts := sortedKeys(t)
	var p pairs
	p.stepEnd = make([]int, g.n)
	for k := range g.n {
		for _, h := range hosts {
			v := t[h]
			b, c := v[0][k], v[1][k]
			if math.IsNaN(b) || math.IsNaN(c) {
				continue
			}
			p.base = append(p.base, b)
			p.cand = append(p.cand, c)
			p.host = append(p.host, h)
		}
		p.stepEnd[k] = len(p.base)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// statOptions are what the per-KPI statistics need besides the data.
type statOptions struct {
	level     float64
	g         float64
	resamples int
	seed      string // experiment ID; each KPI adds its name
}

// ratioEffect computes the reduction of a KPI from its pairs: the tests on
// log(candidate/baseline). Pairs where either value is not positive have
// no log-ratio and are counted in Skipped. criterion is the log-ratio of
// the minimum reduction, tested sequentially besides 0.
func ratioEffect(name string, p pairs, criterion float64, o statOptions) Effect {
	d := make([]float64, 0, len(p.base))
	hostOf := make([]string, 0, len(p.base))
	ends := make([]int, 0, len(p.stepEnd))
	seq := NewSequential(1-o.level, o.g, 0, criterion)
	e := Effect{}
	j := 0
	for _, end := range p.stepEnd {
		for ; j < end; j++ {
			b, c := p.base[j], p.cand[j]
			if !(b > 0 && c > 0) {
				e.Skipped++
				continue
			}
			x := math.Log(c / b)
			d = append(d, x)
			hostOf = append(hostOf, p.host[j])
			seq.Add(x)
		}
		ends = append(ends, len(d))
		seq.Look()
	}
	fillEffect(&e, d, ends, hostOf, seq, name, o)
	e.Estimate = Float(ReductionFromLogRatio(e.mean))
	e.CI = rangeOf(ReductionInterval(e.ci))
	e.BootstrapCI = rangeOf(ReductionInterval(e.boot))
	e.SequentialCS = rangeOf(ReductionInterval(e.cs))
	return e
}

// differenceEffect computes the extra of a KPI, candidate - baseline, from
// its pairs; limit is tested sequentially besides 0.
func differenceEffect(name string, p pairs, limit float64, o statOptions) Effect {
	d := make([]float64, 0, len(p.base))
	seq := NewSequential(1-o.level, o.g, 0, limit)
	j := 0
	for _, end := range p.stepEnd {
		for ; j < end; j++ {
			x := p.cand[j] - p.base[j]
			d = append(d, x)
			seq.Add(x)
		}
		seq.Look()
	}
	var e Effect
	fillEffect(&e, d, p.stepEnd, p.host, seq, name, o)
	e.Estimate = Float(e.mean)
	e.CI = rangeOf(e.ci)
	e.BootstrapCI = rangeOf(e.boot)
	e.SequentialCS = rangeOf(e.cs)
	return e
}

// fillEffect runs the tests shared by ratio and difference effects on d,
// whose values of step k end at ends[k].
func fillEffect(e *Effect, d []float64, ends []int, hostOf []string, seq *Sequential, name string, o statOptions) {
	tt := PairedT(d, o.level)
	w := WilcoxonSignedRank(d)
	e.Pairs = len(d)
	e.mean, e.ci = tt.Mean, tt.CI
	e.boot = BootstrapClusterMean(d, ends, o.resamples, SeedFrom(o.seed+"/"+name), o.level)
	e.cs = seq.CS()
	e.Mean = Float(tt.Mean)
	e.SD = Float(tt.SD)
	e.T = Float(tt.T)
	e.PT = Float(tt.P)
	e.WilcoxonPlus = Float(w.WPlus)
	e.PWilcoxon = Float(w.P)
	e.WilcoxonExact = w.Exact
	e.PSequential = Float(seq.PValue(0))
	e.PSequentialCriterion = Float(seq.PValue(1))
	e.Lag1 = Float(pooledLag1(d, hostOf))
	if len(d) == 0 {
		e.PSequential, e.PSequentialCriterion = Float(math.NaN()), Float(math.NaN())
	}
}

// pooledLag1 is the lag-1 autocorrelation of d within hosts: each host's
// values (in time order) minus that host's mean, products of consecutive
// values summed over hosts over the sum of squares.
func pooledLag1(d []float64, hostOf []string) float64 {
	type acc struct {
		sum  float64
		n    int
		last float64
		has  bool
	}
	hosts := map[string]*acc{}
	for i, x := range d {
		a := hosts[hostOf[i]]
		if a == nil {
			a = &acc{}
			hosts[hostOf[i]] = a
		}
		a.sum += x
		a.n++
	}
	var num, den float64
	n := 0
	for i, x := range d {
		a := hosts[hostOf[i]]
		dev := x - a.sum/float64(a.n)
		den += dev * dev
		if a.has {
			num += dev * a.last
			n++
		}
		a.last, a.has = dev, true
	}
	if n < 2 || den == 0 {
		return math.NaN()
	}
	return num / den
}

// variantMeans returns the mean baseline and candidate values over pairs.
func variantMeans(p pairs) (base, cand float64) {
	b, _ := meanSD(p.base)
	c, _ := meanSD(p.cand)
	return b, c
}

// hostPairs splits pairs by host.
func hostPairs(p pairs) map[string]pairs {
	out := map[string]pairs{}
	for i, h := range p.host {
		hp := out[h]
		hp.base = append(hp.base, p.base[i])
		hp.cand = append(hp.cand, p.cand[i])
		hp.host = append(hp.host, h)
		hp.stepEnd = append(hp.stepEnd, len(hp.base))
		out[h] = hp
	}
	return out
}

// criticalSummary is what the critical gauges say.
type criticalSummary struct {
	// measured is true when the candidate reported both gauges at least once.
	measured bool
	// all sums the gauges over hosts and steps with both gauges.
	all critCount
	// perHost sums them per host.
	perHost map[string]*critCount
	lost    []LostProcess
}

// critCount sums critical gauges per variant over n observations.
type critCount struct {
	expected, retained [2]float64
	n                  [2]int
}

// summarizeCritical sums the critical gauges per variant and finds the
// processes the candidate lost: reported missing by the candidate at a
// step where the baseline did not report them missing (so the loss is the
// candidate's doing, not the host's or the meter's).
func summarizeCritical(m *measurements) criticalSummary {
	cs := criticalSummary{perHost: map[string]*critCount{}}
	for h, ev := range m.criticalExpected {
		rv := m.criticalRetained[h]
		if rv == nil {
			continue
		}
		ph := &critCount{}
		for vi := range 2 {
			for k := range m.grid.n {
				e, r := ev[vi][k], rv[vi][k]
				if math.IsNaN(e) || math.IsNaN(r) {
					continue
				}
				ph.expected[vi] += e
				ph.retained[vi] += r
				ph.n[vi]++
			}
			cs.all.expected[vi] += ph.expected[vi]
			cs.all.retained[vi] += ph.retained[vi]
			cs.all.n[vi] += ph.n[vi]
		}
		cs.perHost[h] = ph
	}
	cs.measured = cs.all.n[1] > 0
	for k, v := range m.criticalMissing {
		lp := LostProcess{Host: k.host, Process: k.process}
		for i := range m.grid.n {
			if v[1][i] && !v[0][i] {
				if lp.Intervals == 0 {
					lp.First = m.grid.at(i)
				}
				lp.Intervals++
				lp.Last = m.grid.at(i)
			}
		}
		if lp.Intervals > 0 {
			cs.lost = append(cs.lost, lp)
		}
	}
	slices.SortFunc(cs.lost, func(a, b LostProcess) int {
		if c := strings.Compare(a.Process, b.Process); c != 0 {
			return c
		}
		return strings.Compare(a.Host, b.Host)
	})
	return cs
}

// retention is retained/expected, 1 when nothing was expected.
func retention(expected, retained float64) float64 {
	if expected == 0 {
		return 1
	}
	return retained / expected
}

// hostCoverage classifies hosts: used (paired output-series data), unpaired
// (data from one variant only), missing (expected but no data).
func hostCoverage(expected []string, m *measurements, p pairs) (used, unpaired, missing []string) {
	seen := map[string]bool{}
	for _, h := range p.host {
		seen[h] = true
	}
	used = sortedKeys(seen)
	for h, v := range m.outputSeries {
		if seen[h] {
			continue
		}
		if hasValue(v[0]) || hasValue(v[1]) {
			unpaired = append(unpaired, h)
		}
	}
	slices.Sort(unpaired)
	for _, h := range expected {
		if !seen[h] && !slices.Contains(unpaired, h) {
			missing = append(missing, h)
		}
	}
	slices.Sort(missing)
	return used, unpaired, slices.Compact(missing)
}

func hasValue(s []float64) bool {
	return slices.ContainsFunc(s, func(x float64) bool { return !math.IsNaN(x) })
}
