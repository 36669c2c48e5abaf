package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/experiment"
)

func newExperimentCommand() *cobra.Command {
	cmd := newGroup("experiment", "Create, run, follow and conclude A/B experiments of pipelines",
		`An experiment runs a baseline and a candidate pipeline side by side on the
same hosts, fed by one scrape, measures what each would send, and concludes
with a verdict: promote, reject or inconclusive.

  draft -> deploying -> running -> analyzing -> completed -> promoted
  (any active state -> cancelled | failed)`)
	addClientFlags(cmd.PersistentFlags())
	registerOutputCompletion(cmd)
	cmd.AddCommand(newExperimentCreateCommand(false), newExperimentCreateCommand(true),
		newExperimentStartCommand(), newExperimentStatusCommand(), newExperimentWatchCommand(),
		newExperimentCompareCommand(), newExperimentPromoteCommand(), newExperimentStopCommand(),
		newExperimentRollbackCommand(), newExperimentListCommand(), newExperimentEventsCommand(),
		newExperimentDeleteCommand())
	return cmd
}

// createFlags are the flags that describe a new experiment.
type createFlags struct {
	scenario          string
	name              string
	baseline          string
	candidate         string
	hosts             []string
	selector          []string
	duration          time.Duration
	critical          []string
	mode              string
	minReduction      string
	minRuntime        time.Duration
	paramsBaseline    []string
	paramsCandidate   []string
	scenarioConflicts []string
}

func (f *createFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.scenario, "scenario", "", "scenario YAML file (experimentName, duration, targetHost(s), variantA, variantB, criticalProcessRegex, comparisonMetrics); - reads standard input")
	fs.StringVar(&f.name, "name", "", "experiment name (default \"CANDIDATE vs BASELINE\")")
	fs.StringVar(&f.baseline, "baseline", "", "baseline (control) pipeline: a catalog or user pipeline name")
	fs.StringVar(&f.candidate, "candidate", "", "candidate pipeline: a catalog or user pipeline name")
	fs.StringSliceVar(&f.hosts, "hosts", nil, "target host names, comma-separated")
	fs.StringArrayVar(&f.selector, "selector", nil, "target agents by label KEY=VALUE (repeatable)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to collect data (default 10m, at least 30s)")
	fs.StringArrayVar(&f.critical, "critical", nil, "regular expression of critical process executables (repeatable; default the catalog's list)")
	fs.StringVar(&f.mode, "mode", "", "candidate mode: shadow (measured, not exported; default) or live")
	fs.StringVar(&f.minReduction, "min-reduction", "", "smallest series reduction that wins, as a fraction or percentage (default 0.2 = 20%)")
	fs.DurationVar(&f.minRuntime, "min-runtime", 0, "shortest runtime before the analysis may decide early (default 3m)")
	fs.StringArrayVar(&f.paramsBaseline, "param-baseline", nil, "baseline parameter NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.paramsCandidate, "param-candidate", nil, "candidate parameter NAME=VALUE (repeatable)")
	f.scenarioConflicts = []string{"baseline", "candidate", "hosts", "selector", "param-baseline", "param-candidate"}
}

// request builds the create request; metrics are the scenario's comparison
// metrics.
func (f *createFlags) request(a *app, fs *pflag.FlagSet) (api.ExperimentCreate, []string, error) {
	var (
		in      api.ExperimentCreate
		metrics []string
		err     error
	)
	if f.scenario != "" {
		for _, name := range f.scenarioConflicts {
			if fs.Changed(name) {
				return in, nil, &UsageError{Err: fmt.Errorf("--%s cannot be combined with --scenario, which sets it", name)}
			}
		}
		if in.Name, in.Spec, metrics, err = loadScenario(f.scenario, a.in); err != nil {
			return in, nil, err
		}
	} else {
		var problems []string
		if f.baseline == "" {
			problems = append(problems, "--baseline PIPELINE")
		}
		if f.candidate == "" {
			problems = append(problems, "--candidate PIPELINE")
		}
		if len(f.hosts) == 0 && len(f.selector) == 0 {
			problems = append(problems, "--hosts H,... or --selector KEY=VALUE")
		}
		if len(problems) > 0 {
			return in, nil, &UsageError{Err: fmt.Errorf("missing %s (or give a --scenario file)", strings.Join(problems, ", "))}
		}
		sel, err := parsePairs("selector", f.selector)
		if err != nil {
			return in, nil, err
		}
		pb, err := parseParams("param-baseline", f.paramsBaseline)
		if err != nil {
			return in, nil, err
		}
		pc, err := parseParams("param-candidate", f.paramsCandidate)
		if err != nil {
			return in, nil, err
		}
		in.Spec = experiment.Spec{
			Baseline:  experiment.PipelineRef{Name: f.baseline, Params: pb},
			Candidate: experiment.PipelineRef{Name: f.candidate, Params: pc},
			Target:    experiment.Target{Hosts: f.hosts, Selector: sel},
		}
	}
	if fs.Changed("name") {
		in.Name = f.name
	}
	if fs.Changed("duration") {
		in.Spec.Duration = experiment.Duration(f.duration)
	}
	if fs.Changed("critical") {
		in.Spec.CriticalProcesses = f.critical
	}
	if fs.Changed("mode") {
		if f.mode != experiment.ModeShadow && f.mode != experiment.ModeLive {
			return in, nil, &UsageError{Err: fmt.Errorf("--mode %q: must be shadow or live", f.mode)}
		}
		in.Spec.Mode = f.mode
	}
	if fs.Changed("min-reduction") {
		v, err := parseFraction(f.minReduction)
		if err != nil {
			return in, nil, &UsageError{Err: fmt.Errorf("--min-reduction: %w", err)}
		}
		in.Spec.Criteria.MinReduction = v
	}
	if fs.Changed("min-runtime") {
		if f.minRuntime <= 0 {
			return in, nil, &UsageError{Err: fmt.Errorf("--min-runtime %s: must be positive", f.minRuntime)}
		}
		in.Spec.Criteria.MinRuntime = experiment.Duration(f.minRuntime)
	}
	if in.Name == "" {
		in.Name = in.Spec.Candidate.Name + " vs " + in.Spec.Baseline.Name
	}
	return in, metrics, nil
}

// parseFraction reads "0.3" or "30%".
func parseFraction(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a fraction (0.3) or a percentage (30%%)", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v >= 1 {
		return 0, fmt.Errorf("%q must be between 0 and 1 (0%% and 100%%)", s)
	}
	return v, nil
}

// watchFlags are the flags of the commands that follow an experiment.
type watchFlags struct {
	interval     time.Duration
	failOnReject bool
}

func (w *watchFlags) bind(fs *pflag.FlagSet) {
	fs.DurationVar(&w.interval, "interval", 2*time.Second, "how often to poll the server")
	fs.BoolVar(&w.failOnReject, "fail-on-reject", false, "exit with status 3 when the verdict is reject")
}

func (w *watchFlags) check() error {
	if w.interval < 10*time.Millisecond {
		return &UsageError{Err: errors.New("--interval must be at least 10ms")}
	}
	return nil
}

func newExperimentCreateCommand(run bool) *cobra.Command {
	var f createFlags
	var wf watchFlags
	var watch bool
	cmd := &cobra.Command{
		Use:   "create (--scenario FILE | --baseline P --candidate P (--hosts H,... | --selector K=V...))",
		Short: "Create a draft experiment",
		Example: `  phoenix experiment create --baseline process-baseline-v1 --candidate process-topk-v1 \
      --hosts web-1,web-2 --duration 5m --critical '^(nginx|postgres|java)$'
  phoenix experiment create --scenario topk.yaml`,
		Args: usageArgs(cobra.NoArgs),
	}
	if run {
		cmd.Use = "run (--scenario FILE | --baseline P --candidate P (--hosts H,... | --selector K=V...))"
		cmd.Short = "Create an experiment and start it (--watch follows it to its verdict)"
		cmd.Example = `  phoenix experiment run --scenario topk.yaml --watch`
	}
	f.bind(cmd.Flags())
	if run {
		cmd.Flags().BoolVar(&watch, "watch", false, "follow the experiment live until it ends")
		wf.bind(cmd.Flags())
	}
	_ = cmd.RegisterFlagCompletionFunc("mode", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{experiment.ModeShadow, experiment.ModeLive}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("baseline", completePipelines)
	_ = cmd.RegisterFlagCompletionFunc("candidate", completePipelines)
	cmd.RunE = runE(func(a *app, _ []string) error {
		if run {
			if err := wf.check(); err != nil {
				return err
			}
		}
		in, metrics, err := f.request(a, cmd.Flags())
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentCreate(a.ctx, in)
		if err != nil {
			return err
		}
		if len(metrics) > 0 {
			w := a.out
			if a.output != outputTable {
				w = a.errOut
			}
			fmt.Fprintf(w, "Comparison metrics: %s\n", strings.Join(metrics, ", "))
		}
		if !run {
			return a.render(e, func(w io.Writer) error {
				fmt.Fprintf(w, "Created experiment %s (%s), state %s.\n", e.Name, e.ID, e.State)
				if err := writeSpec(w, e); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "Start it with: phoenix experiment start %s --watch\n", e.ID)
				return err
			})
		}
		if a.output == outputTable {
			fmt.Fprintf(a.out, "Created experiment %s (%s).\n", e.Name, e.ID)
		}
		return startExperiment(a, c, e.ID, watch, wf)
	})
	return cmd
}

// writeSpec prints what an experiment compares, where and for how long.
func writeSpec(w io.Writer, e *api.Experiment) error {
	s := e.Spec
	tw := newTable(w)
	row(tw, "  Baseline:", pipelineRef(s.Baseline))
	row(tw, "  Candidate:", pipelineRef(s.Candidate)+", mode "+dash(s.Mode))
	row(tw, "  Target:", fmtTarget(s.Target))
	row(tw, "  Duration:", s.Duration.Std().String())
	row(tw, "  Critical:", dash(strings.Join(s.CriticalProcesses, " ")))
	row(tw, "  Criteria:", fmtCriteria(s.Criteria))
	return tw.Flush()
}

func fmtTarget(t experiment.Target) string {
	var parts []string
	if len(t.Hosts) > 0 {
		parts = append(parts, "hosts "+strings.Join(t.Hosts, ","))
	}
	if len(t.Selector) > 0 {
		parts = append(parts, "agents with "+fmtMap(t.Selector))
	}
	return dash(strings.Join(parts, "; "))
}

func fmtCriteria(c experiment.Criteria) string {
	return fmt.Sprintf("series reduction >= %s, overhead <= %g, critical retention >= %s, confidence %s, decisions after %s",
		fmtPct(c.MinReduction), c.MaxOverhead, fmtPct(c.CriticalRetention), fmtPct(c.ConfidenceLevel), c.MinRuntime.Std())
}

func idCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeExperiments,
	}
}

func newExperimentStartCommand() *cobra.Command {
	var wf watchFlags
	var watch bool
	cmd := idCommand("start ID", "Start a draft experiment (--watch follows it to its verdict)")
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the experiment live until it ends")
	wf.bind(cmd.Flags())
	cmd.RunE = runE(func(a *app, args []string) error {
		if err := wf.check(); err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		return startExperiment(a, c, args[0], watch, wf)
	})
	return cmd
}

func startExperiment(a *app, c *client.Client, id string, watch bool, wf watchFlags) error {
	e, err := c.ExperimentStart(a.ctx, id)
	if err != nil {
		return err
	}
	if !watch {
		return a.render(e, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Started experiment %s (%s): %s.\nFollow it with: phoenix experiment watch %s\n", e.Name, e.ID, e.State, e.ID)
			return err
		})
	}
	if a.output == outputTable {
		fmt.Fprintf(a.out, "Started experiment %s (%s).\n", e.Name, e.ID)
	}
	return watchExperiment(a, c, e.ID, wf)
}

func newExperimentWatchCommand() *cobra.Command {
	var wf watchFlags
	cmd := idCommand("watch ID", "Follow an experiment live until it ends, then print its verdict")
	cmd.Long = `Follow an experiment live: per-variant output series and data points per
minute, the reduction so far with its confidence interval, the critical
processes retained, the elapsed and remaining time and the interim verdict.

On a terminal the view is redrawn in place; otherwise (a pipe, a CI log) one
line is printed per change. With --output json|yaml each change is printed
as the experiment's JSON object (one per line) or YAML document.

The command ends when the experiment does: with status 0 when it completed,
1 when it failed or was cancelled, and 3 for a reject verdict with
--fail-on-reject.`
	wf.bind(cmd.Flags())
	cmd.RunE = runE(func(a *app, args []string) error {
		if err := wf.check(); err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		return watchExperiment(a, c, args[0], wf)
	})
	return cmd
}

func newExperimentStatusCommand() *cobra.Command {
	cmd := idCommand("status ID", "Show an experiment: spec, state, progress and the verdict so far")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentGet(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(e, func(w io.Writer) error { return writeStatus(w, e, a.env.now()) })
	})
	return cmd
}

func writeStatus(w io.Writer, e *api.Experiment, now time.Time) error {
	tw := newTable(w)
	row(tw, "Experiment:", e.Name)
	row(tw, "ID:", e.ID)
	row(tw, "State:", e.State)
	row(tw, "Owner:", dash(e.OwnerID))
	row(tw, "Created:", fmtTime(e.CreatedAt))
	row(tw, "Started:", fmtTimePtr(e.StartedAt))
	row(tw, "Ended:", fmtTimePtr(e.EndedAt))
	if p := progressOf(e, now); p.known {
		row(tw, "Progress:", fmt.Sprintf("%.0f%%, elapsed %s, remaining %s", p.fraction*100, fmtDuration(p.elapsed), fmtDuration(p.remaining)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Spec:")
	if err := writeSpec(w, e); err != nil {
		return err
	}
	if len(e.Result) == 0 {
		return nil
	}
	r, err := client.DecodeAnalysis(e.Result)
	if err != nil {
		return fmt.Errorf("decode the experiment's result: %w", err)
	}
	fmt.Fprintln(w, "Analysis:")
	for _, line := range summaryLines(r) {
		fmt.Fprintln(w, "  "+line)
	}
	_, err = fmt.Fprintf(w, "Full report: phoenix experiment compare %s\n", e.ID)
	return err
}

func newExperimentCompareCommand() *cobra.Command {
	var failOnReject bool
	cmd := idCommand("compare ID", "Show the analysis: verdict, reduction per KPI with its interval, critical processes, overhead and cost")
	cmd.Long = `Show an experiment's analysis report: the verdict and why, each KPI of both
variants with the reduction and its confidence interval, the critical
processes retained, the candidate's processing overhead and the estimated
monthly cost under each pricing profile. While the experiment runs the
report is interim (its intervals are the always-valid confidence sequence).

With --fail-on-reject the exit status is 3 when the verdict is reject, so a
pipeline of scripts can stop on it.`
	cmd.Flags().BoolVar(&failOnReject, "fail-on-reject", false, "exit with status 3 when the verdict is reject")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentGet(a.ctx, args[0])
		if err != nil {
			return err
		}
		r, err := c.ExperimentAnalysis(a.ctx, e.ID)
		if err != nil {
			return err
		}
		if err := a.render(r.Raw, func(w io.Writer) error { return writeReport(w, e, r) }); err != nil {
			return err
		}
		if failOnReject && r.Verdict == experiment.VerdictReject {
			return &rejectedError{id: e.ID}
		}
		return nil
	})
	return cmd
}

func newExperimentPromoteCommand() *cobra.Command {
	var force bool
	cmd := idCommand("promote ID", "Roll the candidate out as the target hosts' active pipeline")
	cmd.Flags().BoolVar(&force, "force", false, "promote even though the verdict is not promote")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentPromote(a.ctx, args[0], force)
		if err != nil {
			return err
		}
		return a.render(e, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Promoted experiment %s (%s): %s rolls out to %s.\nFollow it with: phoenix pipeline status; undo it with: phoenix experiment rollback %s\n",
				e.Name, e.ID, pipelineRef(e.Spec.Candidate), fmtTarget(e.Spec.Target), e.ID)
			return err
		})
	})
	return cmd
}

func newExperimentStopCommand() *cobra.Command {
	var reason string
	cmd := idCommand("stop ID", "Cancel an experiment and remove its pipelines from the hosts")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the transition")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentStop(a.ctx, args[0], reason)
		if err != nil {
			return err
		}
		return a.render(e, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Stopped experiment %s (%s): %s.\n", e.Name, e.ID, e.State)
			return err
		})
	})
	return cmd
}

func newExperimentRollbackCommand() *cobra.Command {
	cmd := idCommand("rollback ID", "Roll a promotion back: the hosts return to their previous deployment")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		e, err := c.ExperimentRollback(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(e, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Rolled back the promotion of experiment %s (%s): %s.\n", e.Name, e.ID, e.State)
			return err
		})
	})
	return cmd
}

func newExperimentListCommand() *cobra.Command {
	var (
		states     []string
		owner      string
		namePrefix string
		limit      int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List experiments, newest first",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only experiments in these states (draft, deploying, running, analyzing, completed, promoted, cancelled, failed)")
	cmd.Flags().StringVar(&owner, "owner", "", "only experiments of this owner")
	cmd.Flags().StringVar(&namePrefix, "name-prefix", "", "only experiments whose name starts with this")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		out := make([]cobra.Completion, len(experiment.States))
		for i, s := range experiment.States {
			out[i] = string(s)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	cmd.RunE = runE(func(a *app, _ []string) error {
		if limit < 1 {
			return &UsageError{Err: errors.New("--limit must be at least 1")}
		}
		for _, s := range states {
			if _, err := experiment.ParseState(s); err != nil {
				return &UsageError{Err: fmt.Errorf("--state: %w", err)}
			}
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		out := api.ExperimentList{Items: []api.Experiment{}}
		for e, err := range c.ExperimentAll(a.ctx, client.ExperimentListParams{States: states, Owner: owner, NamePrefix: namePrefix, Limit: min(limit, 500)}) {
			if err != nil {
				return err
			}
			out.Items = append(out.Items, e)
			if len(out.Items) >= limit {
				break
			}
		}
		return a.render(out, func(w io.Writer) error {
			if len(out.Items) == 0 {
				_, err := fmt.Fprintln(w, "No experiments. Create one with: phoenix experiment create --help")
				return err
			}
			tw := newTable(w)
			row(tw, "ID", "NAME", "STATE", "VERDICT", "BASELINE", "CANDIDATE", "TARGET", "CREATED")
			for _, e := range out.Items {
				row(tw, e.ID, truncate(e.Name, 32), e.State, dash(e.Verdict), e.Spec.Baseline.Name, e.Spec.Candidate.Name,
					truncate(fmtTarget(e.Spec.Target), 32), fmtTime(e.CreatedAt))
			}
			return tw.Flush()
		})
	})
	return cmd
}

func newExperimentEventsCommand() *cobra.Command {
	cmd := idCommand("events ID", "List an experiment's state transitions: when, who and why")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		evs, err := c.ExperimentEvents(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(evs, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "AT", "FROM", "TO", "ACTOR", "REASON")
			for _, e := range evs.Items {
				row(tw, fmtTime(e.At), dash(e.From), e.To, dash(e.Actor), dash(e.Reason))
			}
			return tw.Flush()
		})
	})
	return cmd
}

// deleteResult is what delete reports with --output json|yaml.
type deleteResult struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func newExperimentDeleteCommand() *cobra.Command {
	cmd := idCommand("delete ID", "Delete an experiment that is not active")
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		if err := c.ExperimentDelete(a.ctx, args[0]); err != nil {
			return err
		}
		return a.render(deleteResult{ID: args[0], Deleted: true}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deleted experiment %s.\n", args[0])
			return err
		})
	})
	return cmd
}
