// Package analysis turns an experiment's measurements into a verdict:
// statistics, KPIs, a cost model, and the decision rules. Analyzer
// implements experiment.Analyzer over a metrics.Source.
//
// # Data
//
// One scrape feeds both variants of an experiment, so every scrape interval
// gives a paired observation per host. The Analyzer issues the range
// queries of BuildQueries (step = the scrape interval, Config.Step, or a
// multiple of it for windows longer than MaxSteps intervals) over the
// measurement contract (phoenix_pipeline_*), each scoped to the tenant and
// the experiment and aggregated by host and variant, and pairs baseline and
// candidate values of the same host and evaluation time; times where either
// is missing give no pair. Counters are read as rate() over
// Config.RateWindow: data points and bytes per minute, processing seconds
// per second (cores).
//
// # Statistics
//
// Reductions are tested on d = log(candidate/baseline), one value per host
// and interval, so that a 20% cut is the same effect on a big host as on a
// small one; a mean m of d is the reduction 1-exp(m).
//
//   - PairedT: Student's paired t-test of mean 0 with its confidence
//     interval (gonum's StudentsT). It decides the final verdict.
//   - WilcoxonSignedRank: exact for up to WilcoxonExactMax non-zero
//     differences (also with ties), else the normal approximation with tie
//     and continuity corrections; zeros are dropped.
//   - BootstrapClusterMean: the percentile bootstrap of the mean,
//     resampling scrape intervals (all hosts of one time together), seeded
//     from the experiment ID so a report can be reproduced.
//   - Sequential: the always-valid normal-mixture SPRT with the variance
//     integrated out (a mixture t-test), with always-valid p-values and a
//     confidence sequence. Interim analyses decide with it, and only once
//     the criteria's minimum runtime has elapsed.
//
// The overhead criterion is read as extra processing time of the candidate
// in cores (seconds of processing per second of wall time): a candidate
// whose processors add 0.02 cores has overhead 0.02, compared with
// Criteria.MaxOverhead (default 0.05, 5% of a core, the product's
// overhead goal). A ratio to the baseline would be unstable: the baseline
// runs no processors of its own, so its time is close to zero. The ratio is
// reported as Overhead.Relative for information.
//
// # Assumptions
//
// The t-test, the Wilcoxon test and the sequential test treat the pairs as
// independent; the sequential test's guarantee is exact for independent
// normal log-ratios and approximate otherwise. Consecutive intervals of one
// host can be correlated (a gauge averaged over an active window, a rate
// over overlapping windows), which makes the intervals too narrow: each
// Effect reports the lag-1 autocorrelation within hosts so a reader can see
// it, and the clustered bootstrap keeps the dependence among hosts of one
// interval. The decision KPI, output series, is a gauge.
//
// # Cost
//
// Pricing profiles are data (per GB, per active series, per custom metric,
// per million data points, with free tiers); Estimate prices each variant's
// mean per-host usage on a fleet and gives the saving with the range implied
// by the reduction's interval.
package analysis
