package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/experiment"
)

// kpiLabels are the KPI names of a report as people read them.
var kpiLabels = map[string]string{
	analysis.KPIOutputSeries: "Output series",
	analysis.KPIDatapoints:   "Data points/min",
	analysis.KPIBytes:        "Bytes/min",
	analysis.KPIProcessing:   "Processing (cores)",
	analysis.KPIInputSeries:  "Input series",
}

func kpiLabel(name string) string {
	if l, ok := kpiLabels[name]; ok {
		return l
	}
	return name
}

// kpiOf returns the report's KPI of that name, or nil.
func kpiOf(r *client.Analysis, name string) *analysis.KPI {
	for i := range r.KPIs {
		if r.KPIs[i].Name == name {
			return &r.KPIs[i]
		}
	}
	return nil
}

// interval returns the interval a report's reader should trust: the
// fixed-horizon CI of a final report, the always-valid confidence sequence
// of an interim one, with its label ("95% CI" or "95% CS").
func interval(r *client.Analysis, e *analysis.Effect) (analysis.Range, string) {
	level := r.Criteria.ConfidenceLevel
	if level <= 0 || level >= 1 {
		level = experiment.DefaultConfidence
	}
	pct := strconv.FormatFloat(level*100, 'f', -1, 64) + "%"
	if r.Final && !r.Interim {
		return e.CI, pct + " CI"
	}
	return e.SequentialCS, pct + " CS"
}

func fmtRange(rg analysis.Range, f func(float64) string) string {
	return f(float64(rg.Lo)) + " .. " + f(float64(rg.Hi))
}

func fmtP(p analysis.Float) string {
	v := float64(p)
	switch {
	case !known(v):
		return "n/a"
	case v < 0.001:
		return "<0.001"
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// fmtCores formats a processing time in cores with a sign.
func fmtCores(f float64) string {
	if !known(f) {
		return "n/a"
	}
	return strconv.FormatFloat(f, 'f', 4, 64)
}

func signed(s string) string {
	if !strings.HasPrefix(s, "-") && s != "n/a" {
		return "+" + s
	}
	return s
}

// verdictLine renders the verdict with its kind: final, interim, decided.
func verdictLine(r *client.Analysis) string {
	v := strings.ToUpper(dash(r.Verdict))
	var tags []string
	if r.Final && !r.Interim {
		tags = append(tags, "final")
	} else {
		tags = append(tags, "interim")
	}
	if r.Decided {
		tags = append(tags, "decided")
	}
	s := v + " (" + strings.Join(tags, ", ") + ")"
	if len(r.Needs) > 0 {
		s += "; needs " + strings.Join(r.Needs, ", ")
	}
	return s
}

// summaryLines are the report's headline figures, one per line.
func summaryLines(r *client.Analysis) []string {
	lines := []string{"Verdict: " + verdictLine(r)}
	if k := kpiOf(r, analysis.KPIOutputSeries); k != nil {
		s := fmt.Sprintf("Output series: %s -> %s", fmtNum(float64(k.Baseline)), fmtNum(float64(k.Candidate)))
		if k.Reduction != nil {
			rg, label := interval(r, k.Reduction)
			s += fmt.Sprintf(", reduction %s (%s %s)", fmtPct(float64(k.Reduction.Estimate)), label, fmtRange(rg, fmtPct))
		}
		lines = append(lines, s)
	}
	lines = append(lines, "Critical processes: "+criticalLine(r))
	if r.Explanation != "" {
		lines = append(lines, r.Explanation)
	}
	return lines
}

func criticalLine(r *client.Analysis) string {
	c := r.Critical
	if !c.Measured {
		return "not measured yet"
	}
	s := fmt.Sprintf("%s retained by the candidate (baseline %s, required %s)",
		fmtPct(float64(c.RetentionCandidate)), fmtPct(float64(c.RetentionBaseline)), fmtPct(c.Required))
	if len(c.LostProcesses) > 0 {
		s += "; lost: " + strings.Join(c.LostProcesses, ", ")
	} else {
		s += "; none lost"
	}
	return s
}

func overheadLine(r *client.Analysis) string {
	o := r.Overhead
	if !o.Measured {
		return "not measured"
	}
	rg, label := interval(r, &o.Extra)
	s := fmt.Sprintf("%s cores", signed(fmtCores(float64(o.Extra.Estimate))))
	if known(float64(o.Relative)) {
		s += " (" + signed(fmtPct(float64(o.Relative))) + ")"
	}
	return s + fmt.Sprintf(", %s %s, max %s cores", label, fmtRange(rg, fmtCores), fmtCores(o.Max))
}

// writeReport renders an analysis report for people.
func writeReport(w io.Writer, e *api.Experiment, r *client.Analysis) error {
	tw := newTable(w)
	row(tw, "Experiment:", e.Name+" ("+e.ID+")")
	row(tw, "State:", e.State)
	row(tw, "Verdict:", verdictLine(r))
	if !r.Window.Start.IsZero() {
		row(tw, "Window:", fmt.Sprintf("%s .. %s (%s)", fmtTime(r.Window.Start), fmtTime(r.Window.End),
			fmtDuration(time.Duration(r.Window.ElapsedSeconds*float64(time.Second)))))
	}
	row(tw, "Data:", fmt.Sprintf("%d paired observations from %d host(s)", r.Pairs, len(r.Hosts.Used)))
	if len(r.Hosts.Missing) > 0 {
		row(tw, "Missing hosts:", strings.Join(r.Hosts.Missing, ", "))
	}
	for i, d := range r.Hosts.Disconnected {
		label := ""
		if i == 0 {
			label = "Disconnected:"
		}
		row(tw, label, d.Host+" (last seen "+fmtTime(d.LastSeenAt)+"; its data up to then is used)")
	}
	c := r.Criteria
	row(tw, "Criteria:", fmt.Sprintf("series reduction >= %s, overhead <= %s cores, critical retention >= %s, confidence %s",
		fmtPct(c.MinReduction), fmtCores(c.MaxOverhead), fmtPct(c.CriticalRetention), fmtPct(c.ConfidenceLevel)))
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Explanation != "" {
		fmt.Fprintf(w, "\n%s\n", r.Explanation)
	}

	if len(r.KPIs) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		label := "INTERVAL"
		for i := range r.KPIs {
			if r.KPIs[i].Reduction != nil {
				_, l := interval(r, r.KPIs[i].Reduction)
				label = l
				break
			}
		}
		row(tw, "KPI", "BASELINE", "CANDIDATE", "REDUCTION", label, "P (T-TEST)")
		for _, k := range r.KPIs {
			red, rg, p := "-", "-", "-"
			if k.Reduction != nil {
				var x analysis.Range
				x, _ = interval(r, k.Reduction)
				red, rg, p = fmtPct(float64(k.Reduction.Estimate)), fmtRange(x, fmtPct), fmtP(k.Reduction.PT)
			}
			row(tw, kpiLabel(k.Name), fmtNum(float64(k.Baseline)), fmtNum(float64(k.Candidate)), red, rg, p)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "Critical processes:", criticalLine(r))
	row(tw, "Overhead:", overheadLine(r))
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Cost) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		row(tw, fmt.Sprintf("MONTHLY COST (%d HOSTS)", r.Cost[0].Hosts), "BASELINE", "CANDIDATE", "SAVING", "SAVING RANGE")
		for _, ce := range r.Cost {
			money := func(f float64) string { return fmtMoney(f, ce.Currency) }
			saving := money(float64(ce.Saving))
			if known(float64(ce.SavingFraction)) {
				saving += " (" + fmtPct(float64(ce.SavingFraction)) + ")"
			}
			row(tw, ce.Name, money(float64(ce.BaselineMonthly)), money(float64(ce.CandidateMonthly)), saving, fmtRange(ce.SavingRange, money))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.CostError != "" {
		fmt.Fprintf(w, "Cost: %s\n", r.CostError)
	}
	if len(r.Reasons) > 0 {
		fmt.Fprintln(w, "\nReasons:")
		for _, s := range r.Reasons {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	next := ""
	switch {
	case e.State == string(experiment.StateCompleted) && r.Verdict == experiment.VerdictPromote:
		next = "phoenix experiment promote " + e.ID
	case e.State == string(experiment.StateRunning) || e.State == string(experiment.StateDeploying):
		next = "phoenix experiment watch " + e.ID
	}
	if next != "" {
		fmt.Fprintf(w, "\nNext: %s\n", next)
	}
	return nil
}

// progress is how far a running experiment is.
type progress struct {
	known     bool
	fraction  float64
	elapsed   time.Duration
	remaining time.Duration
}

func progressOf(e *api.Experiment, now time.Time) progress {
	if e.StartedAt == nil {
		return progress{}
	}
	dur := e.Spec.Duration.Std()
	if dur <= 0 {
		dur = experiment.DefaultDuration
	}
	end := now
	if e.EndedAt != nil {
		end = *e.EndedAt
	}
	elapsed := min(max(end.Sub(*e.StartedAt), 0), dur)
	p := progress{known: true, elapsed: elapsed, remaining: dur - elapsed, fraction: float64(elapsed) / float64(dur)}
	if experiment.State(e.State) != experiment.StateRunning {
		p.remaining = 0
	}
	return p
}
