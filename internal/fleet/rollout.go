package fleet

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
)

// Deployment states. A deployment is created pending; the rollout loop
// moves it to rolling_out, then active (the deployments it replaces become
// superseded), or, when an agent of a batch fails or a batch outlives its
// BatchTimeout, paused and then failed (its hosts return to what they ran
// before). Rolling a deployment back makes it rolled_back and the
// deployments it superseded active again.
const (
	DeploymentPending    = "pending"
	DeploymentRollingOut = "rolling_out"
	DeploymentActive     = "active"
	DeploymentPaused     = "paused"
	DeploymentFailed     = "failed"
	DeploymentRolledBack = "rolled_back"
	DeploymentSuperseded = "superseded"
)

// Defaults and limits of a Rollout.
const (
	DefaultBatchSize  = 1
	DefaultGrowth     = 5.0
	DefaultHealthGate = 30 * time.Second
	// DefaultBatchTimeout is how long a batch may wait for its hosts to
	// report applied and healthy, health gate not counted.
	DefaultBatchTimeout = 5 * time.Minute
	// MaxHealthGate and MaxBatchTimeout bound what Validate accepts.
	MaxHealthGate   = time.Hour
	MaxBatchTimeout = 24 * time.Hour
)

// Rollout is a deployment's Rollout document: the staged-rollout plan
// (BatchSize, Growth, HealthGate, as the API accepts them) and its
// progress, kept in the store so a restarted server continues where it
// stopped.
type Rollout struct {
	// BatchSize is the number of hosts of the first batch (0 = 1).
	BatchSize int `json:"batch_size,omitempty"`
	// Growth multiplies the batch size after each healthy batch (0 = 5).
	Growth float64 `json:"growth,omitempty"`
	// HealthGate is how long every host of a batch must stay applied and
	// healthy before the next batch starts (0 = 30s).
	HealthGate experiment.Duration `json:"health_gate,omitempty"`
	// BatchTimeout is how long a batch may wait for its hosts to report
	// applied and healthy (0 = 5m). The health gate does not count: a
	// batch that has not passed BatchTimeout + HealthGate after it started
	// pauses the rollout and rolls it back, as a failed agent does, with
	// the hosts that did not report in the Reason.
	BatchTimeout experiment.Duration `json:"batch_timeout,omitempty"`

	// Batch is the current batch, from 1; 0 before the rollout starts.
	Batch int `json:"batch,omitempty"`
	// Hosts are the hosts included so far, in the order they were, with
	// their progress.
	Hosts []HostRollout `json:"hosts,omitempty"`
	// GateSince is when every included host was first seen applied and
	// healthy in the current batch; nil while they are not.
	GateSince *time.Time `json:"gate_since,omitempty"`
	// BatchStartedAt is when the current batch started; the batch timeout
	// counts from it. A rollout stored without it counts from the first
	// step that sees it.
	BatchStartedAt *time.Time `json:"batch_started_at,omitempty"`
	// Message describes what the rollout waits for.
	Message string `json:"message,omitempty"`
	// Reason explains why the rollout failed or was rolled back.
	Reason string `json:"reason,omitempty"`
	// Superseded are the deployments this one replaced when it became
	// active; rolling it back makes them active again.
	Superseded []string `json:"superseded,omitempty"`
	// StartedAt is when the first batch started.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// FinishedAt is when the rollout ended (active, failed or rolled back).
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// HostRollout is the progress of one host of a rollout.
type HostRollout struct {
	// Host is the host name.
	Host string `json:"host"`
	// Batch is the batch that included the host.
	Batch int `json:"batch"`
	// Status is StatusPending, StatusApplying, StatusApplied, StatusFailed
	// or StatusSkipped (another deployment took the host over).
	Status string `json:"status"`
	// Message explains a failure or what the host waits for.
	Message string `json:"message,omitempty"`
	// Agents are the host's connected agents and where each stands.
	Agents []AgentRollout `json:"agents,omitempty"`
}

// AgentRollout is the progress of one agent of a rollout's host.
type AgentRollout struct {
	// InstanceUID identifies the agent.
	InstanceUID string `json:"instance_uid"`
	// Status is StatusPending, StatusApplying, StatusApplied, StatusFailed
	// or StatusSkipped.
	Status string `json:"status"`
	// Message explains a failure or what the agent waits for.
	Message string `json:"message,omitempty"`
}

// DefaultRollout is the rollout of a deployment that sets none.
func DefaultRollout() Rollout {
	return Rollout{
		BatchSize: DefaultBatchSize, Growth: DefaultGrowth,
		HealthGate: experiment.Duration(DefaultHealthGate), BatchTimeout: experiment.Duration(DefaultBatchTimeout),
	}
}

// Validate checks the plan fields (zero means the default); messages name
// the JSON key.
func (r Rollout) Validate() error {
	var errs []error
	if r.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch_size: must not be negative, got %d", r.BatchSize))
	}
	if r.Growth != 0 && (r.Growth < 1 || math.IsNaN(r.Growth) || math.IsInf(r.Growth, 0)) {
		errs = append(errs, fmt.Errorf("growth: must be at least 1, got %g", r.Growth))
	}
	if r.HealthGate < 0 || r.HealthGate.Std() > MaxHealthGate {
		errs = append(errs, fmt.Errorf("health_gate: must be between 0 and %s, got %s", MaxHealthGate, r.HealthGate.Std()))
	}
	if r.BatchTimeout < 0 || r.BatchTimeout.Std() > MaxBatchTimeout {
		errs = append(errs, fmt.Errorf("batch_timeout: must be between 0 and %s, got %s", MaxBatchTimeout, r.BatchTimeout.Std()))
	}
	return errors.Join(errs...)
}

// WithDefaults returns r with zero plan fields at their defaults.
func (r Rollout) WithDefaults() Rollout {
	if r.BatchSize <= 0 {
		r.BatchSize = DefaultBatchSize
	}
	if r.Growth < 1 {
		r.Growth = DefaultGrowth
	}
	if r.HealthGate <= 0 {
		r.HealthGate = experiment.Duration(DefaultHealthGate)
	}
	if r.BatchTimeout <= 0 {
		r.BatchTimeout = experiment.Duration(DefaultBatchTimeout)
	}
	return r
}

// batchDeadline is when the current batch times out.
func (r Rollout) batchDeadline() time.Time {
	return r.BatchStartedAt.Add(r.BatchTimeout.Std() + r.HealthGate.Std())
}

// timedOut is the Reason of a batch that outlived its timeout: the hosts
// included so far that did not report, each with where it stands.
func (r Rollout) timedOut(waiting []string) string {
	return fmt.Sprintf("batch %d timed out after %s: %d host(s) did not report applied and healthy: %s",
		r.Batch, (r.BatchTimeout.Std() + r.HealthGate.Std()).String(), len(waiting), strings.Join(waiting, "; "))
}

// DecodeRollout reads a deployment's Rollout document; an empty document
// is the zero Rollout.
func DecodeRollout(doc json.RawMessage) (Rollout, error) {
	var r Rollout
	if len(doc) == 0 || string(doc) == "null" {
		return r, nil
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("decode rollout: %w", err)
	}
	return r, nil
}

// batchSize is the size of batch k (from 1): BatchSize, then each batch
// Growth times the previous one, rounded up.
func (r Rollout) batchSize(k int) int {
	size := float64(r.BatchSize)
	for i := 1; i < k; i++ {
		size = math.Ceil(size * r.Growth)
		if size > 1e9 {
			break
		}
	}
	return int(size)
}

// runRollouts drives rollouts every RolloutEvery while this process leads
// "fleet-rollouts".
func (s *Server) runRollouts(ctx context.Context) {
	t := time.NewTicker(s.cfg.RolloutEvery)
	defer t.Stop()
	for {
		leaderCtx, release, ok, err := s.st.LeaderTry(ctx, "fleet-rollouts")
		if err != nil && ctx.Err() == nil {
			s.log.Warn("try rollout leadership", "err", err)
		}
		if ok {
			s.every(leaderCtx, s.cfg.RolloutEvery, s.kick, func(ctx context.Context) {
				if err := s.StepRollouts(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("drive rollouts", "err", err)
				}
			})
			release()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// wake asks the rollout loop to run now.
func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// StepRollouts advances every pending, rolling-out and paused deployment
// of every tenant by one step: start the first batch, record the hosts'
// progress, open the next batch once the health gate passes, finish, or
// roll back a failed batch. Start runs it every RolloutEvery on the
// leader; calling it by hand is safe (writes are compare-and-set on the
// deployment's version).
func (s *Server) StepRollouts(ctx context.Context) error {
	tenants, err := s.st.TenantList(ctx)
	if err != nil {
		return fmt.Errorf("drive rollouts: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if err := s.stepTenant(ctx, t.ID); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) stepTenant(ctx context.Context, tenantID string) error {
	deps, err := listDeployments(ctx, s.st, tenantID, DeploymentPending, DeploymentRollingOut, DeploymentPaused)
	if err != nil || len(deps) == 0 {
		return err
	}
	slices.SortFunc(deps, func(x, y *store.Deployment) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
	})
	sn, err := s.snapshot(ctx, tenantID, true)
	if err != nil {
		return err
	}
	views, err := s.view(ctx, tenantID, sn)
	if err != nil {
		return err
	}
	var errs []error
	changed := false
	for _, d := range deps {
		c, err := s.stepDeployment(ctx, sn, views, deps, d)
		changed = changed || c
		if err != nil && !errors.Is(err, store.ErrVersionConflict) {
			errs = append(errs, fmt.Errorf("deployment %s: %w", d.ID, err))
		}
	}
	if changed {
		if err := s.Reconcile(ctx, tenantID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stepDeployment advances one deployment and reports whether it wrote
// anything.
func (s *Server) stepDeployment(ctx context.Context, sn *snapshot, views []*agentView, all []*store.Deployment, d *store.Deployment) (bool, error) {
	orig, err := DecodeRollout(d.Rollout)
	if err != nil {
		_, err := s.save(ctx, d, DeploymentFailed, Rollout{Reason: err.Error(), FinishedAt: s.stamp()})
		return err == nil, err
	}
	r := orig.WithDefaults()
	r.Hosts = slices.Clone(r.Hosts)
	entry := sn.entry(d.ID)
	if entry == nil {
		if entry, err = s.deploymentEntry(ctx, newResolver(s.st, s.catalog, d.TenantID), d); err != nil {
			return false, err
		}
	}

	switch d.State {
	case DeploymentPaused:
		return s.rollBackFailed(ctx, d, r, r.Reason)

	case DeploymentPending:
		if entry.err != nil {
			r.Reason = "pipeline: " + entry.err.Error()
			r.FinishedAt = s.stamp()
			_, err := s.save(ctx, d, DeploymentFailed, r)
			return err == nil, err
		}
		for _, o := range all {
			if o.ID != d.ID && (o.State == DeploymentRollingOut || o.State == DeploymentPaused) && sameSelector(o.Selector, d.Selector) {
				r.Message = "waiting for deployment " + o.ID + " with the same selector to finish its rollout"
				return s.saveIfChanged(ctx, d, d.State, orig, r)
			}
		}
		targets := s.rolloutTargets(sn, entry, views)
		r.StartedAt = s.stamp()
		if len(targets) == 0 {
			r.Message = "no connected agent matches the selector; the deployment applies to agents as they connect"
			return s.complete(ctx, sn, d, r)
		}
		r.Batch = 1
		r.BatchStartedAt = r.StartedAt
		r.include(targets, r.batchSize(1))
		r.Message = fmt.Sprintf("batch 1: %d host(s)", len(r.Hosts))
		d, err := s.save(ctx, d, DeploymentRollingOut, r)
		if err != nil {
			return false, err
		}
		s.log.Info("rollout started", "tenant_id", d.TenantID, "deployment", d.ID, "hosts", len(r.Hosts))
		return true, nil

	case DeploymentRollingOut:
	default:
		return false, nil
	}

	if entry.err != nil {
		return s.rollBackFailed(ctx, d, r, "pipeline: "+entry.err.Error())
	}
	byHost := map[string][]*agentView{}
	for _, v := range views {
		byHost[v.host] = append(byHost[v.host], v)
	}
	now := s.now().UTC()
	if r.BatchStartedAt == nil {
		r.BatchStartedAt = &now
	}
	expired := !now.Before(r.batchDeadline())
	failure := ""
	var waiting []string
	for i := range r.Hosts {
		h := &r.Hosts[i]
		h.Status, h.Message, h.Agents = s.hostProgress(sn, entry, byHost[h.Host])
		if h.Status == StatusFailed && failure == "" {
			failure = fmt.Sprintf("host %s: %s", h.Host, h.Message)
		}
		if h.Status != StatusApplied && h.Status != StatusSkipped {
			waiting = append(waiting, fmt.Sprintf("%s (%s: %s)", h.Host, h.Status, h.Message))
		}
	}
	if failure != "" {
		return s.rollBackFailed(ctx, d, r, failure)
	}
	if len(waiting) > 0 {
		if expired {
			return s.rollBackFailed(ctx, d, r, r.timedOut(waiting))
		}
		r.GateSince = nil
		r.Message = fmt.Sprintf("batch %d: waiting for hosts to apply the configuration (timeout at %s)",
			r.Batch, r.batchDeadline().Format(time.RFC3339))
		return s.saveIfChanged(ctx, d, d.State, orig, r)
	}
	if r.GateSince == nil {
		r.GateSince = &now
	}
	if now.Sub(*r.GateSince) < r.HealthGate.Std() {
		r.Message = fmt.Sprintf("batch %d: applied; health gate until %s", r.Batch, r.GateSince.Add(r.HealthGate.Std()).Format(time.RFC3339))
		return s.saveIfChanged(ctx, d, d.State, orig, r)
	}
	for _, h := range r.Hosts {
		if h.Batch != r.Batch || h.Status != StatusApplied || s.healthy == nil {
			continue
		}
		ok, err := s.healthy(ctx, d.TenantID, h.Host)
		if err != nil {
			s.log.Warn("rollout health check", "deployment", d.ID, "host", h.Host, "err", err)
		}
		if !ok {
			waiting = append(waiting, h.Host)
		}
	}
	if len(waiting) > 0 {
		if expired {
			for i, h := range waiting {
				waiting[i] = h + " (applied, no healthy measurements)"
			}
			return s.rollBackFailed(ctx, d, r, r.timedOut(waiting))
		}
		r.Message = fmt.Sprintf("batch %d: waiting for host(s) %s to report healthy measurements (timeout at %s)",
			r.Batch, strings.Join(waiting, ", "), r.batchDeadline().Format(time.RFC3339))
		return s.saveIfChanged(ctx, d, d.State, orig, r)
	}
	targets := s.rolloutTargets(sn, entry, views)
	included := map[string]bool{}
	for _, h := range r.Hosts {
		included[h.Host] = true
	}
	var rest []string
	for _, h := range targets {
		if !included[h] {
			rest = append(rest, h)
		}
	}
	if len(rest) == 0 {
		r.Message = fmt.Sprintf("rolled out to %d host(s) in %d batch(es)", len(r.Hosts), r.Batch)
		return s.complete(ctx, sn, d, r)
	}
	r.Batch++
	r.GateSince = nil
	r.BatchStartedAt = &now
	before := len(r.Hosts)
	r.include(rest, r.batchSize(r.Batch))
	r.Message = fmt.Sprintf("batch %d: %d host(s)", r.Batch, len(r.Hosts)-before)
	if _, err := s.save(ctx, d, DeploymentRollingOut, r); err != nil {
		return false, err
	}
	s.log.Info("rollout batch started", "tenant_id", d.TenantID, "deployment", d.ID, "batch", r.Batch, "hosts", len(r.Hosts)-before)
	return true, nil
}

// include adds up to n of hosts to the rollout's current batch.
func (r *Rollout) include(hosts []string, n int) {
	for _, h := range hosts[:min(n, len(hosts))] {
		r.Hosts = append(r.Hosts, HostRollout{Host: h, Batch: r.Batch, Status: StatusPending})
	}
}

// rolloutTargets returns, sorted, the hosts of connected agents on which
// the deployment would be the active one once rolled out.
func (s *Server) rolloutTargets(sn *snapshot, e *deploymentEntry, views []*agentView) []string {
	set := map[string]bool{}
	for _, v := range views {
		if v.host != "" && sn.wouldWin(e, v.host, v.labels) {
			set[v.host] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// hostProgress is the rollout status of one host: the furthest behind of
// its agents' (failed, then applying, pending, applied, skipped).
func (s *Server) hostProgress(sn *snapshot, e *deploymentEntry, agents []*agentView) (string, string, []AgentRollout) {
	if len(agents) == 0 {
		return StatusPending, "no connected agent on this host", nil
	}
	slices.SortFunc(agents, func(x, y *agentView) int { return strings.Compare(x.uid, y.uid) })
	status, msg := StatusSkipped, "another deployment takes precedence on this host"
	rank := map[string]int{StatusSkipped: 0, StatusApplied: 1, StatusPending: 2, StatusApplying: 3, StatusFailed: 4}
	out := make([]AgentRollout, 0, len(agents))
	for _, v := range agents {
		st, m := s.agentProgress(sn, e, v)
		out = append(out, AgentRollout{InstanceUID: v.uid, Status: st, Message: m})
		if rank[st] > rank[status] {
			status, msg = st, m
		}
	}
	if status == StatusApplied {
		msg = ""
	}
	return status, msg, out
}

func (s *Server) agentProgress(sn *snapshot, e *deploymentEntry, v *agentView) (string, string) {
	switch {
	case v.deployment != e.d.ID && !sn.wouldWin(e, v.host, v.labels):
		return StatusSkipped, "another deployment takes precedence on this host"
	case !v.acceptsRemoteConfig():
		return StatusSkipped, "agent " + v.uid + " does not accept remote configuration"
	case v.deployment != e.d.ID:
		return StatusPending, "configuration not computed yet"
	case v.desiredErr != "":
		return StatusFailed, v.desiredErr
	case v.reportedHash == v.desiredHash && v.status == StatusFailed:
		return StatusFailed, "agent " + v.uid + " failed to apply the configuration: " + v.message
	case v.reportedHash != v.desiredHash || v.status != StatusApplied:
		if v.sentHash == v.desiredHash || v.status == StatusApplying {
			return StatusApplying, "configuration sent"
		}
		return StatusPending, "configuration not sent yet"
	case v.healthKnown && !v.healthy:
		return StatusFailed, "agent " + v.uid + " reports unhealthy after applying the configuration"
	}
	return StatusApplied, ""
}

// rollBackFailed records a failed rollout: paused with the reason first,
// then failed, which returns every host to what it ran before (the
// deployment no longer counts for any host).
func (s *Server) rollBackFailed(ctx context.Context, d *store.Deployment, r Rollout, reason string) (bool, error) {
	r.Reason = reason
	r.Message = "rolled back: hosts returned to their previous pipeline"
	if d.State != DeploymentPaused {
		var err error
		if d, err = s.save(ctx, d, DeploymentPaused, r); err != nil {
			return false, err
		}
		s.log.Warn("rollout paused", "tenant_id", d.TenantID, "deployment", d.ID, "reason", reason)
	}
	r.FinishedAt = s.stamp()
	if _, err := s.save(ctx, d, DeploymentFailed, r); err != nil {
		return true, err
	}
	s.log.Warn("rollout rolled back", "tenant_id", d.TenantID, "deployment", d.ID, "reason", reason)
	return true, nil
}

// complete makes the deployment active and supersedes the active
// deployments with exactly its selector. The superseded IDs are recorded
// first, so a crash halfway is finished by the next step and a rollback
// can restore them.
func (s *Server) complete(ctx context.Context, sn *snapshot, d *store.Deployment, r Rollout) (bool, error) {
	ids := slices.Clone(r.Superseded)
	for _, e := range sn.deployments {
		if e.d.ID != d.ID && e.d.State == DeploymentActive && sameSelector(e.d.Selector, d.Selector) && !slices.Contains(ids, e.d.ID) {
			ids = append(ids, e.d.ID)
		}
	}
	var err error
	if !slices.Equal(ids, r.Superseded) {
		r.Superseded = ids
		if d, err = s.save(ctx, d, d.State, r); err != nil {
			return false, err
		}
	}
	for _, id := range ids {
		if err := s.setState(ctx, d.TenantID, id, DeploymentActive, DeploymentSuperseded); err != nil {
			return true, err
		}
	}
	r.FinishedAt = s.stamp()
	if _, err := s.save(ctx, d, DeploymentActive, r); err != nil {
		return true, err
	}
	s.log.Info("deployment active", "tenant_id", d.TenantID, "deployment", d.ID, "superseded", ids)
	return true, nil
}

// setState moves a deployment from one state to another, retrying lost
// version races; a deployment in another state is left alone.
func (s *Server) setState(ctx context.Context, tenantID, id, from, to string) error {
	for range 5 {
		d, err := s.st.DeploymentGet(ctx, tenantID, id)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.State != from {
			return nil
		}
		_, err = s.st.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{TenantID: tenantID, ID: id, Version: d.Version, State: &to})
		if !errors.Is(err, store.ErrVersionConflict) {
			return err
		}
	}
	return fmt.Errorf("set deployment %s %s: %w", id, to, store.ErrVersionConflict)
}

// save writes the deployment's state and rollout if it is still at the
// version read.
func (s *Server) save(ctx context.Context, d *store.Deployment, state string, r Rollout) (*store.Deployment, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rollout: %w", err)
	}
	out, err := s.st.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{
		TenantID: d.TenantID, ID: d.ID, Version: d.Version, State: &state, Rollout: doc,
	})
	if err != nil {
		return nil, fmt.Errorf("save deployment %s: %w", d.ID, err)
	}
	return out, nil
}

// saveIfChanged saves r unless it equals what was read.
func (s *Server) saveIfChanged(ctx context.Context, d *store.Deployment, state string, orig, r Rollout) (bool, error) {
	a, _ := json.Marshal(orig)
	b, _ := json.Marshal(r)
	if state == d.State && bytes.Equal(a, b) {
		return false, nil
	}
	_, err := s.save(ctx, d, state, r)
	return false, err
}

func (s *Server) stamp() *time.Time {
	t := s.now().UTC()
	return &t
}

// entry returns the snapshot's entry of a deployment, or nil.
func (sn *snapshot) entry(id string) *deploymentEntry {
	for _, e := range sn.deployments {
		if e.d.ID == id {
			return e
		}
	}
	return nil
}

// sameSelector reports whether two selector documents select alike.
func sameSelector(x, y json.RawMessage) bool {
	a, errA := decodeSelector(x)
	b, errB := decodeSelector(y)
	return errA == nil && errB == nil && maps.Equal(a, b)
}

// Rollback rolls a deployment back: it becomes rolled_back and the
// deployments it superseded (and its PreviousID, if superseded) become
// active again, so its hosts return to what they ran before. Rolling back
// a rolled-back deployment returns it unchanged; a failed or superseded
// deployment is a CONFLICT. The tenant is reconciled before returning.
func (s *Server) Rollback(ctx context.Context, tenantID, id, actor string) (*store.Deployment, error) {
	var d *store.Deployment
	var r Rollout
	for attempt := 0; ; attempt++ {
		var err error
		if d, err = s.st.DeploymentGet(ctx, tenantID, id); err != nil {
			if isNotFound(err) {
				return nil, apierror.NotFound("deployment", id)
			}
			return nil, fmt.Errorf("roll back deployment %s: %w", id, err)
		}
		switch d.State {
		case DeploymentRolledBack:
			return d, nil
		case DeploymentFailed, DeploymentSuperseded:
			return nil, apierror.New(apierror.CodeConflict, "deployment %s is %s and cannot be rolled back", id, d.State).
				WithDetail("current_state", d.State)
		}
		if r, err = DecodeRollout(d.Rollout); err != nil {
			r = Rollout{}
		}
		r.Reason = "rolled back"
		if actor != "" {
			r.Reason += " by " + actor
		}
		r.FinishedAt = s.stamp()
		out, err := s.save(ctx, d, DeploymentRolledBack, r)
		if errors.Is(err, store.ErrVersionConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("roll back deployment %s: %w", id, err)
		}
		d = out
		break
	}
	restore := slices.Clone(r.Superseded)
	if d.PreviousID != "" && !slices.Contains(restore, d.PreviousID) {
		restore = append(restore, d.PreviousID)
	}
	for _, pid := range restore {
		if err := s.setState(ctx, tenantID, pid, DeploymentSuperseded, DeploymentActive); err != nil {
			return d, fmt.Errorf("roll back deployment %s: restore %s: %w", id, pid, err)
		}
	}
	s.log.Info("deployment rolled back", "tenant_id", tenantID, "deployment", id, "restored", restore, "actor", actor)
	if err := s.Reconcile(ctx, tenantID); err != nil {
		return d, err
	}
	return d, nil
}
