package analysis

import (
	"errors"
	"fmt"
	"math"
)

// Pricing models: what a vendor bills.
const (
	// ModelPerGB bills gigabytes (10^9 bytes) ingested per month.
	ModelPerGB = "per_gb"
	// ModelPerActiveSeries bills active series (Prometheus SaaS style).
	ModelPerActiveSeries = "per_active_series"
	// ModelPerCustomMetric bills custom metrics, counted as distinct time
	// series, per month.
	ModelPerCustomMetric = "per_custom_metric"
	// ModelPerMillionDatapoints bills millions of data points (samples)
	// ingested per month.
	ModelPerMillionDatapoints = "per_million_datapoints"
)

// HoursPerMonth is the length of the month costs are quoted for: 8760/12.
const HoursPerMonth = 730

// Pricing is a tenant's price list for one vendor, as data. The caller
// chooses the profiles (per tenant); DefaultPricing ships examples.
type Pricing struct {
	// Name identifies the profile, e.g. "per-gb-ingest".
	Name string `json:"name" yaml:"name"`
	// Model is one of the Model* constants.
	Model string `json:"model" yaml:"model"`
	// UnitPrice is the price of one unit per month: one GB, one series, one
	// custom metric, or one million data points.
	UnitPrice float64 `json:"unit_price" yaml:"unit_price"`
	// FreeTier is the number of units per month that are free for the
	// whole account; zero means none.
	FreeTier float64 `json:"free_tier" yaml:"free_tier"`
	// FreeTierPerHost adds free units per billed host (e.g. custom metrics
	// included with each host); zero means none.
	FreeTierPerHost float64 `json:"free_tier_per_host" yaml:"free_tier_per_host"`
	// Currency of UnitPrice; empty means USD.
	Currency string `json:"currency,omitempty" yaml:"currency"`
}

// Validate checks p; messages name the YAML key.
func (p Pricing) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if BilledKPI(p.Model) == "" {
		errs = append(errs, fmt.Errorf("model: %q is not one of %s, %s, %s, %s", p.Model,
			ModelPerGB, ModelPerActiveSeries, ModelPerCustomMetric, ModelPerMillionDatapoints))
	}
	if !(p.UnitPrice >= 0) || math.IsInf(p.UnitPrice, 0) {
		errs = append(errs, errors.New("unit_price: must be a finite number >= 0"))
	}
	if !(p.FreeTier >= 0) || math.IsInf(p.FreeTier, 0) {
		errs = append(errs, errors.New("free_tier: must be a finite number >= 0"))
	}
	if !(p.FreeTierPerHost >= 0) || math.IsInf(p.FreeTierPerHost, 0) {
		errs = append(errs, errors.New("free_tier_per_host: must be a finite number >= 0"))
	}
	return errors.Join(errs...)
}

// DefaultPricing returns the shipped profiles, one per model. The prices
// are illustrative list prices in each vendor style; tenants set their
// contract prices instead.
func DefaultPricing() []Pricing {
	return []Pricing{
		// New Relic style: $0.30 per GB ingested beyond 100 GB free a month.
		{Name: "per-gb-ingest", Model: ModelPerGB, UnitPrice: 0.30, FreeTier: 100, Currency: "USD"},
		// Grafana Cloud / Prometheus SaaS style: $8 per 1,000 active series
		// a month beyond 10,000 free.
		{Name: "per-active-series", Model: ModelPerActiveSeries, UnitPrice: 8.0 / 1000, FreeTier: 10000, Currency: "USD"},
		// Datadog style: $0.05 per custom metric a month beyond 100
		// included per host.
		{Name: "per-custom-metric", Model: ModelPerCustomMetric, UnitPrice: 0.05, FreeTierPerHost: 100, Currency: "USD"},
		// Per-sample style: $0.06 per million data points ingested.
		{Name: "per-million-datapoints", Model: ModelPerMillionDatapoints, UnitPrice: 0.06, Currency: "USD"},
	}
}

// Usage is what one host of a variant sends, on average.
type Usage struct {
	// Series is the number of active series.
	Series float64
	// DatapointsPerMin and BytesPerMin are sending rates.
	DatapointsPerMin float64
	BytesPerMin      float64
}

// BilledKPI returns the KPI a model bills, or "" for an unknown model.
func BilledKPI(model string) string {
	switch model {
	case ModelPerGB:
		return KPIBytes
	case ModelPerActiveSeries, ModelPerCustomMetric:
		return KPIOutputSeries
	case ModelPerMillionDatapoints:
		return KPIDatapoints
	}
	return ""
}

// Units is the billable units per month of one host sending u, before any
// free tier.
func (p Pricing) Units(u Usage) float64 {
	const minutes = HoursPerMonth * 60
	switch p.Model {
	case ModelPerGB:
		return u.BytesPerMin * minutes / 1e9
	case ModelPerActiveSeries, ModelPerCustomMetric:
		return u.Series
	case ModelPerMillionDatapoints:
		return u.DatapointsPerMin * minutes / 1e6
	}
	return math.NaN()
}

// Monthly is the monthly bill of hosts hosts each sending u: the units
// beyond the free tiers times the unit price.
func (p Pricing) Monthly(u Usage, hosts int) float64 {
	return p.bill(p.Units(u)*float64(hosts), hosts)
}

func (p Pricing) bill(units float64, hosts int) float64 {
	free := p.FreeTier + p.FreeTierPerHost*float64(hosts)
	return math.Max(0, units-free) * p.UnitPrice
}

// CostEstimate compares the monthly cost of the variants on a fleet under
// one pricing profile.
type CostEstimate struct {
	Pricing
	// Hosts is the fleet size the figures are extrapolated to.
	Hosts int `json:"hosts"`
	// BaselineUnits and CandidateUnits are billable units per month for the
	// fleet, before free tiers.
	BaselineUnits  Float `json:"baseline_units"`
	CandidateUnits Float `json:"candidate_units"`
	// BaselineMonthly and CandidateMonthly are the monthly bills.
	BaselineMonthly  Float `json:"baseline_monthly"`
	CandidateMonthly Float `json:"candidate_monthly"`
	// Saving is BaselineMonthly - CandidateMonthly; SavingFraction is
	// Saving/BaselineMonthly (null when the baseline costs nothing).
	Saving         Float `json:"saving"`
	SavingFraction Float `json:"saving_fraction"`
	// SavingRange is the saving at the bounds of the billed KPI's reduction
	// interval applied to the baseline's units.
	SavingRange Range `json:"saving_range"`
}

// Estimate prices the mean per-host usage of both variants on a fleet of
// hosts. reduction is the interval of the reduction of the billed KPI
// (BilledKPI(p.Model)); NaN bounds give a null SavingRange.
func Estimate(p Pricing, base, cand Usage, hosts int, reduction Interval) CostEstimate {
	bu := p.Units(base) * float64(hosts)
	cu := p.Units(cand) * float64(hosts)
	bm, cm := p.bill(bu, hosts), p.bill(cu, hosts)
	e := CostEstimate{
		Pricing: p, Hosts: hosts,
		BaselineUnits: Float(bu), CandidateUnits: Float(cu),
		BaselineMonthly: Float(bm), CandidateMonthly: Float(cm),
		Saving: Float(bm - cm), SavingFraction: Float(math.NaN()),
	}
	if bm > 0 {
		e.SavingFraction = Float((bm - cm) / bm)
	}
	// The saving grows with the reduction, so the bounds map in order.
	at := func(r float64) float64 { return bm - p.bill(bu*(1-r), hosts) }
	e.SavingRange = Range{Float(at(reduction.Lo)), Float(at(reduction.Hi))}
	return e
}
