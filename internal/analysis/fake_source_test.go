package analysis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/metrics"
)

// fakeSource is a hand-written metrics.Source: it stores raw samples, as a
// TSDB would, and evaluates the query shapes the analysis issues:
//
//	sum|max by (labels) (NAME{matchers})
//	sum by (labels) (rate(NAME{matchers}[W]))[ * 60]
//	... == 1
//
// Instant selectors look back 5 minutes like Prometheus. rate() is the
// increase between the first and last samples in (t-W, t] (counter resets
// handled) over the time between them, without Prometheus's extrapolation
// to the window edges; for the evenly spaced samples of these tests the two
// agree. Anything else is ErrBadQuery, so a change of query shape fails the
// tests loudly. Results are cached per query and range.
type fakeSource struct {
	mu      sync.Mutex
	series  map[string]map[string]*rawSeries // metric name -> label key -> series
	cache   map[string][]metrics.Series
	queries []string
	err     error
}

type rawSeries struct {
	labels  map[string]string
	samples []metrics.Sample
}

var _ metrics.Source = (*fakeSource)(nil)

func newFakeSource() *fakeSource {
	return &fakeSource{series: map[string]map[string]*rawSeries{}, cache: map[string][]metrics.Series{}}
}

// add appends a sample; samples of one series must come in time order.
func (f *fakeSource) add(name string, labels map[string]string, t time.Time, v float64) {
	byKey := f.series[name]
	if byKey == nil {
		byKey = map[string]*rawSeries{}
		f.series[name] = byKey
	}
	k := labelKey(labels)
	s := byKey[k]
	if s == nil {
		s = &rawSeries{labels: labels}
		byKey[k] = s
	}
	s.samples = append(s.samples, metrics.Sample{T: t, V: v})
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\x00" + l[k] + "\x00")
	}
	return b.String()
}

var (
	queryShape = regexp.MustCompile(`^(sum|max) by \(([a-z_, ]+)\) \((rate\()?([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}(?:\[([0-9]+)(s|ms)\]\))?\)( \* 60)?( == 1)?$`)
	matcherRE  = regexp.MustCompile(`\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?`)
)

type matcher struct {
	name, op, value string
	re              *regexp.Regexp
}

func (m matcher) matches(l map[string]string) bool {
	v := l[m.name]
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	}
	return m.re.MatchString(v)
}

type parsedQuery struct {
	agg     string
	by      []string
	rate    bool
	window  time.Duration
	name    string
	match   []matcher
	times60 bool
	eqOne   bool
}

func parseQuery(q string) (parsedQuery, error) {
	m := queryShape.FindStringSubmatch(q)
	if m == nil {
		return parsedQuery{}, fmt.Errorf("%w: unsupported shape %q", metrics.ErrBadQuery, q)
	}
	p := parsedQuery{agg: m[1], rate: m[3] != "", name: m[4], times60: m[8] != "", eqOne: m[9] != ""}
	for _, b := range strings.Split(m[2], ",") {
		p.by = append(p.by, strings.TrimSpace(b))
	}
	if p.rate {
		n, _ := strconv.Atoi(m[6])
		unit := time.Second
		if m[7] == "ms" {
			unit = time.Millisecond
		}
		p.window = time.Duration(n) * unit
	} else if m[6] != "" {
		return parsedQuery{}, fmt.Errorf("%w: range selector outside rate", metrics.ErrBadQuery)
	}
	rest := m[5]
	for _, mm := range matcherRE.FindAllStringSubmatchIndex(rest, -1) {
		val, err := strconv.Unquote(rest[mm[6]:mm[7]])
		if err != nil {
			return parsedQuery{}, fmt.Errorf("%w: %v", metrics.ErrBadQuery, err)
		}
		mt := matcher{name: rest[mm[2]:mm[3]], op: rest[mm[4]:mm[5]], value: val}
		if mt.op == "=~" {
			if mt.re, err = regexp.Compile("^(?:" + val + ")$"); err != nil {
				return parsedQuery{}, fmt.Errorf("%w: %v", metrics.ErrBadQuery, err)
			}
		}
		p.match = append(p.match, mt)
	}
	return p, nil
}

// Query implements metrics.Source.
func (f *fakeSource) Query(ctx context.Context, q string, ts time.Time) ([]metrics.Series, error) {
	return f.QueryRange(ctx, q, ts, ts, time.Second)
}

// QueryRange implements metrics.Source.
func (f *fakeSource) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]metrics.Series, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	key := fmt.Sprintf("%s|%d|%d|%d", q, start.UnixNano(), end.UnixNano(), step)
	if r, ok := f.cache[key]; ok {
		return r, nil
	}
	p, err := parseQuery(q)
	if err != nil {
		return nil, err
	}
	var cands []*rawSeries
	for _, s := range f.series[p.name] {
		if !slices.ContainsFunc(p.match, func(m matcher) bool { return !m.matches(s.labels) }) {
			cands = append(cands, s)
		}
	}
	out := map[string]*metrics.Series{}
	for t := start; !t.After(end); t = t.Add(step) {
		groups := map[string]float64{}
		glabels := map[string]map[string]string{}
		for _, s := range cands {
			var v float64
			var ok bool
			if p.rate {
				v, ok = rateAt(s.samples, t, p.window)
			} else {
				v, ok = instantAt(s.samples, t)
			}
			if !ok {
				continue
			}
			gl := map[string]string{}
			for _, b := range p.by {
				if lv, has := s.labels[b]; has {
					gl[b] = lv
				}
			}
			gk := labelKey(gl)
			if cur, seen := groups[gk]; !seen {
				groups[gk] = v
			} else if p.agg == "sum" {
				groups[gk] = cur + v
			} else {
				groups[gk] = math.Max(cur, v)
			}
			glabels[gk] = gl
		}
		for gk, v := range groups {
			if p.times60 {
				v *= 60
			}
			if p.eqOne && v != 1 {
				continue
			}
			s := out[gk]
			if s == nil {
				s = &metrics.Series{Labels: glabels[gk]}
				out[gk] = s
			}
			s.Samples = append(s.Samples, metrics.Sample{T: t, V: v})
		}
	}
	res := make([]metrics.Series, 0, len(out))
	for _, k := range sortedKeys(out) {
		res = append(res, *out[k])
	}
	f.cache[key] = res
	return res, nil
}

const lookback = 5 * time.Minute

// instantAt is the last sample in (t-5m, t].
func instantAt(s []metrics.Sample, t time.Time) (float64, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i].T.After(t) }) - 1
	if i < 0 || !s[i].T.After(t.Add(-lookback)) {
		return 0, false
	}
	return s[i].V, true
}

// rateAt is the per-second increase over the samples in (t-w, t].
func rateAt(s []metrics.Sample, t time.Time, w time.Duration) (float64, bool) {
	lo := sort.Search(len(s), func(i int) bool { return s[i].T.After(t.Add(-w)) })
	hi := sort.Search(len(s), func(i int) bool { return s[i].T.After(t) })
	if hi-lo < 2 {
		return 0, false
	}
	var inc float64
	for i := lo + 1; i < hi; i++ {
		d := s[i].V - s[i-1].V
		if d < 0 { // counter reset
			d = s[i].V
		}
		inc += d
	}
	return inc / s[hi-1].T.Sub(s[lo].T).Seconds(), true
}

func (f *fakeSource) issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// hostSim describes one simulated host of an experiment.
type hostSim struct {
	name string
	// series is the baseline's level of output series (= input series).
	series float64
	// reduction of the candidate's output (series, data points, bytes).
	reduction float64
	// noise is the standard deviation of the candidate's log-ratio noise
	// and of the baseline's level fluctuations.
	noise float64
	// procBase and procCand are processing cores of each variant.
	procBase, procCand float64
	// critical executables running on the host.
	critical []string
	// lost are executables the candidate drops from lostFrom on.
	lost     []string
	lostFrom time.Duration
	// bothMiss are executables neither variant retains from lostFrom on
	// (a meter or host issue, not the candidate's doing).
	bothMiss []string
	// baselineOnly: the candidate's meter sends nothing.
	baselineOnly bool
	// noCritical: no critical gauges at all.
	noCritical bool
}

// sim writes an experiment's measurements into a fakeSource the way the
// meters would: gauges every scrape, counters accumulating.
type sim struct {
	tenant, experiment string
	start              time.Time
	duration, scrape   time.Duration
	seed               uint64
	hosts              []hostSim
}

func (s sim) into(f *fakeSource) {
	r := rand.New(rand.NewPCG(s.seed, 1))
	for _, h := range s.hosts {
		var dp, bytes, proc [2]float64
		for off := time.Duration(0); off <= s.duration; off += s.scrape {
			t := s.start.Add(off + time.Second) // scrapes land 1s after the grid
			base := math.Round(h.series * math.Exp(h.noise*r.NormFloat64()))
			cand := math.Round(base * (1 - h.reduction) * math.Exp(h.noise*r.NormFloat64()))
			for vi, variant := range []string{VariantBaseline, VariantCandidate} {
				if vi == 1 && h.baselineOnly {
					continue
				}
				l := func(extra ...string) map[string]string {
					m := map[string]string{labelTenant: s.tenant, labelHost: h.name, labelExperiment: s.experiment, labelVariant: variant}
					for i := 0; i+1 < len(extra); i += 2 {
						m[extra[i]] = extra[i+1]
					}
					return m
				}
				out := base
				procCores := h.procBase
				if vi == 1 {
					out = cand
					procCores = h.procCand
				}
				dp[vi] += out
				bytes[vi] += out * 42
				proc[vi] += procCores * s.scrape.Seconds() * math.Exp(0.05*r.NormFloat64())
				f.add("phoenix_pipeline_input_series", l(), t, base)
				f.add("phoenix_pipeline_output_series", l(), t, out)
				f.add("phoenix_pipeline_output_datapoints_total", l(), t, dp[vi])
				f.add("phoenix_pipeline_output_bytes_total", l(), t, bytes[vi])
				f.add("phoenix_pipeline_processing_seconds_total", l(), t, proc[vi])
				if h.noCritical {
					continue
				}
				missing := 0
				if off >= h.lostFrom {
					for _, p := range h.bothMiss {
						f.add("phoenix_pipeline_critical_missing", l(labelProcess, p), t, 1)
						missing++
					}
					if vi == 1 {
						for _, p := range h.lost {
							f.add("phoenix_pipeline_critical_missing", l(labelProcess, p), t, 1)
							missing++
						}
					}
				}
				f.add("phoenix_pipeline_critical_expected", l(), t, float64(len(h.critical)))
				f.add("phoenix_pipeline_critical_retained", l(), t, float64(len(h.critical)-missing))
			}
		}
	}
}
