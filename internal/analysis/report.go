package analysis

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Float is a float64 that is written to JSON as null when it is NaN (not
// computed: too little data) or infinite (an unbounded side of an interval).
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler; null reads as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Range is an interval in a Report; a null bound is unbounded or unknown.
type Range struct {
	Lo Float `json:"lo"`
	Hi Float `json:"hi"`
}

func rangeOf(i Interval) Range { return Range{Float(i.Lo), Float(i.Hi)} }

func (r Range) interval() Interval { return Interval{float64(r.Lo), float64(r.Hi)} }

// Report is the full result of an analysis: what experiment.Analysis.Report
// holds as JSON and what the experiment stores as its result.
//
// Reductions are fractions (0.6 = the candidate sends 60% less); intervals
// are two-sided at the experiment's confidence level. The fixed-horizon
// interval (ci) is the paired t-test on log(candidate/baseline) per host
// and interval; bootstrap_ci is the percentile bootstrap of the same mean;
// sequential_cs is the always-valid confidence sequence, the one interim
// decisions use.
type Report struct {
	// Verdict is promote, reject or inconclusive.
	Verdict string `json:"verdict"`
	// Decided mirrors experiment.Analysis.Decided.
	Decided bool `json:"decided"`
	// Final is true for the analysis at the end of the experiment, false
	// for an interim one.
	Final bool `json:"final"`
	// Explanation says in a few sentences why, for people.
	Explanation string `json:"explanation"`
	// Reasons are the findings behind the verdict, one sentence each.
	Reasons []string `json:"reasons"`
	// Needs lists, for an inconclusive verdict, what is missing:
	// NeedMoreTime, NeedMoreHosts, NeedData, NeedCriticalData,
	// NeedOverheadData.
	Needs []string `json:"needs,omitempty"`
	// Window is the time span analysed.
	Window Window `json:"window"`
	// IntervalSeconds is the step of the range queries (the scrape
	// interval): one paired observation per host per interval.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Criteria are the success criteria applied (spec defaults filled in).
	Criteria Criteria `json:"criteria"`
	// Hosts says which hosts contributed data.
	Hosts Hosts `json:"hosts"`
	// Pairs is the number of (host, interval) observations of output series
	// with both variants.
	Pairs int `json:"pairs"`
	// KPIs are the per-variant figures and, for the output KPIs, the
	// reduction with its tests, in a fixed order: output series, data
	// points, bytes, processing time, input series.
	KPIs []KPI `json:"kpis"`
	// Critical is the retention of critical processes.
	Critical Critical `json:"critical"`
	// Overhead is the candidate's extra processing time.
	Overhead Overhead `json:"overhead"`
	// Cost is the monthly cost of each variant under each pricing profile.
	Cost []CostEstimate `json:"cost"`
	// CostError is set when the tenant's pricing could not be read.
	CostError string `json:"cost_error,omitempty"`
	// PerHost breaks the main figures down by host.
	PerHost []HostReport `json:"per_host"`
	// Method records the statistical settings, for reproducing the figures.
	Method Method `json:"method"`
}

// What an inconclusive verdict needs.
const (
	// NeedMoreTime: the intervals still straddle a criterion.
	NeedMoreTime = "more_time"
	// NeedMoreHosts: target hosts sent no paired data.
	NeedMoreHosts = "more_hosts"
	// NeedData: too few paired observations to test anything.
	NeedData = "data"
	// NeedCriticalData: the candidate reported no critical-process gauges.
	NeedCriticalData = "critical_data"
	// NeedOverheadData: no paired processing-time measurements.
	NeedOverheadData = "overhead_data"
)

// Window is the analysed time span.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// ElapsedSeconds is End - Start.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// MinRuntimeElapsed is true once the criteria's minimum runtime has
	// passed; only then may an interim analysis decide.
	MinRuntimeElapsed bool `json:"min_runtime_elapsed"`
}

// Criteria are the success criteria as applied: the spec's
// experiment.Criteria with defaults filled in.
type Criteria struct {
	// MinReduction of output series, a fraction.
	MinReduction float64 `json:"min_reduction"`
	// MaxOverhead is the largest extra processing time, in cores.
	MaxOverhead float64 `json:"max_overhead"`
	// CriticalRetention is the smallest fraction of critical processes kept.
	CriticalRetention float64 `json:"critical_retention"`
	// ConfidenceLevel of every interval and test.
	ConfidenceLevel float64 `json:"confidence_level"`
	// MinRuntimeSeconds is the shortest runtime before an interim decision.
	MinRuntimeSeconds float64 `json:"min_runtime_seconds"`
}

// Hosts lists the hosts of an analysis.
type Hosts struct {
	// Expected are the spec's target hosts (empty for a selector).
	Expected []string `json:"expected"`
	// Used sent paired output-series data.
	Used []string `json:"used"`
	// Unpaired sent data for one variant only.
	Unpaired []string `json:"unpaired"`
	// Missing are expected hosts that sent nothing.
	Missing []string `json:"missing"`
	// Disconnected are target hosts whose agents disconnected after the
	// experiment started; their data up to then is used. Absent when none
	// did.
	Disconnected []DisconnectedHost `json:"disconnected,omitempty"`
	// Fleet is the number of hosts the costs are extrapolated to.
	Fleet int `json:"fleet"`
}

// DisconnectedHost is a target host whose agents went away mid-experiment.
type DisconnectedHost struct {
	Host string `json:"host"`
	// LastSeenAt is when its last agent was last heard from.
	LastSeenAt time.Time `json:"last_seen_at"`
}

// KPI is one measured quantity of both variants.
type KPI struct {
	// Name is one of the KPI* constants.
	Name string `json:"name"`
	// Unit of Baseline and Candidate.
	Unit string `json:"unit"`
	// Baseline and Candidate are means per host and interval over the
	// paired observations.
	Baseline  Float `json:"baseline"`
	Candidate Float `json:"candidate"`
	// Reduction compares the candidate with the baseline (omitted for the
	// processing time, see Report.Overhead, and for input series).
	Reduction *Effect `json:"reduction,omitempty"`
}

// Effect is an estimated difference between the variants with its
// intervals and tests. For a reduction the tests run on log(candidate /
// baseline) and Estimate and the intervals are reductions 1 - exp(mean);
// for the overhead they run on candidate - baseline (cores).
type Effect struct {
	// Pairs used; Skipped pairs had a non-positive value (no log-ratio).
	Pairs   int `json:"pairs"`
	Skipped int `json:"skipped,omitempty"`
	// Estimate is the point estimate.
	Estimate Float `json:"estimate"`
	// CI is the fixed-horizon paired t interval.
	CI Range `json:"ci"`
	// BootstrapCI is the percentile bootstrap interval of the mean.
	BootstrapCI Range `json:"bootstrap_ci"`
	// SequentialCS is the always-valid confidence sequence.
	SequentialCS Range `json:"sequential_cs"`
	// Mean and SD are of the tested values (log-ratios or differences).
	Mean Float `json:"mean"`
	SD   Float `json:"sd"`
	// T and PT are the paired t statistic and its two-sided p-value.
	T  Float `json:"t"`
	PT Float `json:"p_t"`
	// WilcoxonPlus is the signed-rank statistic W+, PWilcoxon its
	// two-sided p-value (exact or normal approximation).
	WilcoxonPlus  Float `json:"wilcoxon_w_plus"`
	PWilcoxon     Float `json:"p_wilcoxon"`
	WilcoxonExact bool  `json:"wilcoxon_exact"`
	// PSequential is the always-valid p-value of no difference;
	// PSequentialCriterion that of the criterion's boundary (the minimum
	// reduction, or the maximum overhead).
	PSequential          Float `json:"p_sequential"`
	PSequentialCriterion Float `json:"p_sequential_criterion"`
	// Lag1 is the lag-1 autocorrelation of the tested values within hosts;
	// the tests assume independent intervals, and values well above 0 make
	// the intervals too narrow.
	Lag1 Float `json:"lag1_autocorrelation"`

	mean         float64
	ci, boot, cs Interval
}

// Critical is the retention of critical processes.
type Critical struct {
	// Measured is true when the candidate reported the critical gauges.
	Measured bool `json:"measured"`
	// Expected is the mean number of critical processes per host and
	// interval in the candidate's input.
	Expected Float `json:"expected"`
	// RetentionBaseline and RetentionCandidate are retained/expected summed
	// over hosts and intervals (1 when nothing was expected).
	RetentionBaseline  Float `json:"retention_baseline"`
	RetentionCandidate Float `json:"retention_candidate"`
	// Required is the criteria's critical retention.
	Required float64 `json:"required"`
	// Lost are the processes the candidate dropped while the baseline kept
	// them; LostProcesses are their distinct names.
	Lost          []LostProcess `json:"lost"`
	LostProcesses []string      `json:"lost_processes"`
}

// LostProcess is a critical executable the candidate dropped on a host.
type LostProcess struct {
	// Host and Process (executable name) identify it.
	Host    string `json:"host"`
	Process string `json:"process"`
	// Intervals is the number of intervals it was missing, from First to
	// Last.
	Intervals int       `json:"intervals"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// Overhead is the candidate's extra processing time.
type Overhead struct {
	// Measured is true when both variants reported processing time.
	Measured bool `json:"measured"`
	// Max is the criteria's maximum overhead, in cores.
	Max float64 `json:"max"`
	// Extra is candidate - baseline in cores (seconds of processing per
	// second), with its intervals and tests.
	Extra Effect `json:"extra"`
	// Relative is the candidate's mean processing time over the baseline's,
	// minus 1 (descriptive; null when the baseline spends none).
	Relative Float `json:"relative"`
}

// HostReport is the breakdown of one host.
type HostReport struct {
	// Host is the host label.
	Host string `json:"host"`
	// Pairs of output series.
	Pairs int `json:"pairs"`
	// KPIs of this host, in the order of Report.KPIs.
	KPIs []HostKPI `json:"kpis"`
	// RetentionCandidate of critical processes on this host (null when the
	// candidate reported no critical gauges here).
	RetentionCandidate Float `json:"retention_candidate"`
	// Lost critical executables on this host.
	Lost []string `json:"lost,omitempty"`
}

// HostKPI is one KPI of one host.
type HostKPI struct {
	// Name is one of the KPI* constants.
	Name string `json:"name"`
	// Pairs of this KPI on this host.
	Pairs int `json:"pairs"`
	// Baseline and Candidate are means over the pairs.
	Baseline  Float `json:"baseline"`
	Candidate Float `json:"candidate"`
	// Estimate and CI (paired t, at the confidence level) are the reduction
	// for the output KPIs and the extra cores for processing_cores; both
	// are null for input_series.
	Estimate Float `json:"estimate"`
	CI       Range `json:"ci"`
}

// Method records how the figures were computed.
type Method struct {
	// Test names the primary test.
	Test string `json:"test"`
	// Resamples of the bootstrap; Seed is the string its generator's seed
	// is derived from (the experiment ID; each KPI appends "/" + its name).
	Resamples int    `json:"bootstrap_resamples"`
	Seed      string `json:"bootstrap_seed"`
	// MixtureScale is the variance of the normal mixing distribution of the
	// standardized effect in the sequential test.
	MixtureScale float64 `json:"mixture_scale"`
	// WilcoxonExactMax is the largest n with exact Wilcoxon p-values.
	WilcoxonExactMax int `json:"wilcoxon_exact_max"`
	// RateWindowSeconds is the range of rate() for the counters.
	RateWindowSeconds float64 `json:"rate_window_seconds"`
}
