package analysis

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
)

// goodEvidence meets every default criterion.
func goodEvidence(final bool) evidence {
	return evidence{
		final: final, minRuntime: true,
		criteria: Criteria{MinReduction: 0.2, MaxOverhead: 0.05, CriticalRetention: 1, ConfidenceLevel: 0.95},
		pairs:    100, estimate: 0.5, reduction: Interval{0.45, 0.55},
		hosts:            Hosts{Used: []string{"a"}},
		critical:         Critical{Measured: true, RetentionCandidate: 1, Required: 1},
		overhead:         Overhead{Measured: true, Extra: Effect{Estimate: 0.01}},
		overheadInterval: Interval{0.005, 0.015},
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		final   bool
		edit    func(*evidence)
		verdict string
		decided bool
		needs   []string
	}{
		{"promote", true, func(*evidence) {}, experiment.VerdictPromote, true, nil},
		{"interim promote", false, func(*evidence) {}, experiment.VerdictPromote, true, nil},
		{"interim before min runtime", false, func(e *evidence) { e.minRuntime = false }, experiment.VerdictPromote, false, nil},
		{"reduction at the boundary", true, func(e *evidence) { e.reduction = Interval{0.2, 0.3} }, experiment.VerdictPromote, true, nil},
		{"reduction straddles", true, func(e *evidence) { e.reduction = Interval{0.15, 0.3} }, experiment.VerdictInconclusive, false, []string{NeedMoreTime}},
		{"straddles, hosts missing", true, func(e *evidence) {
			e.reduction = Interval{0.15, 0.3}
			e.hosts.Missing = []string{"c"}
		}, experiment.VerdictInconclusive, false, []string{NeedMoreHosts, NeedMoreTime}},
		{"reduction too small", true, func(e *evidence) { e.reduction = Interval{0.05, 0.19} }, experiment.VerdictReject, true, nil},
		{"interim reduction too small", false, func(e *evidence) { e.reduction = Interval{0.05, 0.19} }, experiment.VerdictReject, true, nil},
		{"overhead too high", true, func(e *evidence) { e.overheadInterval = Interval{0.06, 0.08} }, experiment.VerdictReject, true, nil},
		{"overhead straddles", true, func(e *evidence) { e.overheadInterval = Interval{0.04, 0.06} }, experiment.VerdictInconclusive, false, []string{NeedMoreTime}},
		{"overhead unmeasured", true, func(e *evidence) { e.overhead.Measured = false }, experiment.VerdictInconclusive, false, []string{NeedOverheadData}},
		{"critical unmeasured", true, func(e *evidence) { e.critical.Measured = false }, experiment.VerdictInconclusive, false, []string{NeedCriticalData}},
		{"lost process", false, func(e *evidence) {
			e.critical.Lost = []LostProcess{{Host: "a", Process: "nginx", Intervals: 3}}
			e.critical.LostProcesses = []string{"nginx"}
			e.critical.RetentionCandidate = 0.9
		}, experiment.VerdictReject, true, nil},
		{"lost process before min runtime", false, func(e *evidence) {
			e.minRuntime = false
			e.critical.Lost = []LostProcess{{Host: "a", Process: "nginx", Intervals: 3}}
			e.critical.LostProcesses = []string{"nginx"}
		}, experiment.VerdictReject, false, nil},
		// A retention below a criterion under 1 can recover: an interim
		// analysis does not settle on it alone; the final one does.
		{"interim retention below 0.9", false, func(e *evidence) {
			e.critical.Required, e.critical.RetentionCandidate = 0.9, 0.85
		}, experiment.VerdictReject, false, nil},
		{"final retention below 0.9", true, func(e *evidence) {
			e.critical.Required, e.critical.RetentionCandidate = 0.9, 0.85
		}, experiment.VerdictReject, true, nil},
		{"no data", true, func(e *evidence) { e.pairs = 0 }, experiment.VerdictInconclusive, false, []string{NeedData}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := goodEvidence(c.final)
			c.edit(&ev)
			d := decide(ev)
			require.Equal(t, c.verdict, d.verdict, d.summary)
			require.Equal(t, c.decided, d.decided, d.summary)
			require.Equal(t, c.needs, d.needs, d.summary)
			require.NotEmpty(t, d.reasons)
		})
	}
}

func TestDecideExplanation(t *testing.T) {
	t.Parallel()
	ev := goodEvidence(true)
	ev.critical.Lost = []LostProcess{{Host: "a", Process: "nginx", Intervals: 3}, {Host: "b", Process: "nginx", Intervals: 1}, {Host: "b", Process: "redis", Intervals: 2}}
	ev.critical.LostProcesses = []string{"nginx", "redis"}
	ev.critical.RetentionCandidate = 0.95
	d := decide(ev)
	require.Equal(t, "Reject: the candidate lost critical processes the baseline kept: nginx (a, 3 intervals; b, 1 intervals), redis (b, 2 intervals); critical retention 95.0% is below the required 100.0%.", d.summary)

	ev = goodEvidence(true)
	d = decide(ev)
	require.Equal(t, "Promote: output series reduced by 50.0% (95.0% CI 45.0% to 55.0%; 100 pairs on 1 hosts), at least the required 20.0%; "+
		"critical processes retained: 100.0% (required 100.0%); extra processing 0.01 cores (95.0% CI 0.005 to 0.015), within 0.05.", d.summary)
}
