package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// reference is testdata/reference.json, written by testdata/reference.py
// (see testdata/README.md for where every value comes from).
type reference struct {
	TTest []struct {
		Name                string
		D                   []float64
		Baseline, Candidate []float64
		Level               float64
		N                   int
		Mean, SD, SE, T, P  float64
		DF                  float64
		CILo                float64 `json:"ci_lo"`
		CIHi                float64 `json:"ci_hi"`
		Reduction           float64
		ReductionLo         float64 `json:"reduction_lo"`
		ReductionHi         float64 `json:"reduction_hi"`
		Published           *struct {
			T       float64
			TTol    float64 `json:"t_tol"`
			P       float64
			PTol    float64 `json:"p_tol"`
			CILo    float64 `json:"ci_lo"`
			CIHi    float64 `json:"ci_hi"`
			CITol   float64 `json:"ci_tol"`
			Mean    float64
			MeanTol float64 `json:"mean_tol"`
		}
	}
	Wilcoxon []struct {
		Name        string
		D           []float64
		N, Zeros    int
		Ties, Exact bool
		WPlus       float64 `json:"w_plus"`
		Z           float64
		P           float64
		PGreater    float64 `json:"p_greater"`
		PLess       float64 `json:"p_less"`
		Published   *struct {
			WPlus       float64 `json:"w_plus"`
			PGreater    float64 `json:"p_greater"`
			PGreaterTol float64 `json:"p_greater_tol"`
		}
	}
	Bootstrap struct {
		Cases []struct {
			Name      string
			D         []float64
			Ends      []int // clusters; nil: every value its own
			Key, Seed string
			Resamples int
			Level     float64
			Lo, Hi    float64
		}
		PCG12 []string `json:"pcg_1_2"`
		Ideal struct {
			D      []float64
			Level  float64
			Lo, Hi float64
		}
	}
	Sequential struct {
		Quadrature []struct {
			X            []float64
			G, T         float64
			BFQuadrature float64 `json:"bf_quadrature"`
		}
		BFGrid []struct {
			T     float64
			N     int
			G, BF float64
		} `json:"bf_grid"`
		CriticalT []struct {
			N        int
			G, Alpha float64
			T        *float64 // nil: the factor never reaches 1/alpha
		} `json:"critical_t"`
		Path   seqPath
		PathAA seqPath `json:"path_aa"`
	}
	Lag1 []struct {
		X  []float64
		R1 float64
	}
}

type seqPath struct {
	X        []float64
	PerLook  int `json:"per_look"`
	Nulls    []float64
	G, Alpha float64
	Looks    []struct {
		N    int
		P    []float64
		CSLo *float64 `json:"cs_lo"`
		CSHi *float64 `json:"cs_hi"`
	}
}

// loadReference reads testdata/reference.json.
func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var r reference
	require.NoError(t, json.Unmarshal(b, &r))
	require.NotEmpty(t, r.TTest)
	return r
}

// near requires got within 1e-6 of want, relatively for |want| > 1 and
// values far from zero, absolutely otherwise; for tiny p-values (below
// 1e-3) it also requires 1e-6 relative agreement.
func near(t *testing.T, want, got float64, what string) {
	t.Helper()
	if math.IsInf(want, 0) {
		require.Equal(t, want, got, what)
		return
	}
	scale := math.Max(1, math.Abs(want))
	require.InDelta(t, want, got, 1e-6*scale, what)
	if want != 0 && math.Abs(want) < 1e-3 {
		require.InEpsilon(t, want, got, 1e-6, what+" (relative)")
	}
}

// firstPCG returns the first k outputs of math/rand/v2's PCG(seed1, seed2).
func firstPCG(seed1, seed2 uint64, k int) []uint64 {
	src := rand.NewPCG(seed1, seed2)
	out := make([]uint64, k)
	for i := range out {
		out[i] = src.Uint64()
	}
	return out
}

func TestPairedTReference(t *testing.T) {
	t.Parallel()
	for _, c := range loadReference(t).TTest {
		t.Run(c.Name, func(t *testing.T) {
			d := c.D
			if len(d) == 0 {
				d = make([]float64, len(c.Baseline))
				for i := range d {
					d[i] = math.Log(c.Candidate[i] / c.Baseline[i])
				}
			}
			r := PairedT(d, c.Level)
			require.Equal(t, c.N, r.N)
			near(t, c.Mean, r.Mean, "mean")
			near(t, c.SD, r.SD, "sd")
			near(t, c.SE, r.SE, "se")
			near(t, c.T, r.T, "t")
			near(t, c.DF, r.DF, "df")
			near(t, c.P, r.P, "p")
			near(t, c.CILo, r.CI.Lo, "ci lo")
			near(t, c.CIHi, r.CI.Hi, "ci hi")
			if len(c.Baseline) > 0 {
				near(t, c.Reduction, ReductionFromLogRatio(r.Mean), "reduction")
				red := ReductionInterval(r.CI)
				near(t, c.ReductionLo, red.Lo, "reduction lo")
				near(t, c.ReductionHi, red.Hi, "reduction hi")
			}
			if p := c.Published; p != nil {
				require.InDelta(t, p.T, r.T, p.TTol, "published t")
				require.InDelta(t, p.P, r.P, p.PTol, "published p")
				require.InDelta(t, p.CILo, r.CI.Lo, p.CITol, "published ci lo")
				require.InDelta(t, p.CIHi, r.CI.Hi, p.CITol, "published ci hi")
				require.InDelta(t, p.Mean, r.Mean, p.MeanTol, "published mean")
			}
		})
	}
}

func TestPairedTEdgeCases(t *testing.T) {
	t.Parallel()
	r := PairedT(nil, 0.95)
	require.Zero(t, r.N)
	require.True(t, math.IsNaN(r.P))
	r = PairedT([]float64{0.1}, 0.95)
	require.Equal(t, 0.1, r.Mean)
	require.True(t, math.IsNaN(r.CI.Lo))
	r = PairedT([]float64{0, 0, 0}, 0.95)
	require.Equal(t, 1.0, r.P)
	require.Equal(t, Interval{0, 0}, r.CI)
	r = PairedT([]float64{-0.2, -0.2, -0.2}, 0.95)
	require.Equal(t, 0.0, r.P)
	require.True(t, math.IsInf(r.T, -1))
	require.InDelta(t, -0.2, r.CI.Lo, 1e-15)
	require.Equal(t, r.CI.Lo, r.CI.Hi)
}

func TestWilcoxonReference(t *testing.T) {
	t.Parallel()
	for _, c := range loadReference(t).Wilcoxon {
		t.Run(c.Name, func(t *testing.T) {
			r := WilcoxonSignedRank(c.D)
			require.Equal(t, c.N, r.N)
			require.Equal(t, c.Zeros, r.Zeros)
			require.Equal(t, c.Ties, r.Ties)
			require.Equal(t, c.Exact, r.Exact)
			near(t, c.WPlus, r.WPlus, "w+")
			near(t, c.P, r.P, "p")
			near(t, c.PGreater, r.PGreater, "p greater")
			near(t, c.PLess, r.PLess, "p less")
			if !c.Exact {
				near(t, c.Z, r.Z, "z")
			}
			if p := c.Published; p != nil {
				require.Equal(t, p.WPlus, r.WPlus)
				require.InDelta(t, p.PGreater, r.PGreater, p.PGreaterTol)
				require.Equal(t, 10.0/512, r.PGreater) // exact: 10 of the 2^9 sign vectors reach V >= 40
			}
		})
	}
}

func TestWilcoxonEdgeCases(t *testing.T) {
	t.Parallel()
	r := WilcoxonSignedRank([]float64{0, 0, 0})
	require.Equal(t, 0, r.N)
	require.Equal(t, 3, r.Zeros)
	require.Equal(t, 1.0, r.P)
	// One non-zero difference: P(W+ >= 1) = 1/2, two-sided 1.
	r = WilcoxonSignedRank([]float64{0, 0.3})
	require.Equal(t, 0.5, r.PGreater)
	require.Equal(t, 1.0, r.P)
	// The boundary between the exact and the approximate test.
	d := make([]float64, WilcoxonExactMax+1)
	for i := range d {
		d[i] = float64(i+1) * 0.01
	}
	require.True(t, WilcoxonSignedRank(d[:WilcoxonExactMax]).Exact)
	require.False(t, WilcoxonSignedRank(d).Exact)
	// All 25 positive: exact one-sided p is 2^-25.
	require.Equal(t, math.Ldexp(1, -WilcoxonExactMax), WilcoxonSignedRank(d[:WilcoxonExactMax]).PGreater)
}

func TestBootstrapReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t).Bootstrap
	// The generator is the one the Python reference reimplements.
	want := make([]uint64, len(ref.PCG12))
	for i, s := range ref.PCG12 {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		want[i] = v
	}
	require.Equal(t, want, firstPCG(1, 2, len(want)))
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			seed, err := strconv.ParseUint(c.Seed, 10, 64)
			require.NoError(t, err)
			require.Equal(t, seed, SeedFrom(c.Key))
			boot := func() Interval {
				if c.Ends != nil {
					return BootstrapClusterMean(c.D, c.Ends, c.Resamples, seed, c.Level)
				}
				return BootstrapMean(c.D, c.Resamples, seed, c.Level)
			}
			ci := boot()
			near(t, c.Lo, ci.Lo, "lo")
			near(t, c.Hi, ci.Hi, "hi")
			require.Equal(t, ci, boot(), "reproducible")
		})
	}
	// Many resamples of a tiny sample approach the ideal bootstrap (all
	// 6^6 resamples enumerated): a check of the resampling itself.
	ci := BootstrapMean(ref.Ideal.D, 100_000, 7, ref.Ideal.Level)
	require.InDelta(t, ref.Ideal.Lo, ci.Lo, 0.01)
	require.InDelta(t, ref.Ideal.Hi, ci.Hi, 0.01)
	require.True(t, math.IsNaN(BootstrapMean([]float64{1}, 100, 1, 0.95).Lo))
}

func TestMixtureReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t).Sequential
	for _, q := range ref.Quadrature {
		// The closed form against the mixture integral evaluated from its
		// definition.
		require.InEpsilon(t, q.BFQuadrature, MixtureBayesFactor(q.T, len(q.X), q.G), 1e-6)
		r := PairedT(q.X, 0.95)
		near(t, q.T, r.T, "t")
	}
	for _, g := range ref.BFGrid {
		require.InEpsilon(t, g.BF, MixtureBayesFactor(g.T, g.N, g.G), 1e-9, "bf(t=%v, n=%d, g=%v)", g.T, g.N, g.G)
	}
	for _, c := range ref.CriticalT {
		got := MixtureCriticalT(c.N, c.G, c.Alpha)
		if c.T == nil {
			require.True(t, math.IsInf(got, 1), "n=%d", c.N)
			continue
		}
		near(t, *c.T, got, "critical t")
		require.InEpsilon(t, 1/c.Alpha, MixtureBayesFactor(got, c.N, c.G), 1e-9)
	}
	require.True(t, math.IsNaN(MixtureBayesFactor(1, 1, 1)))
}

func TestSequentialReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t).Sequential
	for name, p := range map[string]seqPath{"path": ref.Path, "path_aa": ref.PathAA} {
		t.Run(name, func(t *testing.T) {
			s := NewSequential(p.Alpha, p.G, p.Nulls...)
			look := 0
			for i, x := range p.X {
				s.Add(x)
				if (i+1)%p.PerLook != 0 {
					continue
				}
				s.Look()
				w := p.Looks[look]
				look++
				require.Equal(t, w.N, s.N())
				for j := range p.Nulls {
					near(t, w.P[j], s.PValue(j), "p")
				}
				cs := s.CS()
				if w.CSLo == nil {
					require.True(t, math.IsInf(cs.Lo, -1) && math.IsInf(cs.Hi, 1), "n=%d: %v", w.N, cs)
					continue
				}
				near(t, *w.CSLo, cs.Lo, "cs lo")
				near(t, *w.CSHi, cs.Hi, "cs hi")
			}
			require.Equal(t, len(p.Looks), look)
		})
	}
}

func TestLag1Reference(t *testing.T) {
	t.Parallel()
	for _, c := range loadReference(t).Lag1 {
		near(t, c.R1, Lag1Autocorrelation(c.X), "r1")
	}
	require.True(t, math.IsNaN(Lag1Autocorrelation([]float64{1, 2})))
	require.True(t, math.IsNaN(Lag1Autocorrelation([]float64{1, 1, 1})))
}

func TestReductionInterval(t *testing.T) {
	t.Parallel()
	// log(0.8) maps to a 20% reduction; the bounds swap.
	ci := ReductionInterval(Interval{math.Log(0.7), math.Log(0.8)})
	require.InDelta(t, 0.2, ci.Lo, 1e-15)
	require.InDelta(t, 0.3, ci.Hi, 1e-15)
	require.True(t, ci.Contains(0.25))
	require.False(t, ci.Contains(0.31))
}
