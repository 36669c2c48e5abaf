package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/loadsim"
)

// Defaults of the loadsim commands.
const (
	defaultLoadsimStateDir = ".phoenix/loadsim"
	loadsimStopTimeout     = 30 * time.Second
)

func newLoadsimCommand() *cobra.Command {
	cmd := newGroup("loadsim", "Run real processes on this host to load its collector (load profiles)",
		`Spawn real child processes on this host, as a load profile describes, so
that the hostmetrics process scraper, and the pipelines under test, see their
load. Every process has its own command line and an executable name of its
own (nginx, postgres, java, job-0042, ...); critical services are among them,
so that the retention of critical processes can be checked.

  - realistic: 50-200 processes, steady services and workers, some burning
    CPU or holding memory, a few short jobs each minute;
  - high-cardinality: 1,000-2,000 mostly idle processes with unique command
    lines;
  - high-churn: 20-30 short-lived processes started and reaped per second.

Idle processes run the system's sleep program; busy ones run phoenix itself.
No process outlives the simulator, even when it is killed.`)
	cmd.AddCommand(newLoadsimStartCommand(), newLoadsimStopCommand(), newLoadsimListProfilesCommand())
	return cmd
}

// addStateDirFlag adds --state-dir, where start records the running
// simulator for stop.
func addStateDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "state-dir", defaultLoadsimStateDir, "directory where the running simulator is recorded, for loadsim stop")
}

func newLoadsimStartCommand() *cobra.Command {
	var (
		profile       string
		processes     int
		churnRate     float64
		duration      time.Duration
		report        time.Duration
		stateDir      string
		metricsListen string
		seed          uint64
		idleOnly      bool
	)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a load profile in the foreground until --duration passes or it is stopped",
		Long: `Run a load profile in the foreground: start its long-running processes,
then start short-lived ones at the churn rate, restart any long-running one
that ends, and print a progress line every --report-interval. It stops, and
kills and reaps every process, when --duration passes, on Ctrl-C (SIGINT) or
SIGTERM, or on phoenix loadsim stop. The processes share one process group,
which the first line names.`,
		Example: `  phoenix loadsim start --profile high-cardinality
  phoenix loadsim start --profile high-churn --churn-rate 30 --duration 10m
  phoenix loadsim start --profile realistic --process-count 80 --metrics-listen 127.0.0.1:9465`,
		Args: usageArgs(cobra.NoArgs),
	}
	fs := cmd.Flags()
	fs.StringVar(&profile, "profile", loadsim.ProfileRealistic, "load profile: "+strings.Join(loadsim.ProfileNames(), ", ")+" (see loadsim list-profiles)")
	fs.IntVar(&processes, "process-count", 0, fmt.Sprintf("long-running processes, 1 to %d (default: the profile's)", loadsim.MaxProcesses))
	fs.Float64Var(&churnRate, "churn-rate", 0, fmt.Sprintf("short-lived processes started per second, 0 to %g (default: the profile's)", loadsim.MaxChurnRate))
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: run until stopped)")
	fs.DurationVar(&report, "report-interval", 10*time.Second, "how often to print a progress line (0: never)")
	addStateDirFlag(cmd, &stateDir)
	fs.StringVar(&metricsListen, "metrics-listen", "", "serve the simulator's own metrics at http://ADDR/metrics (e.g. 127.0.0.1:0; default: not served)")
	fs.Uint64Var(&seed, "seed", 0, "seed of the command lines and workloads, to repeat a run (0: a new one)")
	fs.BoolVar(&idleOnly, "idle-only", false, "make every process idle: no CPU or memory load, only processes")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return loadsim.ProfileNames(), cobra.ShellCompDirectiveNoFileComp
	})
	cmd.RunE = runE(func(a *app, _ []string) error {
		cfg, err := loadsim.NewConfig(profile)
		if err != nil {
			return &UsageError{Err: err}
		}
		if fs.Changed("process-count") {
			cfg.Processes = processes
		}
		if fs.Changed("churn-rate") {
			cfg.ChurnRate = churnRate
		}
		cfg.Duration, cfg.Seed, cfg.IdleOnly = duration, seed, idleOnly
		if err := cfg.Validate(); err != nil {
			return loadsimConfigError(err)
		}
		if report < 0 {
			return &UsageError{Err: errors.New("report-interval: must not be negative (0 prints no progress)")}
		}
		return runLoadsim(a, cfg, loadsimOptions{stateDir: stateDir, metricsListen: metricsListen, report: report})
	})
	return cmd
}

// loadsimConfigError is a usage error listing each bad field of a
// simulator's configuration.
func loadsimConfigError(err error) error {
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok || len(multi.Unwrap()) < 2 {
		return &UsageError{Err: err}
	}
	errs := multi.Unwrap()
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems with the flags:", len(errs))
	for _, e := range errs {
		b.WriteString("\n  " + e.Error())
	}
	return &UsageError{Err: &failure{msg: b.String(), err: err}}
}

// loadsimOptions are the settings of loadsim start beyond the simulator's.
type loadsimOptions struct {
	stateDir      string
	metricsListen string
	report        time.Duration
}

// runLoadsim runs a simulator until its duration passes, the command's
// context ends (SIGINT, SIGTERM) or loadsim stop.
func runLoadsim(a *app, cfg loadsim.Config, o loadsimOptions) error {
	claim, err := loadsim.ClaimState(o.stateDir, loadsim.State{Profile: cfg.Profile})
	var running *loadsim.RunningError
	if errors.As(err, &running) {
		return &failure{msg: fmt.Sprintf("a load simulator is already running (pid %d, profile %s)\n  hint: stop it with: %s",
			running.State.PID, running.State.Profile, loadsimStopCommand(o.stateDir)), err: err}
	}
	if err != nil {
		return err
	}
	defer claim.Release()

	reg := prometheus.NewRegistry()
	metricsURL := ""
	if o.metricsListen != "" {
		ln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			return &failure{msg: fmt.Sprintf("--metrics-listen %s: %v", o.metricsListen, err), err: err}
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		metricsURL = "http://" + ln.Addr().String() + "/metrics"
	}

	log := slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sim, err := loadsim.Start(a.ctx, cfg, loadsim.Settings{Logger: log, Registerer: reg})
	if errors.Is(err, loadsim.ErrNoLoadProcess) {
		return &failure{msg: err.Error() + "\n  hint: run it with --idle-only", err: err}
	}
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			ctx, cancel := context.WithTimeout(context.Background(), loadsimStopTimeout)
			defer cancel()
			_ = sim.Stop(ctx)
		}
	}()
	st := sim.Stats()
	if err := claim.Update(loadsim.State{Profile: cfg.Profile, PGID: st.PGID, Processes: cfg.Processes,
		MetricsURL: metricsURL, StartedAt: st.Started}); err != nil {
		return err
	}

	w := a.out
	fmt.Fprintf(w, "Load simulator started: profile %s, %d long-running processes, %s short-lived per second (pid %d, process group %d).\n",
		cfg.Profile, cfg.Processes, strconv.FormatFloat(cfg.ChurnRate, 'g', -1, 64), st.PID, st.PGID)
	if metricsURL != "" {
		fmt.Fprintf(w, "Metrics: %s\n", metricsURL)
	}
	until := "Stop it"
	if cfg.Duration > 0 {
		until = fmt.Sprintf("Runs for %s; stop it sooner", cfg.Duration)
	}
	fmt.Fprintf(w, "%s with Ctrl-C or: %s\n", until, loadsimStopCommand(o.stateDir))

	var tick <-chan time.Time
	if o.report > 0 {
		t := time.NewTicker(o.report)
		defer t.Stop()
		tick = t.C
	}
	for done := false; !done; {
		select {
		case <-a.ctx.Done():
			done = true
		case <-sim.Done():
			done = true
		case <-tick:
			s := sim.Stats()
			fmt.Fprintf(w, "[%s] %d processes (%d long-running, %d short-lived); started %d, reaped %d%s\n",
				fmtDuration(time.Since(s.Started)), s.Processes, s.LongRunning, s.ShortLived, s.Spawned, s.Reaped, spawnErrors(s))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadsimStopTimeout)
	defer cancel()
	if err := sim.Stop(ctx); err != nil {
		return err
	}
	stopped = true
	s := sim.Stats()
	fmt.Fprintf(w, "Load simulator stopped after %s: started %d processes, reaped %d%s; %d left.\n",
		fmtDuration(s.Stopped.Sub(s.Started)), s.Spawned, s.Reaped, spawnErrors(s), s.Processes)
	return nil
}

func spawnErrors(s loadsim.Stats) string {
	if s.SpawnErrors == 0 {
		return ""
	}
	return fmt.Sprintf(", %d failed to start", s.SpawnErrors)
}

// loadsimStopCommand is the command that stops a simulator recorded in dir.
func loadsimStopCommand(dir string) string {
	if filepath.Clean(dir) == filepath.Clean(defaultLoadsimStateDir) {
		return "phoenix loadsim stop"
	}
	return "phoenix loadsim stop --state-dir " + dir
}

func newLoadsimStopCommand() *cobra.Command {
	var (
		stateDir string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the load simulator that loadsim start runs, and wait until its processes are gone",
		Long: `Stop the load simulator recorded in --state-dir by loadsim start: send it
SIGTERM and wait until it has killed and reaped its processes and exited.
When none runs, say so and succeed.`,
		Args: usageArgs(cobra.NoArgs),
	}
	addStateDirFlag(cmd, &stateDir)
	cmd.Flags().DurationVar(&timeout, "timeout", loadsimStopTimeout, "how long to wait for the simulator to exit")
	cmd.RunE = runE(func(a *app, _ []string) error {
		if timeout <= 0 {
			return &UsageError{Err: errors.New("timeout: must be positive")}
		}
		ctx, cancel := context.WithTimeout(a.ctx, timeout)
		defer cancel()
		st, err := loadsim.StopRunning(ctx, stateDir)
		switch {
		case errors.Is(err, loadsim.ErrNotRunning):
			_, err := fmt.Fprintf(a.out, "No load simulator is running (state directory %s).\n", stateDir)
			return err
		case errors.Is(err, context.DeadlineExceeded):
			return &failure{msg: fmt.Sprintf("the load simulator (pid %d) did not exit within %s\n  hint: kill it with: kill -KILL %d (its processes die with it)",
				st.PID, timeout, st.PID), err: err}
		case err != nil:
			return err
		}
		_, err = fmt.Fprintf(a.out, "Stopped the load simulator (pid %d, profile %s).\n", st.PID, st.Profile)
		return err
	})
	return cmd
}

// profileView is a load profile as list-profiles reports it.
type profileView struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Processes    int      `json:"processes"`
	MinProcesses int      `json:"min_processes"`
	MaxProcesses int      `json:"max_processes"`
	ChurnRate    float64  `json:"churn_rate"`
	MinLifetime  string   `json:"min_lifetime"`
	MaxLifetime  string   `json:"max_lifetime"`
	ActiveShare  float64  `json:"active_share"`
	Critical     []string `json:"critical"`
}

// profileList is what list-profiles reports with --output json|yaml.
type profileList struct {
	Profiles []profileView `json:"profiles"`
}

func newLoadsimListProfilesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list-profiles",
		Short: "List the load profiles and their defaults",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.Flags().StringP(flagOutput, "o", outputTable, "output format: table, json or yaml")
	registerOutputCompletion(cmd)
	cmd.RunE = runE(func(a *app, _ []string) error {
		var out profileList
		for _, p := range loadsim.Profiles() {
			out.Profiles = append(out.Profiles, profileView{
				Name: p.Name, Description: p.Description,
				Processes: p.Processes, MinProcesses: p.MinProcesses, MaxProcesses: p.MaxProcesses,
				ChurnRate: p.ChurnRate, MinLifetime: p.MinLifetime.String(), MaxLifetime: p.MaxLifetime.String(),
				ActiveShare: p.ActiveShare, Critical: p.Critical,
			})
		}
		return a.render(out, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "NAME", "PROCESSES", "PRD RANGE", "SHORT-LIVED/S", "LIFETIME", "ACTIVE", "CRITICAL")
			for _, p := range out.Profiles {
				row(tw, p.Name, strconv.Itoa(p.Processes), fmt.Sprintf("%d-%d", p.MinProcesses, p.MaxProcesses),
					strconv.FormatFloat(p.ChurnRate, 'g', -1, 64), p.MinLifetime+"-"+p.MaxLifetime,
					strconv.FormatFloat(p.ActiveShare*100, 'g', -1, 64)+"%", strings.Join(p.Critical, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range out.Profiles {
				if _, err := fmt.Fprintf(w, "\n%s: %s\n", p.Name, p.Description); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return cmd
}
