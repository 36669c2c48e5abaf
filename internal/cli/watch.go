package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/experiment"
)

// ANSI control sequences of the live view.
const (
	ansiHideCursor = "\x1b[?25l"
	ansiShowCursor = "\x1b[?25h"
	ansiClearLine  = "\r\x1b[2K"
)

// maxWatchErrors is how many polls in a row may go unanswered (network
// errors, not refusals) before watch gives up.
const maxWatchErrors = 5

// view renders successive states of an experiment: redrawn in place on a
// terminal, one line per change otherwise, or one JSON/YAML document per
// change with --output json|yaml.
type view struct {
	a     *app
	tty   bool
	width int
	// drawn is the number of lines of the frame on screen.
	drawn int
	// last is the last document written, or the last line without its
	// time and progress, so unchanged states are not repeated; lastAt is
	// when that line was written.
	last   string
	lastAt time.Time
}

// heartbeat is how often a log line is repeated while nothing but the time
// changes.
const heartbeat = 30 * time.Second

// watchExperiment follows an experiment until it ends.
func watchExperiment(a *app, c *client.Client, id string, wf watchFlags) error {
	tty, width := a.terminal()
	v := &view{a: a, tty: tty && a.output == outputTable, width: width}
	if v.tty {
		fmt.Fprint(a.out, ansiHideCursor)
		defer fmt.Fprint(a.out, ansiShowCursor)
	}
	failures := 0
	for {
		e, err := c.ExperimentGet(a.ctx, id)
		switch {
		case err != nil && a.ctx.Err() != nil:
			return v.interrupted(id)
		case err != nil:
			var ce *client.Error
			if errors.As(err, &ce) || failures >= maxWatchErrors {
				return err
			}
			failures++
			v.problem(fmt.Sprintf("no answer from the server (%d/%d), retrying: %v", failures, maxWatchErrors, err))
		default:
			failures = 0
			r := currentAnalysis(a, c, e)
			if err := v.show(e, r); err != nil {
				return err
			}
			state := experiment.State(e.State)
			if state.Finished() {
				return v.finish(c, e, r, wf)
			}
			if state == experiment.StateDraft {
				return &failure{msg: fmt.Sprintf("experiment %s is a draft; start it with: phoenix experiment start %s --watch", e.ID, e.ID)}
			}
		}
		t := time.NewTimer(wf.interval)
		select {
		case <-a.ctx.Done():
			t.Stop()
			return v.interrupted(id)
		case <-t.C:
		}
	}
}

// currentAnalysis returns the latest analysis of e: the server's live one
// while it runs (when the server computes one), else the stored result.
func currentAnalysis(a *app, c *client.Client, e *api.Experiment) *client.Analysis {
	if e.State == string(experiment.StateRunning) {
		if r, err := c.ExperimentAnalysis(a.ctx, e.ID); err == nil {
			return r
		}
	}
	if len(e.Result) == 0 {
		return nil
	}
	r, err := client.DecodeAnalysis(e.Result)
	if err != nil {
		return nil
	}
	return r
}

// show renders one state.
func (v *view) show(e *api.Experiment, r *client.Analysis) error {
	switch v.a.output {
	case outputJSON, outputYAML:
		var b bytes.Buffer
		var err error
		if v.a.output == outputJSON {
			var raw []byte
			if raw, err = toJSON(e); err == nil {
				b.Write(raw)
				b.WriteByte('\n')
			}
		} else {
			b.WriteString("---\n")
			err = writeYAML(&b, e)
		}
		if err != nil {
			return err
		}
		if b.String() != v.last {
			v.last = b.String()
			_, err = v.a.out.Write(b.Bytes())
		}
		return err
	}
	now := v.a.env.now()
	if v.tty {
		v.draw(frame(e, r, now))
		return nil
	}
	key := statusLine(e, r, time.Time{})
	if key != v.last || now.Sub(v.lastAt) >= heartbeat {
		v.last, v.lastAt = key, now
		fmt.Fprintln(v.a.out, "["+now.UTC().Format(time.RFC3339)+"] "+statusLine(e, r, now))
	}
	return nil
}

// draw replaces the frame on screen with lines.
func (v *view) draw(lines []string) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	for _, l := range lines {
		b.WriteString(ansiClearLine)
		b.WriteString(truncate(l, v.width-1))
		b.WriteByte('\n')
	}
	if extra := v.drawn - len(lines); extra > 0 {
		// Clear what is left of a longer previous frame and come back.
		for range extra {
			b.WriteString(ansiClearLine)
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	v.drawn = len(lines)
	// Erase a problem reported below the frame by an earlier poll.
	b.WriteString(ansiClearLine)
	fmt.Fprint(v.a.out, b.String())
}

// problem reports a failed poll without ending the watch.
func (v *view) problem(msg string) {
	if v.tty {
		fmt.Fprint(v.a.out, ansiClearLine+truncate(msg, v.width-1)+"\r")
		return
	}
	fmt.Fprintln(v.a.errOut, msg)
}

func (v *view) interrupted(id string) error {
	fmt.Fprintf(v.a.errOut, "\nStopped watching; experiment %s goes on. Resume with: phoenix experiment watch %s\n", id, id)
	return nil
}

// finish prints how the experiment ended and returns the command's result.
func (v *view) finish(c *client.Client, e *api.Experiment, r *client.Analysis, wf watchFlags) error {
	state := experiment.State(e.State)
	if state == experiment.StateCancelled || state == experiment.StateFailed {
		reason := ""
		if evs, err := c.ExperimentEvents(v.a.ctx, e.ID); err == nil {
			for _, ev := range evs.Items {
				if ev.To == e.State {
					reason = ev.Reason
				}
			}
		}
		msg := fmt.Sprintf("experiment %s %s", e.ID, e.State)
		if reason != "" {
			msg += ": " + reason
		}
		return &failure{msg: msg}
	}
	verdict := e.Verdict
	if r != nil && r.Verdict != "" {
		verdict = r.Verdict
	}
	if v.a.output == outputTable {
		w := v.a.out
		fmt.Fprintf(w, "\nVerdict: %s\n", strings.ToUpper(dash(verdict)))
		if r != nil && r.Explanation != "" {
			fmt.Fprintln(w, r.Explanation)
		}
		fmt.Fprintf(w, "Full report: phoenix experiment compare %s\n", e.ID)
		if verdict == experiment.VerdictPromote && state == experiment.StateCompleted {
			fmt.Fprintf(w, "Promote it with: phoenix experiment promote %s\n", e.ID)
		}
	}
	if wf.failOnReject && verdict == experiment.VerdictReject {
		return &rejectedError{id: e.ID}
	}
	return nil
}

// bar draws a progress bar of width cells.
func bar(fraction float64, width int) string {
	fraction = min(max(fraction, 0), 1)
	filled := int(fraction * float64(width))
	if filled >= width {
		return "[" + strings.Repeat("=", width) + "]"
	}
	return "[" + strings.Repeat("=", filled) + ">" + strings.Repeat(" ", width-filled-1) + "]"
}

// progressText is the elapsed and remaining time of e, its parts
// separated by sep.
func progressText(e *api.Experiment, now time.Time, sep string) string {
	p := progressOf(e, now)
	if !p.known {
		return ""
	}
	return fmt.Sprintf("%.0f%%", p.fraction*100) + sep + "elapsed " + fmtDuration(p.elapsed) + sep + "remaining " + fmtDuration(p.remaining)
}

// stateNote says what an experiment in a state is doing.
func stateNote(e *api.Experiment) string {
	switch experiment.State(e.State) {
	case experiment.StateDeploying:
		return "deploying the variant pipelines to " + fmtTarget(e.Spec.Target) + "..."
	case experiment.StateAnalyzing:
		return "collection ended; computing the final analysis..."
	}
	return ""
}

// frame is the live view of e on a terminal.
func frame(e *api.Experiment, r *client.Analysis, now time.Time) []string {
	lines := []string{fmt.Sprintf("%s  %s  (%s)", strings.ToUpper(e.State), e.Name, e.ID)}
	if p := progressOf(e, now); p.known {
		lines = append(lines, bar(p.fraction, 30)+" "+progressText(e, now, "  "))
	}
	if note := stateNote(e); note != "" {
		lines = append(lines, note)
	}
	if r == nil {
		if e.State == string(experiment.StateRunning) {
			lines = append(lines, "waiting for the first measurements...")
		}
		return lines
	}
	var tbl bytes.Buffer
	tw := newTable(&tbl)
	row(tw, "", "BASELINE", "CANDIDATE")
	for _, name := range []string{analysis.KPIOutputSeries, analysis.KPIDatapoints} {
		if k := kpiOf(r, name); k != nil {
			row(tw, kpiLabel(name), fmtNum(float64(k.Baseline)), fmtNum(float64(k.Candidate)))
		}
	}
	// The last cell of a row is not a column, so these long cells do not
	// widen the figures' columns above.
	if k := kpiOf(r, analysis.KPIOutputSeries); k != nil && k.Reduction != nil {
		rg, label := interval(r, k.Reduction)
		row(tw, "Reduction so far", fmt.Sprintf("%s (%s %s, needed >= %s)", fmtPct(float64(k.Reduction.Estimate)), label, fmtRange(rg, fmtPct), fmtPct(r.Criteria.MinReduction)))
	}
	row(tw, "Critical retained", criticalLine(r))
	row(tw, "Verdict so far", verdictLine(r))
	_ = tw.Flush()
	return append(lines, strings.Split(strings.TrimRight(tbl.String(), "\n"), "\n")...)
}

// statusLine is the one-line view of e, for logs; a zero now leaves the
// progress out.
func statusLine(e *api.Experiment, r *client.Analysis, now time.Time) string {
	parts := []string{e.State}
	if p := progressText(e, now, " "); p != "" && !now.IsZero() {
		parts[0] += " " + p
	}
	if note := stateNote(e); note != "" {
		parts = append(parts, note)
	}
	if r == nil {
		if e.State == string(experiment.StateRunning) {
			parts = append(parts, "no measurements yet")
		}
		return strings.Join(parts, " | ")
	}
	if k := kpiOf(r, analysis.KPIOutputSeries); k != nil {
		parts = append(parts, fmt.Sprintf("output series %s -> %s", fmtNum(float64(k.Baseline)), fmtNum(float64(k.Candidate))))
		if k.Reduction != nil {
			rg, label := interval(r, k.Reduction)
			parts = append(parts, fmt.Sprintf("reduction %s (%s %s)", fmtPct(float64(k.Reduction.Estimate)), label, fmtRange(rg, fmtPct)))
		}
	}
	if k := kpiOf(r, analysis.KPIDatapoints); k != nil {
		parts = append(parts, fmt.Sprintf("data points/min %s -> %s", fmtNum(float64(k.Baseline)), fmtNum(float64(k.Candidate))))
	}
	if r.Critical.Measured {
		parts = append(parts, "critical retained "+fmtPct(float64(r.Critical.RetentionCandidate)))
	}
	parts = append(parts, "verdict "+verdictLine(r))
	return strings.Join(parts, " | ")
}
