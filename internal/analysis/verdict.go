package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/phoenix/platform/internal/experiment"
)

// evidence is what a verdict is decided from.
type evidence struct {
	final    bool
	criteria Criteria
	// minRuntime is true once the minimum runtime has elapsed.
	minRuntime bool
	// pairs of output series; reduction is its decision interval: the t
	// interval when final, the confidence sequence otherwise.
	pairs     int
	estimate  float64
	reduction Interval
	hosts     Hosts
	critical  Critical
	overhead  Overhead
	// overheadInterval is the decision interval of the extra cores.
	overheadInterval Interval
}

// decision is a verdict with its reasons.
type decision struct {
	verdict string
	decided bool
	reasons []string
	needs   []string
	summary string
}

// decide applies the criteria:
//
//   - reject when the candidate lost a critical process the baseline kept,
//     when its critical retention is below the criterion, when the lower
//     bound of its extra processing time exceeds the maximum overhead, or
//     when the upper bound of the reduction is below the minimum reduction;
//   - promote when the lower bound of the reduction reaches the minimum
//     reduction, retention meets the criterion with no process lost, and
//     the upper bound of the extra processing time is within the maximum;
//   - otherwise inconclusive, listing what is missing.
//
// A final analysis uses the fixed-horizon t intervals and is decided when
// the verdict is not inconclusive. An interim analysis uses the
// always-valid confidence sequences instead, and is decided only once the
// minimum runtime has elapsed and some reason cannot be overturned by more
// data: a lost critical process or a retention below a criterion of 1 stay
// in the window, and an always-valid interval holds at any stopping time;
// a retention below a criterion under 1 can recover, so alone it waits for
// the final analysis.
func decide(ev evidence) decision {
	c := ev.criteria
	var (
		d        decision
		rejects  []string
		blockers []string
		// ok holds the criteria met, by criterion: reduction, critical,
		// overhead (the order of the explanation).
		ok      [3]string
		settled bool // some reject reason cannot be overturned by more data
	)
	interval := "CI"
	if !ev.final {
		interval = "always-valid CS"
	}
	level := pct(c.ConfidenceLevel)

	if ev.pairs < 2 {
		d.needs = append(d.needs, NeedData)
		blockers = append(blockers, fmt.Sprintf("only %d paired observations of output series", ev.pairs))
	}
	if len(ev.hosts.Missing) > 0 {
		d.reasons = append(d.reasons, fmt.Sprintf("no data from target hosts %s", strings.Join(ev.hosts.Missing, ", ")))
	}
	if len(ev.hosts.Unpaired) > 0 {
		d.reasons = append(d.reasons, fmt.Sprintf("hosts %s sent data for one variant only", strings.Join(ev.hosts.Unpaired, ", ")))
	}

	// Critical processes.
	cr := ev.critical
	if len(cr.Lost) > 0 {
		var parts []string
		for _, name := range cr.LostProcesses {
			var hosts []string
			for _, l := range cr.Lost {
				if l.Process == name {
					hosts = append(hosts, fmt.Sprintf("%s, %d intervals", l.Host, l.Intervals))
				}
			}
			parts = append(parts, fmt.Sprintf("%s (%s)", name, strings.Join(hosts, "; ")))
		}
		rejects = append(rejects, "the candidate lost critical processes the baseline kept: "+strings.Join(parts, ", "))
		settled = true
	}
	switch {
	case !cr.Measured:
		d.needs = append(d.needs, NeedCriticalData)
		blockers = append(blockers, "the candidate reported no critical-process measurements")
	case float64(cr.RetentionCandidate) < cr.Required:
		rejects = append(rejects, fmt.Sprintf("critical retention %s is below the required %s",
			pct(float64(cr.RetentionCandidate)), pct(cr.Required)))
		// Below a criterion of 1 the deficit is permanent; below a lower
		// one, more intervals can lift the ratio again.
		if cr.Required >= 1 {
			settled = true
		}
	}
	criticalOK := cr.Measured && float64(cr.RetentionCandidate) >= cr.Required && len(cr.Lost) == 0
	if criticalOK {
		ok[1] = fmt.Sprintf("critical processes retained: %s (required %s)",
			pct(float64(cr.RetentionCandidate)), pct(cr.Required))
	}

	// Overhead, in cores.
	oh := ev.overhead
	oi := ev.overheadInterval
	overheadOK := false
	switch {
	case !oh.Measured:
		d.needs = append(d.needs, NeedOverheadData)
		blockers = append(blockers, "no paired processing-time measurements")
	case oi.Lo > c.MaxOverhead:
		rejects = append(rejects, fmt.Sprintf("extra processing %s cores (%s %s %s to %s) exceeds the maximum %s",
			num(float64(oh.Extra.Estimate)), level, interval, num(oi.Lo), num(oi.Hi), num(c.MaxOverhead)))
		settled = true
	case oi.Hi <= c.MaxOverhead:
		overheadOK = true
		ok[2] = fmt.Sprintf("extra processing %s cores (%s %s %s to %s), within %s",
			num(float64(oh.Extra.Estimate)), level, interval, num(oi.Lo), num(oi.Hi), num(c.MaxOverhead))
	default:
		d.needs = append(d.needs, NeedMoreTime)
		blockers = append(blockers, fmt.Sprintf("extra processing %s cores (%s %s %s to %s) may exceed the maximum %s",
			num(float64(oh.Extra.Estimate)), level, interval, num(oi.Lo), num(oi.Hi), num(c.MaxOverhead)))
	}

	// Reduction of output series.
	ri := ev.reduction
	reductionOK := false
	if ev.pairs >= 2 {
		what := fmt.Sprintf("output series reduced by %s (%s %s %s to %s; %d pairs on %d hosts)",
			pct(ev.estimate), level, interval, pct(ri.Lo), pct(ri.Hi), ev.pairs, len(ev.hosts.Used))
		switch {
		case ri.Hi < c.MinReduction:
			rejects = append(rejects, fmt.Sprintf("%s, below the required %s", what, pct(c.MinReduction)))
			settled = true
		case ri.Lo >= c.MinReduction:
			reductionOK = true
			ok[0] = fmt.Sprintf("%s, at least the required %s", what, pct(c.MinReduction))
		default:
			d.needs = append(d.needs, NeedMoreTime)
			if len(ev.hosts.Missing) > 0 {
				d.needs = append(d.needs, NeedMoreHosts)
			}
			blockers = append(blockers, fmt.Sprintf("%s: the interval includes the required %s", what, pct(c.MinReduction)))
		}
	}

	var met []string
	for _, r := range ok {
		if r != "" {
			met = append(met, r)
		}
	}
	d.reasons = append(met, d.reasons...)
	switch {
	case len(rejects) > 0:
		d.verdict = experiment.VerdictReject
		d.reasons = append(rejects, d.reasons...)
		d.needs = nil
		d.decided = ev.final || (ev.minRuntime && settled)
		d.summary = "Reject: " + strings.Join(rejects, "; ") + "."
	case reductionOK && criticalOK && overheadOK:
		d.verdict = experiment.VerdictPromote
		d.decided = ev.final || ev.minRuntime
		d.summary = "Promote: " + strings.Join(met, "; ") + "."
	default:
		d.verdict = experiment.VerdictInconclusive
		d.reasons = append(blockers, d.reasons...)
		slices.Sort(d.needs)
		d.needs = slices.Compact(d.needs)
		d.summary = "Inconclusive: " + strings.Join(blockers, "; ") + "."
		if len(d.needs) > 0 {
			d.summary += " Needs: " + strings.Join(needWords(d.needs), ", ") + "."
		}
	}
	if !ev.final && !ev.minRuntime && d.verdict != experiment.VerdictInconclusive {
		d.summary += " Not decided yet: the minimum runtime has not elapsed."
	}
	if len(ev.hosts.Missing) > 0 && d.verdict != experiment.VerdictInconclusive {
		d.summary += fmt.Sprintf(" No data from %s.", strings.Join(ev.hosts.Missing, ", "))
	}
	return d
}

func needWords(needs []string) []string {
	words := map[string]string{
		NeedMoreTime:     "more time",
		NeedMoreHosts:    "more hosts (some target hosts sent no data)",
		NeedData:         "paired data from both variants",
		NeedCriticalData: "critical-process measurements from the candidate",
		NeedOverheadData: "processing-time measurements from both variants",
	}
	out := make([]string, len(needs))
	for i, n := range needs {
		out[i] = words[n]
	}
	return out
}

// pct formats a fraction as a percentage with one decimal.
func pct(f float64) string {
	switch {
	case math.IsNaN(f):
		return "n/a"
	case math.IsInf(f, 1):
		return "+inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// num formats a small number with four significant digits.
func num(f float64) string {
	switch {
	case math.IsNaN(f):
		return "n/a"
	case math.IsInf(f, 1):
		return "+inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%.4g", f)
}
