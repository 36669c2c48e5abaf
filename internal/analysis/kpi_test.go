package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/metrics"
)

func series(host, variant string, start time.Time, step time.Duration, vals ...float64) metrics.Series {
	s := metrics.Series{Labels: map[string]string{labelHost: host, labelVariant: variant}}
	for i, v := range vals {
		s.Samples = append(s.Samples, metrics.Sample{T: start.Add(time.Duration(i) * step), V: v})
	}
	return s
}

func TestTableOfAndPairUp(t *testing.T) {
	t.Parallel()
	g := newGrid(t0, t0.Add(40*time.Second), 10*time.Second)
	require.Equal(t, 5, g.n)
	in := []metrics.Series{
		series("b", VariantBaseline, t0, 10*time.Second, 100, 110, 120, 130, 140),
		series("b", VariantCandidate, t0.Add(10*time.Second), 10*time.Second, 50, math.NaN(), 60, 70),
		series("a", VariantBaseline, t0.Add(3*time.Second), 10*time.Second, 10, 10), // 3 s late: rounds to its step
		series("a", VariantCandidate, t0, 10*time.Second, 5, 6),
		series("a", "active", t0, 10*time.Second, 1, 1, 1),                     // not a variant of the experiment
		series("a", VariantCandidate, t0.Add(-time.Minute), 10*time.Second, 9), // before the window
		series("a", VariantCandidate, t0, 10*time.Second, 1),                   // same host and variant: added
	}
	tab := tableOf(in, g)
	require.Len(t, tab, 2)
	require.Equal(t, 6.0, tab["a"][1][0])
	p := pairUp(tab, g)
	// Step 0: a (10, 6); step 1: a (10, 6), b (110, 50); step 2: b's
	// candidate is NaN; step 3: b (130, 60); step 4: b (140, 70).
	require.Equal(t, []string{"a", "a", "b", "b", "b"}, p.host)
	require.Equal(t, []float64{10, 10, 110, 130, 140}, p.base)
	require.Equal(t, []float64{6, 6, 50, 60, 70}, p.cand)
	require.Equal(t, []int{1, 3, 3, 4, 5}, p.stepEnd)
	b, c := variantMeans(p)
	require.InDelta(t, 80, b, 1e-12)
	require.InDelta(t, 38.4, c, 1e-12)

	// A window that ends before it starts has no steps.
	require.Zero(t, newGrid(t0, t0.Add(-time.Second), time.Second).n)
}

func TestRatioEffectSkipsNonPositive(t *testing.T) {
	t.Parallel()
	p := pairs{
		base:    []float64{100, 100, 0, 100, 100},
		cand:    []float64{50, 0, 10, 40, 60},
		host:    []string{"a", "a", "a", "a", "a"},
		stepEnd: []int{1, 2, 3, 4, 5},
	}
	e := ratioEffect(KPIOutputSeries, p, math.Log(0.8), statOptions{level: 0.95, g: 1, resamples: 200, seed: "x"})
	require.Equal(t, 3, e.Pairs)
	require.Equal(t, 2, e.Skipped)
	want := PairedT([]float64{math.Log(0.5), math.Log(0.4), math.Log(0.6)}, 0.95)
	require.InDelta(t, ReductionFromLogRatio(want.Mean), float64(e.Estimate), 1e-15)
	require.InDelta(t, ReductionFromLogRatio(want.CI.Hi), float64(e.CI.Lo), 1e-15)
}

func TestPooledLag1(t *testing.T) {
	t.Parallel()
	x := []float64{0.1, -0.2, 0.15, -0.05, 0.3, -0.25, 0.05}
	one := make([]string, len(x))
	for i := range one {
		one[i] = "a"
	}
	require.InDelta(t, Lag1Autocorrelation(x), pooledLag1(x, one), 1e-15)
	// Two hosts interleaved in time order: pairs never cross hosts, and
	// each host is centred on its own mean, so a constant offset between
	// hosts does not count as correlation.
	var d []float64
	var h []string
	for _, v := range x {
		d = append(d, v, v+10)
		h = append(h, "a", "b")
	}
	require.InDelta(t, Lag1Autocorrelation(x), pooledLag1(d, h), 1e-12)
	require.True(t, math.IsNaN(pooledLag1([]float64{1, 2}, []string{"a", "a"})))
}

func TestSummarizeCritical(t *testing.T) {
	t.Parallel()
	g := newGrid(t0, t0.Add(30*time.Second), 10*time.Second)
	m := &measurements{
		grid: g,
		criticalExpected: tableOf([]metrics.Series{
			series("a", VariantBaseline, t0, 10*time.Second, 3, 3, 3, 3),
			series("a", VariantCandidate, t0, 10*time.Second, 3, 3, 3, 3),
		}, g),
		criticalRetained: tableOf([]metrics.Series{
			series("a", VariantBaseline, t0, 10*time.Second, 3, 2, 3, 3),
			series("a", VariantCandidate, t0, 10*time.Second, 3, 2, 2, 1),
		}, g),
	}
	missing := func(variant, process string, at ...int) metrics.Series {
		s := metrics.Series{Labels: map[string]string{labelHost: "a", labelVariant: variant, labelProcess: process}}
		for _, k := range at {
			s.Samples = append(s.Samples, metrics.Sample{T: g.at(k), V: 1})
		}
		return s
	}
	m.criticalMissing = missingOf([]metrics.Series{
		missing(VariantBaseline, "java", 1),
		missing(VariantCandidate, "java", 1),     // both lost it: not the candidate's doing
		missing(VariantCandidate, "nginx", 2, 3), // the candidate's loss
		missing(VariantCandidate, "postgres", 3), // the candidate's loss
	}, g)
	cs := summarizeCritical(m)
	require.True(t, cs.measured)
	require.Equal(t, [2]float64{12, 12}, cs.all.expected)
	require.Equal(t, [2]float64{11, 8}, cs.all.retained)
	require.Equal(t, [2]int{4, 4}, cs.all.n)
	require.Equal(t, []LostProcess{
		{Host: "a", Process: "nginx", Intervals: 2, First: g.at(2), Last: g.at(3)},
		{Host: "a", Process: "postgres", Intervals: 1, First: g.at(3), Last: g.at(3)},
	}, cs.lost)
	require.Equal(t, 1.0, retention(0, 0))
}

func TestHostCoverage(t *testing.T) {
	t.Parallel()
	g := newGrid(t0, t0.Add(10*time.Second), 10*time.Second)
	m := &measurements{grid: g, outputSeries: tableOf([]metrics.Series{
		series("a", VariantBaseline, t0, 10*time.Second, 1, 1),
		series("a", VariantCandidate, t0, 10*time.Second, 1, 1),
		series("u", VariantBaseline, t0, 10*time.Second, 1, 1),
		series("x", VariantBaseline, t0, 10*time.Second, 1),
		series("x", VariantCandidate, t0, 10*time.Second, 1),
	}, g)}
	used, unpaired, missing := hostCoverage([]string{"a", "c", "u", "c"}, m, pairUp(m.outputSeries, g))
	require.Equal(t, []string{"a", "x"}, used, "hosts outside the list still count")
	require.Equal(t, []string{"u"}, unpaired)
	require.Equal(t, []string{"c"}, missing)
}
