package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// The simulations model one host scraped every 10 s. The log-ratio
// log(candidate/baseline) of one interval is the planted effect plus noise
// with a standard deviation of 3%: the coefficient of variation of a host's
// series count under steady load (a few processes starting and stopping per
// minute out of hundreds) is a few percent, and since both variants see the
// same scrape, the noise of the ratio is at most that of the candidate's own
// selection. Observations are independent; see the package documentation on
// autocorrelation.
const (
	simNoise      = 0.03 // standard deviation of a log-ratio
	simAlpha      = 0.05
	simMinRuntime = 18 // intervals: 3 minutes at 10 s
	simHorizon    = 60 // intervals: a 10-minute experiment
)

// fpBound is the largest false-positive rate accepted from n simulated
// experiments: the nominal rate plus three binomial standard errors.
func fpBound(n int) float64 {
	return simAlpha + 3*math.Sqrt(simAlpha*(1-simAlpha)/float64(n))
}

type noise func(r *rand.Rand) float64

func normalNoise(sd float64) noise {
	return func(r *rand.Rand) float64 { return sd * r.NormFloat64() }
}

// studentNoise is heavy-tailed noise (t with nu degrees of freedom) scaled
// to standard deviation sd.
func studentNoise(sd, nu float64, seed uint64) noise {
	src := rand.NewPCG(seed, 99)
	d := distuv.StudentsT{Mu: 0, Sigma: sd / math.Sqrt(nu/(nu-2)), Nu: nu, Src: rand.New(src)}
	return func(*rand.Rand) float64 { return d.Rand() }
}

type simRates struct {
	fixedT, wilcoxon, bootstrap, sequential float64
}

// simulate runs experiments A/B tests with mean log-ratio effect and returns
// how often each rule rejects H0: no difference. The fixed-horizon tests
// look once, after horizon intervals; the sequential rule is updated every
// interval from the start and may decide at any interval from minRuntime
// on. The bootstrap (DefaultResamples) runs on the first bootstrapped
// experiments only, as it costs most.
func simulate(experiments, horizon int, effect float64, nz noise, seed uint64, bootstrapped int) simRates {
	r := rand.New(rand.NewPCG(seed, 7))
	var fixed, wil, boot, seq int
	d := make([]float64, horizon)
	for e := range experiments {
		s := NewSequential(simAlpha, DefaultMixtureScale, 0)
		decided := false
		for i := range d {
			d[i] = effect + nz(r)
			s.Add(d[i])
			s.Look()
			if i+1 >= simMinRuntime && s.Rejects(0) {
				decided = true
			}
		}
		if decided {
			seq++
		}
		if PairedT(d, 1-simAlpha).P <= simAlpha {
			fixed++
		}
		if WilcoxonSignedRank(d).P <= simAlpha {
			wil++
		}
		if e < bootstrapped && !BootstrapMean(d, DefaultResamples, uint64(e)+1, 1-simAlpha).Contains(0) {
			boot++
		}
	}
	n := float64(experiments)
	return simRates{float64(fixed) / n, float64(wil) / n, float64(boot) / float64(max(bootstrapped, 1)), float64(seq) / n}
}

func TestSimulationFalsePositiveRate(t *testing.T) {
	t.Parallel()
	const experiments, bootstrapped = 1000, 600
	bound := fpBound(experiments)
	for _, c := range []struct {
		name         string
		nz           noise
		bootstrapped int
	}{
		{"normal", normalNoise(simNoise), bootstrapped},
		{"student-t4", studentNoise(simNoise, 4, 3), 0},
	} {
		got := simulate(experiments, simHorizon, 0, c.nz, 1, c.bootstrapped)
		t.Logf("A/A %s noise sd %.2f, %d experiments of %d intervals: false positives t %.3f, wilcoxon %.3f, sequential %.3f (bound %.4f)",
			c.name, simNoise, experiments, simHorizon, got.fixedT, got.wilcoxon, got.sequential, bound)
		require.LessOrEqual(t, got.fixedT, bound, c.name+": fixed-horizon t")
		require.LessOrEqual(t, got.wilcoxon, bound, c.name+": wilcoxon")
		require.LessOrEqual(t, got.sequential, bound, c.name+": sequential")
		if c.bootstrapped > 0 {
			t.Logf("  bootstrap (%d resamples) on %d of them: %.3f (bound %.4f)", DefaultResamples, c.bootstrapped, got.bootstrap, fpBound(c.bootstrapped))
			require.LessOrEqual(t, got.bootstrap, fpBound(c.bootstrapped), c.name+": bootstrap")
		}
	}
}

func TestSimulationSequentialLongRun(t *testing.T) {
	t.Parallel()
	// Peeking at every interval of a 1-hour experiment (360 looks) must
	// still keep the sequential rule's error below alpha, which a repeated
	// fixed-horizon t-test does not.
	const experiments, horizon = 500, 360
	r := rand.New(rand.NewPCG(11, 7))
	var seq, peeking int
	d := make([]float64, 0, horizon)
	for range experiments {
		s := NewSequential(simAlpha, DefaultMixtureScale, 0)
		d = d[:0]
		seqHit, peekHit := false, false
		for i := range horizon {
			x := simNoise * r.NormFloat64()
			d = append(d, x)
			s.Add(x)
			s.Look()
			if i+1 >= simMinRuntime {
				seqHit = seqHit || s.Rejects(0)
				if i%6 == 5 && !peekHit { // a naive t-test once a minute
					peekHit = PairedT(d, 1-simAlpha).P <= simAlpha
				}
			}
		}
		if seqHit {
			seq++
		}
		if peekHit {
			peeking++
		}
	}
	fpSeq := float64(seq) / experiments
	fpPeek := float64(peeking) / experiments
	t.Logf("A/A 1 h, %d experiments: sequential rule %.3f, naive t-test peeking every minute %.3f", experiments, fpSeq, fpPeek)
	require.LessOrEqual(t, fpSeq, fpBound(experiments))
	require.Greater(t, fpPeek, fpBound(experiments), "peeking with a fixed-horizon test should inflate errors; if not, the simulation lacks power to show it")
}

func TestSimulationPower(t *testing.T) {
	t.Parallel()
	const experiments = 1000
	effect := math.Log(1 - 0.10) // a 10% reduction
	got := simulate(experiments, simMinRuntime, effect, normalNoise(simNoise), 2, 0)
	t.Logf("planted 10%% reduction, noise sd %.2f, %d intervals (3 min at 10 s): power t %.3f, wilcoxon %.3f, sequential %.3f",
		simNoise, simMinRuntime, got.fixedT, got.wilcoxon, got.sequential)
	require.GreaterOrEqual(t, got.fixedT, 0.9)
	require.GreaterOrEqual(t, got.sequential, 0.9)
	// How the power falls with noisier hosts; a pessimistic 8% must still
	// reach 0.9.
	for _, sd := range []float64{0.05, 0.08, 0.12, 0.2} {
		p := simulate(experiments, simMinRuntime, effect, normalNoise(sd), 3, 0)
		t.Logf("  noise sd %.2f: power t %.3f, wilcoxon %.3f, sequential %.3f", sd, p.fixedT, p.wilcoxon, p.sequential)
		if sd <= 0.08 {
			require.GreaterOrEqual(t, p.fixedT, 0.9, "sd %v", sd)
			require.GreaterOrEqual(t, p.sequential, 0.9, "sd %v", sd)
		}
	}
}
