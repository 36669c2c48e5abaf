package analysis

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The expected figures are worked by hand: a month is 730 h = 43,800 min.
func TestEstimate(t *testing.T) {
	t.Parallel()
	base := Usage{Series: 3000, DatapointsPerMin: 18000, BytesPerMin: 1e6}
	cand := Usage{Series: 1200, DatapointsPerMin: 7200, BytesPerMin: 4e5}
	red := Interval{0.5, 0.7}
	for _, c := range []struct {
		profile                  string
		baseUnits, candUnits     float64
		baseMonthly, candMonthly float64
		savingLo, savingHi       float64
	}{
		// 1e6 B/min * 43,800 min = 43.8 GB a host; 438 GB for 10 hosts;
		// (438 - 100 free) * $0.30 = $101.40. Candidate 175.2 GB -> $22.56.
		// At 50% reduction 219 GB -> $35.70 (saving 65.70); at 70% 131.4 GB
		// -> $9.42 (saving 91.98).
		{"per-gb-ingest", 438, 175.2, 101.40, 22.56, 65.70, 91.98},
		// 30,000 series; (30,000 - 10,000) * $0.008 = $160; 12,000 -> $16.
		// 15,000 -> $40 (saving 120); 9,000 -> $0 (saving 160).
		{"per-active-series", 30000, 12000, 160, 16, 120, 160},
		// 100 free per host: (30,000 - 1,000) * $0.05 = $1,450;
		// (12,000 - 1,000) * $0.05 = $550; 15,000 -> $700; 9,000 -> $400.
		{"per-custom-metric", 30000, 12000, 1450, 550, 750, 1050},
		// 18,000/min * 43,800 = 788.4 M a host; 7,884 M * $0.06 = $473.04;
		// 3,153.6 M -> $189.216; at 50% $236.52; at 70% $141.912.
		{"per-million-datapoints", 7884, 3153.6, 473.04, 189.216, 236.52, 331.128},
	} {
		t.Run(c.profile, func(t *testing.T) {
			var p Pricing
			for _, d := range DefaultPricing() {
				if d.Name == c.profile {
					p = d
				}
			}
			require.NoError(t, p.Validate())
			e := Estimate(p, base, cand, 10, red)
			require.Equal(t, 10, e.Hosts)
			require.InDelta(t, c.baseUnits, float64(e.BaselineUnits), 1e-9)
			require.InDelta(t, c.candUnits, float64(e.CandidateUnits), 1e-9)
			require.InDelta(t, c.baseMonthly, float64(e.BaselineMonthly), 1e-9)
			require.InDelta(t, c.candMonthly, float64(e.CandidateMonthly), 1e-9)
			require.InDelta(t, c.baseMonthly-c.candMonthly, float64(e.Saving), 1e-9)
			require.InDelta(t, (c.baseMonthly-c.candMonthly)/c.baseMonthly, float64(e.SavingFraction), 1e-12)
			require.InDelta(t, c.savingLo, float64(e.SavingRange.Lo), 1e-9)
			require.InDelta(t, c.savingHi, float64(e.SavingRange.Hi), 1e-9)
			require.InDelta(t, c.baseMonthly, p.Monthly(base, 10), 1e-9)
		})
	}
}

func TestEstimateEdges(t *testing.T) {
	t.Parallel()
	p := Pricing{Name: "free", Model: ModelPerActiveSeries, UnitPrice: 0.008, FreeTier: 1e6}
	e := Estimate(p, Usage{Series: 3000}, Usage{Series: 1000}, 10, nanInterval)
	require.Zero(t, float64(e.BaselineMonthly))
	require.Zero(t, float64(e.Saving))
	require.True(t, math.IsNaN(float64(e.SavingFraction)), "no fraction of nothing")
	require.True(t, math.IsNaN(float64(e.SavingRange.Lo)))
	require.Equal(t, KPIOutputSeries, BilledKPI(ModelPerCustomMetric))
	require.Equal(t, KPIBytes, BilledKPI(ModelPerGB))
	require.Equal(t, KPIDatapoints, BilledKPI(ModelPerMillionDatapoints))
	require.Empty(t, BilledKPI("per_moon"))
	require.True(t, math.IsNaN(Pricing{Model: "per_moon"}.Units(Usage{Series: 1})))
}

func TestPricingValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    Pricing
		want string
	}{
		{Pricing{Name: "ok", Model: ModelPerGB, UnitPrice: 0.3}, ""},
		{Pricing{Model: ModelPerGB}, "name: required"},
		{Pricing{Name: "x", Model: "per_moon"}, `model: "per_moon" is not one of per_gb, per_active_series, per_custom_metric, per_million_datapoints`},
		{Pricing{Name: "x", Model: ModelPerGB, UnitPrice: -1}, "unit_price: must be a finite number >= 0"},
		{Pricing{Name: "x", Model: ModelPerGB, UnitPrice: math.NaN()}, "unit_price: must be a finite number >= 0"},
		{Pricing{Name: "x", Model: ModelPerGB, FreeTier: math.Inf(1)}, "free_tier: must be a finite number >= 0"},
		{Pricing{Name: "x", Model: ModelPerGB, FreeTierPerHost: -5}, "free_tier_per_host: must be a finite number >= 0"},
	} {
		err := c.p.Validate()
		if c.want == "" {
			require.NoError(t, err)
			continue
		}
		require.EqualError(t, err, c.want)
	}
	for _, p := range DefaultPricing() {
		require.NoError(t, p.Validate(), p.Name)
	}
}

// ExampleEstimate prices a candidate that halves a 10-host fleet's active
// series under the default per-series profile.
func ExampleEstimate() {
	p := DefaultPricing()[1] // per-active-series: $8 per 1,000 a month, 10,000 free
	e := Estimate(p, Usage{Series: 4000}, Usage{Series: 2000}, 10, Interval{0.45, 0.55})
	fmt.Printf("%s: $%.2f -> $%.2f a month, saving $%.2f ($%.2f to $%.2f)\n",
		e.Name, float64(e.BaselineMonthly), float64(e.CandidateMonthly), float64(e.Saving),
		float64(e.SavingRange.Lo), float64(e.SavingRange.Hi))
	// Output: per-active-series: $240.00 -> $80.00 a month, saving $160.00 ($144.00 to $176.00)
}
