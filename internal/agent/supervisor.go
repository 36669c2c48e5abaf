package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/phoenix/platform/collector"
)

// Supervision constants.
const (
	// pollInterval is how often a configuration on probation is checked
	// for measurements.
	pollInterval = 200 * time.Millisecond
	// alignPoll is how often the running collector's meters are read
	// while a new configuration waits for its scrape (see pendingSwitch).
	alignPoll = 25 * time.Millisecond
	// crashLimit stops within crashWindow make a last-known-good a crash
	// loop, replaced by the one before it.
	crashLimit  = 3
	crashWindow = 5 * time.Minute
	// failedRetryAfter is how long a configuration that failed is answered
	// FAILED again without a new attempt when the server offers it again.
	failedRetryAfter = 5 * time.Minute
	// stopTimeout bounds the shutdown of one collector.
	stopTimeout = 10 * time.Second
	// Restart backoff after an unexpected stop.
	minRestartBackoff = time.Second
	maxRestartBackoff = 30 * time.Second
)

// reporter receives what the supervisor tells the server. Calls come from
// the supervisor's goroutine, one at a time.
type reporter interface {
	// configStatus reports the status of the remote configuration hash.
	configStatus(hash []byte, st protobufs.RemoteConfigStatuses, msg string)
	// effectiveConfig reports the configuration the collector runs.
	effectiveConfig(c *remoteConfig)
	// collectorHealth reports the collector's health.
	collectorHealth(h *protobufs.ComponentHealth)
}

// supervisorSettings are the supervisor's dependencies.
type supervisorSettings struct {
	log          *slog.Logger
	factories    func() (otelcol.Factories, error) // nil = collector.Components
	version      string
	grace        time.Duration
	startTimeout time.Duration
	gatherer     prometheus.Gatherer
	state        *state
	report       reporter
	// use points the measurement shipping at the running configuration.
	use func(PhoenixConfig)
}

// generation is one running collector.
type generation struct {
	cfg     *remoteConfig
	svc     *collector.Service
	started time.Time
	// probation is set until the grace period has passed.
	probation bool
	deadline  time.Time
	// measured is set once every measured pipeline has produced data.
	measured bool
	// base holds the meters' counters when the collector started.
	base meterCounts
	// inputs follows the input meter of each measured pipeline.
	inputs map[string]*inputWatch
	// errs remembers the collector's latest error log entry.
	errs *errorRecorder
}

// inputWatch follows the input meter of a measured pipeline on probation.
type inputWatch struct {
	// last is the counter at the latest growth; growths counts the
	// growths seen (one per scrape: polls are shorter than any interval).
	last    float64
	growths int
	// second is when the second growth was seen: the second scrape has
	// reached the pipeline, and its output is due within the settle time.
	second time.Time
}

// pendingSwitch is a validated configuration waiting for the running
// collector's next scrape. Switching right after a scrape has passed the
// running collector's meters (and is flushed by its shutdown) gives the
// new collector, or the last-known-good restored after it, nearly a whole
// scrape interval before the production pipeline misses a scrape.
type pendingSwitch struct {
	cfg *remoteConfig
	// base is the running collector's output counters when the wait began.
	base map[meterID]float64
	// until bounds the wait: a running collector that does not scrape
	// within one interval (and settleTime) is not waited for.
	until time.Time
}

// failure is the last configuration that failed.
type failure struct {
	hash []byte
	msg  string
	at   time.Time
}

// supervisor runs one collector at a time on the configuration the server
// offers, with probation and last-known-good rollback. Offer may be called
// from any goroutine; everything else runs on the goroutine of run.
type supervisor struct {
	supervisorSettings
	zlog *zap.Logger

	offerMu sync.Mutex
	offered *remoteConfig
	wake    chan struct{}

	// Owned by the run goroutine.
	cur       *generation
	pending   *pendingSwitch
	lkg       *remoteConfig // last-known-good; nil before the first
	prev      *remoteConfig // the last-known-good before lkg
	fallback  *remoteConfig // the initial configuration
	failed    *failure
	crashes   []time.Time
	down      bool // no collector runs; restore at retryAt
	retryAt   time.Time
	lastError string

	mu   sync.Mutex
	snap supervisorStatus
}

// supervisorStatus is what Status reports of the supervisor.
type supervisorStatus struct {
	running    *remoteConfig
	started    time.Time
	probation  bool
	up         bool
	lkgHash    []byte
	lastError  string
	lastSwitch time.Duration
}

func newSupervisor(set supervisorSettings) *supervisor {
	return &supervisor{
		supervisorSettings: set,
		zlog:               zapToSlog(set.log.With("component", "collector")),
		wake:               make(chan struct{}, 1),
	}
}

// offer hands a configuration to the supervisor; a later offer replaces
// one not yet taken.
func (s *supervisor) offer(c *remoteConfig) {
	s.offerMu.Lock()
	s.offered = c
	s.offerMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *supervisor) take() *remoteConfig {
	s.offerMu.Lock()
	defer s.offerMu.Unlock()
	c := s.offered
	s.offered = nil
	return c
}

// begin starts the collector on lkg (the last-known-good from disk, may be
// nil) or, when that is missing or does not start, on fallback. It reports
// to the reporter before the OpAMP client starts, so the first message to
// the server carries what runs.
func (s *supervisor) begin(ctx context.Context, lkg, fallback *remoteConfig) error {
	s.lkg, s.fallback = lkg, fallback
	if lkg != nil {
		gen, err := s.start(ctx, lkg)
		if err == nil {
			s.cur = gen
			s.report.configStatus(lkg.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
			s.running(gen)
			s.publish()
			s.log.Info("running the last-known-good configuration", "hash", short(lkg.hash))
			return nil
		}
		s.lastError = fmt.Sprintf("last-known-good configuration %s: %v", short(lkg.hash), err)
		s.log.Error("last-known-good configuration does not start; running the initial configuration", "hash", short(lkg.hash), "err", err)
	}
	gen, err := s.start(ctx, fallback)
	if err != nil {
		return fmt.Errorf("start the initial configuration: %w", err)
	}
	s.cur = gen
	s.running(gen)
	s.publish()
	s.log.Info("running the initial configuration")
	return nil
}

// run supervises until ctx is done, then stops the collector.
func (s *supervisor) run(ctx context.Context) {
	defer s.stopCurrent(ctx)
	for {
		var done <-chan struct{}
		if s.cur != nil {
			done = s.cur.svc.Done()
		}
		var timer *time.Timer
		var tick <-chan time.Time
		if at, ok := s.nextCheck(); ok {
			timer = time.NewTimer(time.Until(at))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-s.wake:
			if c := s.take(); c != nil {
				s.apply(ctx, c)
			}
		case <-done:
			if p := s.pending; p != nil {
				// The collector waited for is gone: switch at once.
				s.pending = nil
				s.switchTo(ctx, p.cfg)
			} else {
				s.crashed(ctx)
			}
		case <-tick:
			s.check(ctx)
		}
		if timer != nil {
			timer.Stop()
		}
		s.publish()
	}
}

// nextCheck returns when check must run next.
func (s *supervisor) nextCheck() (time.Time, bool) {
	var next time.Time
	at := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if s.down {
		at(s.retryAt)
	}
	if s.pending != nil {
		at(time.Now().Add(alignPoll))
	}
	if gen := s.cur; gen != nil && gen.probation {
		at(gen.deadline)
		if !gen.measured {
			at(time.Now().Add(pollInterval))
		}
	}
	return next, !next.IsZero()
}

// apply runs a configuration offered by the server.
func (s *supervisor) apply(ctx context.Context, c *remoteConfig) {
	if p := s.pending; p != nil {
		if c.hash != nil && bytes.Equal(p.cfg.hash, c.hash) {
			s.report.configStatus(c.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, "")
			return
		}
		// A newer offer replaces the one waiting.
		s.pending = nil
	}
	if s.cur != nil && c.hash != nil && bytes.Equal(s.cur.cfg.hash, c.hash) {
		// Offered again (a reconnect, a resend): say where it stands.
		st := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
		if s.cur.probation && !s.cur.measured {
			st = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
		}
		s.report.configStatus(c.hash, st, "")
		return
	}
	if f := s.failed; f != nil && c.hash != nil && bytes.Equal(f.hash, c.hash) && time.Since(f.at) < failedRetryAfter {
		s.report.configStatus(c.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, f.msg)
		return
	}
	s.report.configStatus(c.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, "")
	s.log.Info("applying configuration", "hash", short(c.hash))
	if c.err != nil {
		s.fail(c, c.err)
		return
	}
	if err := s.validate(ctx, c.collector); err != nil {
		s.fail(c, fmt.Errorf("validate %s: %w", CollectorConfigFile, err))
		return
	}
	if gen := s.cur; gen != nil && !s.down {
		if iv := scrapeInterval(gen.cfg.meters); iv > 0 {
			if now, err := outputDatapoints(s.gatherer); err == nil {
				s.pending = &pendingSwitch{cfg: c, base: now, until: time.Now().Add(iv + settleTime)}
				return
			}
		}
	}
	s.switchTo(ctx, c)
}

// scraped reports whether the collector a pending switch waits for has
// scraped since the wait began, or the wait is over.
func (s *supervisor) scraped(p *pendingSwitch) bool {
	if !time.Now().Before(p.until) || s.cur == nil {
		return true
	}
	now, err := outputDatapoints(s.gatherer)
	if err != nil {
		return false
	}
	for _, m := range s.cur.cfg.meters {
		if now[m.out] > p.base[m.out] {
			return true
		}
	}
	return false
}

// switchTo stops the running collector and starts one on c, on probation.
func (s *supervisor) switchTo(ctx context.Context, c *remoteConfig) {
	t0 := time.Now()
	s.stopCurrent(ctx)
	stopped := time.Since(t0)
	gen, err := s.start(ctx, c)
	s.setSwitch(time.Since(t0))
	if err != nil {
		s.fail(c, err)
		s.restore(ctx)
		return
	}
	s.log.Info("collector switched", "hash", short(c.hash), "stop", stopped, "start", time.Since(t0)-stopped)
	s.down = false
	gen.probation = true
	gen.deadline = gen.started.Add(s.grace)
	if len(c.meters) == 0 {
		// Nothing to measure: healthy once started; the grace period
		// still catches a collector that stops.
		gen.measured = true
	} else if base, err := readMeters(s.gatherer); err == nil {
		gen.base = base
	} else {
		gen.base = meterCounts{in: map[meterID]float64{}, out: map[meterID]float64{}}
		s.log.Warn("read measurements", "err", err)
	}
	gen.inputs = map[string]*inputWatch{}
	for name, m := range c.meters {
		gen.inputs[name] = &inputWatch{last: gen.base.in[m.in]}
	}
	s.cur = gen
	s.running(gen)
	if gen.measured {
		s.applied(gen)
	}
}

// check runs the timed work: a restart after a stop, a pending switch,
// the measurement check and the end of a probation.
func (s *supervisor) check(ctx context.Context) {
	if s.down {
		if !time.Now().Before(s.retryAt) {
			s.restore(ctx)
		}
		return
	}
	if p := s.pending; p != nil && s.scraped(p) {
		s.pending = nil
		s.switchTo(ctx, p.cfg)
		return
	}
	gen := s.cur
	if gen == nil || !gen.probation {
		return
	}
	if !gen.measured {
		counts, err := readMeters(s.gatherer)
		if err != nil {
			s.log.Warn("read measurements", "err", err)
		} else {
			now := time.Now()
			silent := silentPipelines(gen.cfg.meters, gen.base.out, counts.out)
			if len(silent) == 0 {
				gen.measured = true
				s.applied(gen)
			} else if late := gen.late(silent, counts.in, now); len(late) > 0 {
				s.fail(gen.cfg, fmt.Errorf("no measurements within the first scrape interval: %s of pipeline(s) %s did not grow",
					outputDatapointsMetric, strings.Join(late, ", ")))
				s.restore(ctx)
				return
			}
		}
	}
	if time.Now().Before(gen.deadline) {
		return
	}
	if !gen.measured {
		now, _ := outputDatapoints(s.gatherer)
		silent := silentPipelines(gen.cfg.meters, gen.base.out, now)
		s.fail(gen.cfg, fmt.Errorf("no measurements within the grace period of %s: %s of pipeline(s) %s did not grow",
			s.grace, outputDatapointsMetric, strings.Join(silent, ", ")))
		s.restore(ctx)
		return
	}
	s.promote(gen)
}

// late returns those of the silent pipelines (sorted) whose first scrape
// interval has passed without output: a pipeline with an input meter once
// that meter has seen two scrapes and the second has had its settle time
// to reach the output meter, or, before its input meter has seen
// anything, and for a pipeline without one, once one interval and the
// settle time have passed since its first scrape was due. A pipeline whose
// receivers state no collection_interval is only judged at the end of the
// grace period. in are the input counters now, read at now.
func (gen *generation) late(silent []string, in map[meterID]float64, now time.Time) []string {
	var out []string
	for _, name := range silent {
		m := gen.cfg.meters[name]
		if m.interval <= 0 {
			continue
		}
		w := gen.inputs[name]
		if m.hasIn && in[m.in] > w.last {
			w.last = in[m.in]
			if w.growths++; w.growths == 2 {
				w.second = now
			}
		}
		due := gen.started.Add(m.delay + m.interval + m.settle)
		switch {
		case m.hasIn && w.growths >= 2:
			due = w.second.Add(m.settle)
		case m.hasIn && w.growths == 1:
			// The first scrape came through the input meter: wait for
			// the second, whatever the time.
			continue
		}
		if !now.Before(due) {
			out = append(out, name)
		}
	}
	return out
}

// applied reports a configuration that runs and measures.
func (s *supervisor) applied(gen *generation) {
	s.lastError = ""
	if gen.cfg.hash != nil {
		s.report.configStatus(gen.cfg.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
	}
	s.health()
	s.log.Info("configuration applied", "hash", short(gen.cfg.hash), "after", time.Since(gen.started).Round(time.Millisecond))
}

// promote makes a configuration that passed its probation the
// last-known-good.
func (s *supervisor) promote(gen *generation) {
	gen.probation = false
	s.crashes = nil
	c := gen.cfg
	if s.lkg == nil || !bytes.Equal(s.lkg.hash, c.hash) {
		s.prev = s.lkg
	}
	s.lkg = c
	if err := s.state.saveLKG(c); err != nil {
		s.log.Error("persist the last-known-good configuration", "hash", short(c.hash), "err", err)
	} else {
		s.log.Info("configuration is the last-known-good", "hash", short(c.hash))
	}
	s.health()
}

// crashed handles a collector that stopped on its own.
func (s *supervisor) crashed(ctx context.Context) {
	gen := s.cur
	reason := errors.New("collector stopped unexpectedly")
	switch err, last := gen.svc.Err(), gen.errs.last(); {
	case err != nil:
		reason = fmt.Errorf("collector stopped: %w", err)
	case last != "":
		reason = fmt.Errorf("collector stopped: %s", last)
	}
	s.stopCurrent(ctx)
	if gen.probation {
		s.fail(gen.cfg, fmt.Errorf("within the grace period: %w", reason))
		s.restore(ctx)
		return
	}
	s.log.Error("collector stopped", "hash", short(gen.cfg.hash), "err", reason)
	s.lastError = reason.Error()
	now := time.Now()
	kept := s.crashes[:0]
	for _, t := range s.crashes {
		if now.Sub(t) < crashWindow {
			kept = append(kept, t)
		}
	}
	s.crashes = append(kept, now)
	if len(s.crashes) >= crashLimit && s.prev != nil && s.lkg != nil && gen.cfg.hash != nil && bytes.Equal(gen.cfg.hash, s.lkg.hash) && !bytes.Equal(s.prev.hash, s.lkg.hash) {
		bad := s.lkg
		s.lkg, s.prev = s.prev, nil
		if err := s.state.saveLKG(s.lkg); err != nil {
			s.log.Error("persist the last-known-good configuration", "hash", short(s.lkg.hash), "err", err)
		}
		s.fail(bad, fmt.Errorf("crash loop: stopped %d times within %s; last: %w", len(s.crashes), crashWindow, reason))
		s.crashes = nil
		s.restore(ctx)
		return
	}
	s.down = true
	s.retryAt = now.Add(restartBackoff(len(s.crashes)))
	s.health()
}

// restartBackoff is the wait before restart n (1, 2, ...).
func restartBackoff(n int) time.Duration {
	d := minRestartBackoff
	for i := 1; i < n && d < maxRestartBackoff; i++ {
		d *= 2
	}
	return min(d, maxRestartBackoff)
}

// fail reports a configuration that failed.
func (s *supervisor) fail(c *remoteConfig, err error) {
	msg := err.Error()
	s.lastError = msg
	s.log.Warn("configuration failed", "hash", short(c.hash), "err", msg)
	if c.hash == nil {
		return
	}
	s.failed = &failure{hash: c.hash, msg: msg, at: time.Now()}
	s.report.configStatus(c.hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, msg)
}

// restore runs the last-known-good configuration again, or the initial
// one when there is none or it does not start. When neither starts, it
// tries again after a backoff.
func (s *supervisor) restore(ctx context.Context) {
	s.stopCurrent(ctx)
	targets := []*remoteConfig{s.lkg, s.fallback}
	if s.lkg == nil {
		targets = targets[1:]
	}
	for _, c := range targets {
		gen, err := s.start(ctx, c)
		if err != nil {
			s.log.Error("restore configuration", "hash", short(c.hash), "err", err)
			continue
		}
		s.cur = gen
		s.down = false
		s.running(gen)
		s.log.Info("restored configuration", "hash", short(c.hash))
		return
	}
	s.down = true
	s.crashes = append(s.crashes, time.Now())
	s.retryAt = time.Now().Add(restartBackoff(len(s.crashes)))
	s.health()
}

// running reports a newly started generation.
func (s *supervisor) running(gen *generation) {
	s.report.effectiveConfig(gen.cfg)
	if s.use != nil {
		s.use(gen.cfg.phoenix)
	}
	s.health()
}

// health reports the collector's health.
func (s *supervisor) health() {
	h := &protobufs.ComponentHealth{StatusTimeUnixNano: uint64(time.Now().UnixNano()), LastError: s.lastError}
	switch gen := s.cur; {
	case gen == nil:
		h.Status = "stopped; restarting at " + s.retryAt.Format(time.RFC3339)
	case gen.probation && !gen.measured:
		h.Healthy = true
		h.StartTimeUnixNano = uint64(gen.started.UnixNano())
		h.Status = "starting configuration " + short(gen.cfg.hash) + "; waiting for measurements"
	case gen.probation:
		h.Healthy = true
		h.StartTimeUnixNano = uint64(gen.started.UnixNano())
		h.Status = "running configuration " + short(gen.cfg.hash) + " (grace period)"
	default:
		h.Healthy = true
		h.StartTimeUnixNano = uint64(gen.started.UnixNano())
		h.Status = "running configuration " + short(gen.cfg.hash)
	}
	s.report.collectorHealth(h)
}

// start starts a collector on c.
func (s *supervisor) start(ctx context.Context, c *remoteConfig) (*generation, error) {
	errs := newErrorRecorder()
	logger := zap.New(zapcore.NewTee(s.zlog.Core(), errs))
	opts := []collector.ServiceOption{collector.WithLogger(logger), collector.WithVersion(s.version)}
	if s.factories != nil {
		opts = append(opts, collector.WithFactories(s.factories))
	}
	svc := collector.NewService(c.collector, opts...)
	started := time.Now()
	if err := svc.Start(ctx, s.startTimeout); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		_ = svc.Shutdown(sctx)
		return nil, err
	}
	return &generation{cfg: c, svc: svc, started: started, errs: errs}, nil
}

// stopCurrent shuts the running collector down.
func (s *supervisor) stopCurrent(ctx context.Context) {
	if s.cur == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := s.cur.svc.Shutdown(sctx); err != nil {
		s.log.Error("stop collector", "err", err)
	}
	s.cur = nil
}

// validate checks a collector configuration with the supervisor's
// factories, the way `otelcol validate` does, while the current collector
// runs. Receivers are not built: building a hostmetrics receiver writes
// gopsutil's process-wide boot-time cache switches, which the running
// collector's scrapers read without synchronisation (the same write is why
// two collectors never overlap; see the package doc).
func (s *supervisor) validate(ctx context.Context, cfg []byte) error {
	if s.factories == nil {
		return collector.Validate(ctx, cfg)
	}
	set := collector.Settings("validate", "yaml:"+string(cfg))
	set.Factories = func() (otelcol.Factories, error) {
		f, err := s.factories()
		if err != nil {
			return f, err
		}
		return collector.ValidationFactories(f), nil
	}
	set.LoggingOptions = []zap.Option{zap.WrapCore(func(zapcore.Core) zapcore.Core { return zapcore.NewNopCore() })}
	col, err := otelcol.NewCollector(set)
	if err != nil {
		return fmt.Errorf("load collector config: %w", err)
	}
	return col.DryRun(ctx)
}

func (s *supervisor) setSwitch(d time.Duration) {
	s.mu.Lock()
	s.snap.lastSwitch = d
	s.mu.Unlock()
}

// publish copies the loop's state for status.
func (s *supervisor) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap.running, s.snap.started, s.snap.probation, s.snap.up = nil, time.Time{}, false, false
	if gen := s.cur; gen != nil {
		s.snap.running, s.snap.started, s.snap.probation, s.snap.up = gen.cfg, gen.started, gen.probation, true
	}
	s.snap.lkgHash = nil
	if s.lkg != nil {
		s.snap.lkgHash = s.lkg.hash
	}
	s.snap.lastError = s.lastError
}

func (s *supervisor) status() supervisorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// short abbreviates a configuration hash for logs and status texts.
func short(hash []byte) string {
	if hash == nil {
		return "initial"
	}
	h := hex.EncodeToString(hash)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
