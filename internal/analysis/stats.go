package analysis

import (
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is a closed interval [Lo, Hi]. An unbounded side is ±Inf; an
// interval that could not be computed has NaN bounds.
type Interval struct {
	Lo, Hi float64
}

// Contains reports whether x lies in the interval.
func (i Interval) Contains(x float64) bool { return i.Lo <= x && x <= i.Hi }

// nanInterval is the interval of a statistic that has too little data.
var nanInterval = Interval{math.NaN(), math.NaN()}

// ReductionFromLogRatio turns a mean log-ratio log(candidate/baseline) into
// the fractional reduction 1 - exp(m): 0.2 means the candidate sends 20%
// less. It is decreasing in m.
func ReductionFromLogRatio(m float64) float64 { return -math.Expm1(m) }

// ReductionInterval maps an interval of the mean log-ratio to an interval of
// the reduction. The map is decreasing, so the bounds swap.
func ReductionInterval(logRatio Interval) Interval {
	return Interval{Lo: ReductionFromLogRatio(logRatio.Hi), Hi: ReductionFromLogRatio(logRatio.Lo)}
}

// TTest is the result of a one-sample Student t-test of H0: mean = 0 on
// paired differences (here log-ratios), two-sided.
type TTest struct {
	// N is the number of differences.
	N int
	// Mean and SD are the sample mean and standard deviation (n-1 divisor).
	Mean, SD float64
	// SE is SD/sqrt(N).
	SE float64
	// T is Mean/SE; DF is N-1.
	T, DF float64
	// P is the two-sided p-value.
	P float64
	// Level is the confidence level of CI.
	Level float64
	// CI is the two-sided confidence interval of the mean at Level.
	CI Interval
}

// PairedT runs a one-sample t-test of mean 0 on d at confidence level
// level (in (0, 1)) using Student's t distribution with N-1 degrees of
// freedom. With fewer than two values every figure but N and Mean is NaN.
// When all values are equal, SD is 0: P is 1 if they are 0 and 0
// otherwise, and the CI shrinks to the mean.
func PairedT(d []float64, level float64) TTest {
	r := TTest{N: len(d), Level: level, DF: float64(len(d) - 1)}
	r.Mean, r.SD = meanSD(d)
	if r.N < 2 {
		r.SE, r.T, r.P, r.CI = math.NaN(), math.NaN(), math.NaN(), nanInterval
		return r
	}
	r.SE = r.SD / math.Sqrt(float64(r.N))
	if r.SE == 0 {
		r.CI = Interval{r.Mean, r.Mean}
		if r.Mean == 0 {
			r.T, r.P = 0, 1
		} else {
			r.T, r.P = math.Copysign(math.Inf(1), r.Mean), 0
		}
		return r
	}
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: r.DF}
	r.T = r.Mean / r.SE
	r.P = math.Min(1, 2*dist.Survival(math.Abs(r.T)))
	q := dist.Quantile(1 - (1-level)/2)
	r.CI = Interval{r.Mean - q*r.SE, r.Mean + q*r.SE}
	return r
}

// meanSD returns the mean and the standard deviation (n-1 divisor) of d,
// computed in two passes. SD is NaN for fewer than two values; the mean is
// NaN for none.
func meanSD(d []float64) (mean, sd float64) {
	if len(d) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range d {
		s += x
	}
	mean = s / float64(len(d))
	if len(d) < 2 {
		return mean, math.NaN()
	}
	var ss, c float64
	for _, x := range d {
		e := x - mean
		ss += e * e
		c += e
	}
	// Corrected two-pass formula (Chan, Golub & LeVeque 1983).
	n := float64(len(d))
	return mean, math.Sqrt((ss - c*c/n) / (n - 1))
}

// WilcoxonExactMax is the largest number of non-zero differences for which
// WilcoxonSignedRank computes the exact null distribution; above it the
// normal approximation is used.
const WilcoxonExactMax = 25

// Wilcoxon is the result of a Wilcoxon signed-rank test of H0: the
// differences are symmetric about 0.
type Wilcoxon struct {
	// N is the number of non-zero differences the test ranks.
	N int
	// Zeros is the number of zero differences, dropped before ranking.
	Zeros int
	// Ties is true when some absolute differences are equal (they get
	// mid-ranks).
	Ties bool
	// WPlus is the sum of the ranks of the positive differences (R's V).
	WPlus float64
	// Exact is true when the p-values come from the exact null
	// distribution, false when from the normal approximation.
	Exact bool
	// Z is the continuity-corrected normal score (NaN when Exact).
	Z float64
	// P is the two-sided p-value; PGreater and PLess are the one-sided
	// p-values for a shift above and below 0.
	P, PGreater, PLess float64
}

// WilcoxonSignedRank runs the Wilcoxon signed-rank test on d.
//
// Zeros are dropped (Wilcoxon's method, the default of R's wilcox.test and
// SciPy's zero_method="wilcox"), so N counts the non-zero differences.
// Equal absolute differences get mid-ranks. For N <= WilcoxonExactMax the
// p-values are exact: the permutation distribution of W+ given the ranks
// (each sign + or - with probability 1/2) is enumerated by dynamic
// programming over doubled ranks, which stay integers with mid-ranks, so
// the test is exact with ties too. For larger N, W+ is compared to a normal
// with mean sum(r)/2 and variance sum(r^2)/4, which equals the tie-corrected
// variance n(n+1)(2n+1)/24 - sum(t^3-t)/48, with a continuity correction of
// 1/2 towards the mean (as R does). Two-sided P is 2*min(PGreater, PLess)
// capped at 1. With no non-zero difference every p-value is 1.
func WilcoxonSignedRank(d []float64) Wilcoxon {
	abs := make([]float64, 0, len(d))
	var r Wilcoxon
	for _, x := range d {
		if x == 0 {
			r.Zeros++
			continue
		}
		if math.IsNaN(x) {
			continue
		}
		abs = append(abs, x)
	}
	r.N = len(abs)
	r.Z = math.NaN()
	if r.N == 0 {
		r.P, r.PGreater, r.PLess, r.Exact = 1, 1, 1, true
		return r
	}
	// Sort by absolute value, keeping the sign.
	slices.SortFunc(abs, func(a, b float64) int {
		aa, bb := math.Abs(a), math.Abs(b)
		switch {
		case aa < bb:
			return -1
		case aa > bb:
			return 1
		}
		return 0
	})
	// Doubled mid-ranks: a tie group at positions i..j-1 (0-based) has
	// rank (i+1+j)/2, doubled i+1+j.
	ranks2 := make([]int, r.N)
	var sumR, sumR2, wPlus2 float64
	for i := 0; i < r.N; {
		j := i + 1
		for j < r.N && math.Abs(abs[j]) == math.Abs(abs[i]) {
			j++
		}
		if j-i > 1 {
			r.Ties = true
		}
		r2 := i + 1 + j
		for k := i; k < j; k++ {
			ranks2[k] = r2
			rk := float64(r2) / 2
			sumR += rk
			sumR2 += rk * rk
			if abs[k] > 0 {
				wPlus2 += float64(r2)
			}
		}
		i = j
	}
	r.WPlus = wPlus2 / 2
	if r.N <= WilcoxonExactMax {
		r.Exact = true
		r.PGreater, r.PLess = exactSignedRank(ranks2, int(wPlus2))
	} else {
		mean := sumR / 2
		sd := math.Sqrt(sumR2 / 4)
		z := r.WPlus - mean
		switch {
		case z > 0:
			z -= 0.5
		case z < 0:
			z += 0.5
		}
		z /= sd
		r.Z = z
		// CDF(-z) rather than Survival(z): gonum's Normal.Survival is
		// 1-Erf, which loses the relative precision of small upper tails.
		r.PGreater = distuv.UnitNormal.CDF(-z)
		r.PLess = distuv.UnitNormal.CDF(z)
	}
	r.P = math.Min(1, 2*math.Min(r.PGreater, r.PLess))
	return r
}

// exactSignedRank returns P(W2 >= w2) and P(W2 <= w2) where W2 is the sum of
// the doubled ranks given a + sign, each sign independently + or - with
// probability 1/2. Counts stay below 2^25, exact in float64.
func exactSignedRank(ranks2 []int, w2 int) (pGE, pLE float64) {
	total := 0
	for _, r := range ranks2 {
		total += r
	}
	count := make([]float64, total+1)
	count[0] = 1
	top := 0
	for _, r := range ranks2 {
		for s := top; s >= 0; s-- {
			if count[s] != 0 {
				count[s+r] += count[s]
			}
		}
		top += r
	}
	var ge, le float64
	for s, c := range count {
		if s >= w2 {
			ge += c
		}
		if s <= w2 {
			le += c
		}
	}
	all := math.Ldexp(1, len(ranks2))
	return ge / all, le / all
}

// DefaultResamples is the number of bootstrap resamples when a Config does
// not set one.
const DefaultResamples = 2000

// bootstrapStream is the second PCG seed word of every bootstrap; the first
// is the seed passed in.
const bootstrapStream = 0x5048_4f45_4e49_5821 // "PHOENIX!"

// SeedFrom derives a bootstrap seed from a string (an experiment ID and a
// KPI name): FNV-1a, 64 bit. The same string always gives the same seed, so
// an analysis can be reproduced.
func SeedFrom(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s)) //nolint:errcheck // hash.Hash.Write never fails
	return h.Sum64()
}

// BootstrapMean returns the percentile bootstrap confidence interval of the
// mean of d at level, resampling the values independently. It is
// BootstrapClusterMean with every value its own cluster.
func BootstrapMean(d []float64, resamples int, seed uint64, level float64) Interval {
	ends := make([]int, len(d))
	for i := range ends {
		ends[i] = i + 1
	}
	return BootstrapClusterMean(d, ends, resamples, seed, level)
}

// BootstrapClusterMean returns the percentile bootstrap confidence
// interval of the mean of d at level, resampling whole clusters: d holds
// the clusters one after another and ends[k] is the index one past the
// last value of cluster k (empty clusters are skipped). Each resample draws
// as many clusters as there are, with replacement, and its mean is the sum
// of their values over the count of their values. The interval is the
// (1-level)/2 and 1-(1-level)/2 quantiles of resamples such means (linear
// interpolation between order statistics, "type 7" of Hyndman & Fan 1996,
// R's and NumPy's default).
//
// The analysis clusters the pairs of one scrape interval (all hosts at one
// time): they share the moment's fleet-wide conditions, so resampling them
// together keeps that dependence, and it costs one draw per interval
// instead of one per host and interval.
//
// The generator is math/rand/v2's PCG seeded with (seed, bootstrapStream).
// Each draw takes one Uint64 x and uses cluster floor(x*k/2^64) (the high
// word of the 128-bit product), whose bias is below k/2^64. Identical inputs
// give identical intervals. With fewer than two clusters the interval is
// NaN.
func BootstrapClusterMean(d []float64, ends []int, resamples int, seed uint64, level float64) Interval {
	sums := make([]float64, 0, len(ends))
	counts := make([]float64, 0, len(ends))
	from := 0
	for _, end := range ends {
		if end > from {
			var s float64
			for _, x := range d[from:end] {
				s += x
			}
			sums = append(sums, s)
			counts = append(counts, float64(end-from))
		}
		from = end
	}
	k := len(sums)
	if k < 2 || resamples < 2 {
		return nanInterval
	}
	src := rand.NewPCG(seed, bootstrapStream)
	means := make([]float64, resamples)
	uk := uint64(k)
	for b := range means {
		var s, c float64
		for range k {
			i, _ := bits.Mul64(src.Uint64(), uk)
			s += sums[i]
			c += counts[i]
		}
		means[b] = s / c
	}
	slices.Sort(means)
	a := (1 - level) / 2
	return Interval{quantile7(means, a), quantile7(means, 1-a)}
}

// quantile7 is the p-quantile of sorted x by linear interpolation between
// order statistics (Hyndman & Fan type 7).
func quantile7(x []float64, p float64) float64 {
	h := float64(len(x)-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[i] + (h-lo)*(x[i+1]-x[i])
}

// DefaultMixtureScale is the variance g of the normal mixing distribution
// of the standardized effect in the sequential test when a Config does not
// set one.
const DefaultMixtureScale = 1.0

// MixtureBayesFactor is the mixture likelihood ratio of the sequential test
// after n observations whose one-sample t statistic (against the null mean)
// is t: the Bayes factor of H1: mean = theta0 + delta*sigma, delta ~ N(0, g)
// against H0: mean = theta0, both with the right-Haar prior 1/sigma on the
// unknown standard deviation (Rouder et al. 2009, eq. for fixed g):
//
//	BF = (1+n*g)^(-1/2) * ((1 + t^2/v) / (1 + t^2/(v*(1+n*g))))^((v+1)/2),  v = n-1.
//
// Under H0 with independent normal observations it is a nonnegative
// martingale with mean 1 in n (Lai 1976; Pérez-Ortiz, Lardy, de Heide &
// Grünwald 2024), so by Ville's inequality P(sup_n BF >= 1/alpha) <= alpha:
// the always-valid mixture SPRT of Johari, Koomen, Pekelis & Walsh (2017)
// with the variance integrated out instead of plugged in. It returns NaN
// for n < 2.
func MixtureBayesFactor(t float64, n int, g float64) float64 {
	return math.Exp(logMixtureBF(t, n, g))
}

func logMixtureBF(t float64, n int, g float64) float64 {
	if n < 2 {
		return math.NaN()
	}
	v := float64(n - 1)
	c := 1 + float64(n)*g
	if math.IsInf(t, 0) {
		return (v / 2) * math.Log(c)
	}
	u := t * t
	return -0.5*math.Log(c) + (v+1)/2*(math.Log1p(u/v)-math.Log1p(u/(v*c)))
}

// MixtureCriticalT is the |t| at which MixtureBayesFactor reaches 1/alpha
// after n observations. It is +Inf when no t can get there (the factor is
// bounded by (1+n*g)^((n-1)/2)) and NaN for n < 2. The factor is increasing
// in |t|, and BF = 1/alpha solves in closed form: with c = 1+n*g and
// K = (c/alpha^2)^(1/n), t^2 = v*(K-1)/(1-K/c) when K < c.
func MixtureCriticalT(n int, g, alpha float64) float64 {
	if n < 2 {
		return math.NaN()
	}
	v := float64(n - 1)
	c := 1 + float64(n)*g
	k := math.Exp((math.Log(c) - 2*math.Log(alpha)) / float64(n))
	if k >= c {
		return math.Inf(1)
	}
	return math.Sqrt(v * (k - 1) / (1 - k/c))
}

// Sequential is the always-valid sequential test of the mean of a stream of
// observations (here log-ratios): the normal-mixture SPRT with the variance
// integrated out (see MixtureBayesFactor). Add observations in time order
// and call Look whenever the test is examined (e.g. after each scrape
// interval); the p-values and the confidence sequence stay valid however
// many looks are taken and whenever one stops.
//
// PValue(i) is the always-valid p-value of H0: mean = nulls[i], the running
// minimum over looks of min(1, 1/BF). CS is the confidence sequence at level
// 1-alpha: the running intersection over looks of {theta: BF(theta) <
// 1/alpha} = mean ± MixtureCriticalT * sd/sqrt(n). Before a look that can
// bound it, CS is (-Inf, +Inf).
//
// A Sequential is not safe for concurrent use.
type Sequential struct {
	alpha, g float64
	nulls    []float64
	p        []float64
	cs       Interval
	looks    int
	n        int
	mean, m2 float64
}

// NewSequential returns a sequential test at level 1-alpha with mixing
// variance g (> 0) for the given null means.
func NewSequential(alpha, g float64, nulls ...float64) *Sequential {
	p := make([]float64, len(nulls))
	for i := range p {
		p[i] = 1
	}
	return &Sequential{
		alpha: alpha, g: g, nulls: slices.Clone(nulls), p: p,
		cs: Interval{math.Inf(-1), math.Inf(1)},
	}
}

// Add appends one observation (Welford's update). NaN values are ignored.
func (s *Sequential) Add(x float64) {
	if math.IsNaN(x) {
		return
	}
	s.n++
	d := x - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (x - s.mean)
}

// Look examines the test with the observations added so far, updating the
// running p-values and the confidence sequence.
func (s *Sequential) Look() {
	if s.n < 2 {
		return
	}
	s.looks++
	sd := math.Sqrt(math.Max(s.m2, 0) / float64(s.n-1))
	se := sd / math.Sqrt(float64(s.n))
	for i, theta := range s.nulls {
		var t float64
		switch {
		case s.mean == theta:
			t = 0
		case se == 0:
			t = math.Inf(1)
		default:
			t = (s.mean - theta) / se
		}
		if p := math.Exp(-logMixtureBF(t, s.n, s.g)); p < s.p[i] {
			s.p[i] = p
		}
	}
	if tc := MixtureCriticalT(s.n, s.g, s.alpha); !math.IsInf(tc, 1) {
		r := tc * se
		s.cs.Lo = math.Max(s.cs.Lo, s.mean-r)
		s.cs.Hi = math.Min(s.cs.Hi, s.mean+r)
	}
}

// N is the number of observations added.
func (s *Sequential) N() int { return s.n }

// Looks is the number of looks that had at least two observations.
func (s *Sequential) Looks() int { return s.looks }

// PValue is the always-valid p-value of the i-th null mean.
func (s *Sequential) PValue(i int) float64 { return min(s.p[i], 1) }

// Rejects reports whether the i-th null is rejected at level alpha.
func (s *Sequential) Rejects(i int) bool { return s.p[i] <= s.alpha }

// CS is the confidence sequence of the mean so far. An empty intersection
// (Lo > Hi, which happens with probability at most alpha under the model)
// is returned as it is.
func (s *Sequential) CS() Interval { return s.cs }

// Lag1Autocorrelation is the lag-1 sample autocorrelation of x, a check of
// the independence the tests assume. It is NaN for fewer than three values
// or zero variance.
func Lag1Autocorrelation(x []float64) float64 {
	if len(x) < 3 {
		return math.NaN()
	}
	m, _ := meanSD(x)
	var num, den float64
	for i, v := range x {
		d := v - m
		den += d * d
		if i > 0 {
			num += d * (x[i-1] - m)
		}
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}
