package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// ControllerConfig tunes the controller.
type ControllerConfig struct {
	// Interval between passes over the active experiments (default 2s).
	Interval time.Duration
	// InterimEvery is how often a running experiment gets an interim
	// analysis (default 30s); 0 uses the default, negative disables.
	InterimEvery time.Duration
	// DeployTimeout fails an experiment whose agents have not applied its
	// pipelines after this long in deploying (default 5m).
	DeployTimeout time.Duration
	// AnalysisAttempts is how many consecutive analysis errors fail an
	// experiment in analyzing (default 5).
	AnalysisAttempts int
	// LeaderName is the name of the leadership the controller holds
	// (default "experiment-controller").
	LeaderName string
}

func (c ControllerConfig) withDefaults() ControllerConfig {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.InterimEvery == 0 {
		c.InterimEvery = 30 * time.Second
	}
	if c.DeployTimeout <= 0 {
		c.DeployTimeout = 5 * time.Minute
	}
	if c.AnalysisAttempts <= 0 {
		c.AnalysisAttempts = 5
	}
	if c.LeaderName == "" {
		c.LeaderName = "experiment-controller"
	}
	return c
}

// Controller drives active experiments through deploying, running and
// analyzing. Only one controller acts at a time: Run holds the store's
// leadership and works only while it leads. Every decision is taken from
// the stored state, so a controller that restarts at any point resumes
// where the previous one stopped; transitions are compare-and-set, so none
// is recorded twice.
type Controller struct {
	svc      *Service
	store    store.Store
	deployer Deployer
	analyzer Analyzer
	cfg      ControllerConfig
	log      *slog.Logger
	now      func() time.Time

	mu           sync.Mutex
	lastInterim  map[string]time.Time
	analysisErrs map[string]int
}

// NewController returns a controller. deployer and analyzer must be set.
func NewController(svc *Service, deployer Deployer, analyzer Analyzer, cfg ControllerConfig, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{
		svc: svc, store: svc.store, deployer: deployer, analyzer: analyzer,
		cfg: cfg.withDefaults(), log: log, now: svc.now,
		lastInterim: make(map[string]time.Time), analysisErrs: make(map[string]int),
	}
}

// Run works until ctx is done: it waits for leadership, then passes over
// the active experiments every Interval for as long as it leads.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		leaderCtx, release, ok, err := c.store.LeaderTry(ctx, c.cfg.LeaderName)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("controller: leader election", "err", err)
		}
		if ok {
			c.log.Info("controller: leading")
			c.lead(leaderCtx, t)
			release()
			c.log.Info("controller: stopped leading")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) lead(ctx context.Context, t *time.Ticker) {
	if err := c.FinishPromotions(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("controller: finish interrupted promotions", "err", err)
	}
	for {
		if err := c.Step(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("controller: pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FinishPromotions promotes again every promoted experiment of every
// tenant whose rollout was never created, because the server stopped
// between recording the promotion and creating it. It does nothing unless
// the deployer implements PromotionChecker.
func (c *Controller) FinishPromotions(ctx context.Context) error {
	check, ok := c.deployer.(PromotionChecker)
	if !ok {
		return nil
	}
	tenants, err := c.store.TenantList(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		cursor := ""
		for {
			page, err := c.store.ExperimentList(ctx, &store.ExperimentListParams{
				TenantID: t.ID, States: []string{string(StatePromoted)}, Cursor: cursor, Limit: store.MaxPageLimit,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("list promoted experiments of tenant %s: %w", t.ID, err))
				break
			}
			for _, se := range page.Items {
				if err := c.finishPromotion(ctx, check, se); err != nil {
					errs = append(errs, fmt.Errorf("experiment %s: %w", se.ID, err))
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) finishPromotion(ctx context.Context, check PromotionChecker, se *store.Experiment) error {
	exp, err := FromStore(se)
	if err != nil {
		return err
	}
	done, err := check.Promoted(ctx, exp)
	if err != nil || done {
		return err
	}
	id, err := c.deployer.Promote(ctx, exp, "controller")
	if err != nil {
		return fmt.Errorf("finish promotion: %w", err)
	}
	c.log.Info("finished an interrupted promotion", "experiment", exp.ID, "tenant", exp.TenantID, "deployment", id)
	return nil
}

// Step makes one pass over every active experiment of every tenant.
func (c *Controller) Step(ctx context.Context) error {
	list, err := c.store.ExperimentListActive(ctx)
	if err != nil {
		return fmt.Errorf("list active experiments: %w", err)
	}
	var errs []error
	for _, se := range list {
		exp, err := FromStore(se)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.advance(ctx, exp); err != nil && !errors.Is(err, store.ErrStateConflict) {
			errs = append(errs, fmt.Errorf("experiment %s: %w", exp.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) advance(ctx context.Context, exp *Experiment) error {
	switch exp.State {
	case StateDeploying:
		return c.deploying(ctx, exp)
	case StateRunning:
		return c.running(ctx, exp)
	case StateAnalyzing:
		return c.analyzing(ctx, exp)
	}
	return nil
}

func (c *Controller) fail(ctx context.Context, exp *Experiment, reason string) error {
	out, err := c.svc.Transition(ctx, exp, StateFailed, "controller", reason)
	if err != nil {
		return err
	}
	c.log.Warn("experiment failed", "experiment", exp.ID, "tenant", exp.TenantID, "reason", reason)
	if err := c.deployer.Teardown(ctx, out); err != nil {
		return fmt.Errorf("remove pipelines: %w", err)
	}
	return nil
}

func (c *Controller) deploying(ctx context.Context, exp *Experiment) error {
	st, err := c.deployer.Deploy(ctx, exp)
	if err != nil {
		return c.fail(ctx, exp, "deploy: "+err.Error())
	}
	if len(st.Failed) > 0 {
		return c.fail(ctx, exp, "agents could not apply the pipelines: "+formatFailures(st.Failed))
	}
	if st.Ready {
		_, err := c.svc.Transition(ctx, exp, StateRunning, "controller", fmt.Sprintf("pipelines applied on %d host(s)", len(st.Hosts)))
		return err
	}
	if since := c.now().Sub(c.enteredAt(ctx, exp)); since > c.cfg.DeployTimeout {
		msg := st.Message
		if msg == "" {
			msg = "agents did not report applied"
		}
		return c.fail(ctx, exp, fmt.Sprintf("deploy timed out after %s: %s", c.cfg.DeployTimeout, msg))
	}
	return nil
}

// enteredAt returns when the experiment entered its current state.
func (c *Controller) enteredAt(ctx context.Context, exp *Experiment) time.Time {
	evs, err := c.store.ExperimentEventList(ctx, exp.TenantID, exp.ID)
	if err != nil || len(evs) == 0 {
		return exp.UpdatedAt
	}
	return evs[len(evs)-1].At
}

func (c *Controller) running(ctx context.Context, exp *Experiment) error {
	now := c.now()
	if !now.Before(exp.Deadline()) {
		_, err := c.svc.Transition(ctx, exp, StateAnalyzing, "controller", "duration elapsed")
		return err
	}
	if c.cfg.InterimEvery < 0 || exp.StartedAt == nil {
		return nil
	}
	c.mu.Lock()
	last := c.lastInterim[exp.ID]
	due := now.Sub(last) >= c.cfg.InterimEvery
	if due {
		c.lastInterim[exp.ID] = now
	}
	c.mu.Unlock()
	if !due {
		return nil
	}
	a, err := c.analyzer.Analyze(ctx, exp, false)
	if err != nil {
		c.log.Warn("interim analysis", "experiment", exp.ID, "err", err)
		return nil
	}
	spec := exp.Spec.WithDefaults()
	if a.Decided && now.Sub(*exp.StartedAt) >= spec.Criteria.MinRuntime.Std() {
		_, err := c.svc.Transition(ctx, exp, StateAnalyzing, "controller", "sequential test reached a decision: "+a.Verdict)
		return err
	}
	if _, err := c.store.ExperimentSetResult(ctx, &store.ExperimentSetResultParams{
		TenantID: exp.TenantID, ID: exp.ID, Version: exp.Version, Result: interim(a.Report),
	}); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		return fmt.Errorf("store interim analysis: %w", err)
	}
	return nil
}

// interim marks a report as an interim result.
func interim(report json.RawMessage) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(report, &m) != nil || m == nil {
		m = map[string]any{}
	}
	m["interim"] = true
	out, _ := json.Marshal(m)
	return out
}

func (c *Controller) analyzing(ctx context.Context, exp *Experiment) error {
	a, err := c.analyzer.Analyze(ctx, exp, true)
	if err != nil {
		c.mu.Lock()
		c.analysisErrs[exp.ID]++
		n := c.analysisErrs[exp.ID]
		c.mu.Unlock()
		if n >= c.cfg.AnalysisAttempts {
			return c.fail(ctx, exp, fmt.Sprintf("analysis failed %d times: %v", n, err))
		}
		return fmt.Errorf("analyze (attempt %d): %w", n, err)
	}
	out, _, err := c.store.ExperimentTransition(ctx, &store.ExperimentTransitionParams{
		TenantID: exp.TenantID, ID: exp.ID, From: string(StateAnalyzing), To: string(StateCompleted),
		Actor: "controller", Reason: "verdict: " + a.Verdict, At: c.now(), SetEnded: true, Result: a.Report,
	})
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	c.mu.Lock()
	delete(c.analysisErrs, exp.ID)
	delete(c.lastInterim, exp.ID)
	c.mu.Unlock()
	done, err := FromStore(out)
	if err != nil {
		return err
	}
	if err := c.deployer.Teardown(ctx, done); err != nil {
		return fmt.Errorf("remove pipelines: %w", err)
	}
	return nil
}

func formatFailures(m map[string]string) string {
	s := ""
	for _, h := range slices.Sorted(maps.Keys(m)) {
		if s != "" {
			s += "; "
		}
		s += h + ": " + m[h]
	}
	return s
}
