package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
)

// Deployer is the fleet as the experiment controller's
// [experiment.Deployer]. Every method is idempotent.
type Deployer struct{ s *Server }

var (
	_ experiment.Deployer         = (*Deployer)(nil)
	_ experiment.PromotionChecker = (*Deployer)(nil)
)

var (
	_ experiment.Deployer         = (*Deployer)(nil)
	_ experiment.PromotionChecker = (*Deployer)(nil)
)

// Deploy reconciles the experiment's tenant, which adds the experiment's
// exp-<id>-baseline and exp-<id>-candidate pipelines to the configuration
// of every target agent (connected agents on Target.Hosts or matching
// Target.Selector) while the experiment is deploying or running. It
// reports Ready once every target agent reports applied for a
// configuration that contains the experiment and every listed host has a
// connected agent; Failed names the hosts whose agent reported failed for
// such a configuration, or whose configuration cannot be composed. A
// store failure is reported in Message, not as an error, so the
// controller waits for its deploy timeout instead of failing at once; the
// error is a permanent problem: the experiment's pipelines do not resolve.
func (d *Deployer) Deploy(ctx context.Context, exp *experiment.Experiment) (experiment.DeployStatus, error) {
	s := d.s
	var st experiment.DeployStatus
	if err := s.Reconcile(ctx, exp.TenantID); err != nil {
		st.Message = "waiting for the store: " + err.Error()
		return st, nil
	}
	sn, err := s.snapshot(ctx, exp.TenantID, false)
	if err != nil {
		st.Message = "waiting for the store: " + err.Error()
		return st, nil
	}
	var ee *experimentEntry
	for _, e := range sn.experiments {
		if e.id == exp.ID {
			ee = e
		}
	}
	if ee == nil {
		st.Message = fmt.Sprintf("experiment %s is not deploying or running", exp.ID)
		return st, nil
	}
	if ee.err != nil {
		return st, fmt.Errorf("experiment %s: %w", exp.ID, ee.err)
	}
	views, err := s.view(ctx, exp.TenantID, sn)
	if err != nil {
		st.Message = "waiting for the store: " + err.Error()
		return st, nil
	}

	hosts := map[string]bool{}
	failed := map[string]string{}
	var waiting []string
	for _, v := range views {
		if !ee.targets(v.host, v.labels) {
			continue
		}
		hosts[v.host] = true
		has := slices.Contains(v.experiments, exp.ID)
		switch {
		case !v.acceptsRemoteConfig():
			failed[v.host] = "agent " + v.uid + " does not accept remote configuration"
		case v.desiredErr != "":
			failed[v.host] = v.desiredErr
		case v.status == StatusFailed && ((has && v.reportedHash == v.desiredHash) || (v.reportedHash == v.sentHash && slices.Contains(v.sentExps, exp.ID))):
			failed[v.host] = "agent " + v.uid + " failed to apply the configuration: " + v.message
		case has && v.reportedHash == v.desiredHash && v.status == StatusApplied:
		default:
			waiting = append(waiting, v.host)
		}
	}
	st.Hosts = slices.Sorted(maps.Keys(hosts))
	if len(failed) > 0 {
		st.Failed = failed
	}
	var missing []string
	for _, h := range exp.Spec.Target.Hosts {
		if !hosts[h] {
			missing = append(missing, h)
		}
	}
	switch {
	case len(hosts) == 0:
		st.Message = "no connected agent matches " + describeTarget(exp.Spec.Target)
	case len(failed) > 0:
		st.Message = fmt.Sprintf("%d host(s) failed to apply the experiment's pipelines", len(failed))
	case len(missing) > 0:
		st.Message = "no connected agent on host(s) " + strings.Join(missing, ", ")
	case len(waiting) > 0:
		slices.Sort(waiting)
		st.Message = fmt.Sprintf("waiting for %d agent(s) to apply the pipelines (%s)", len(waiting), strings.Join(slices.Compact(waiting), ", "))
	default:
		st.Ready = true
		st.Message = fmt.Sprintf("pipelines applied on %d host(s)", len(hosts))
	}
	return st, nil
}

// describeTarget renders a target for messages.
func describeTarget(t experiment.Target) string {
	var parts []string
	if len(t.Hosts) > 0 {
		parts = append(parts, "hosts "+strings.Join(t.Hosts, ", "))
	}
	if len(t.Selector) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(t.Selector)) {
			kv = append(kv, k+"="+t.Selector[k])
		}
		parts = append(parts, "selector "+strings.Join(kv, ","))
	}
	if len(parts) == 0 {
		return "an empty target"
	}
	return strings.Join(parts, " or ")
}

// Teardown reconciles the experiment's tenant: an experiment that is no
// longer deploying or running is no longer part of any agent's
// configuration, so its pipelines are removed.
func (d *Deployer) Teardown(ctx context.Context, exp *experiment.Experiment) error {
	return d.s.Reconcile(ctx, exp.TenantID)
}

// promoteSelectors are the selectors of the deployments promoting an
// experiment: its target selector, if any, and {"host.name": h} for each
// target host, since a selector cannot list hosts.
func promoteSelectors(t experiment.Target) []map[string]string {
	var out []map[string]string
	if len(t.Selector) > 0 {
		out = append(out, maps.Clone(t.Selector))
	}
	hosts := slices.Clone(t.Hosts)
	slices.Sort(hosts)
	for _, h := range slices.Compact(hosts) {
		out = append(out, map[string]string{attrHostName: h})
	}
	return out
}

// Promote creates, in state pending with the default rollout, one
// deployment of the experiment's candidate (its name and parameters) per
// promotion selector: the target's selector, and {"host.name": h} for
// each target host. Each records the experiment and, as PreviousID, the
// active deployment with exactly its selector, which it supersedes once
// rolled out. It returns the ID of the first (the selector's, else the
// first host's). Deployments already created for the experiment are kept,
// so calling it again creates only what is missing.
func (d *Deployer) Promote(ctx context.Context, exp *experiment.Experiment, actor string) (string, error) {
	s := d.s
	cand := exp.Spec.Candidate
	if _, err := newResolver(s.st, s.catalog, exp.TenantID).resolve(ctx, cand); err != nil {
		return "", fmt.Errorf("promote experiment %s: %w", exp.ID, err)
	}
	mine, err := s.deploymentsOf(ctx, exp, DeploymentPending, DeploymentRollingOut, DeploymentPaused, DeploymentActive)
	if err != nil {
		return "", fmt.Errorf("promote experiment %s: %w", exp.ID, err)
	}
	sn, err := s.snapshot(ctx, exp.TenantID, true)
	if err != nil {
		return "", fmt.Errorf("promote experiment %s: %w", exp.ID, err)
	}
	var params json.RawMessage
	if len(cand.Params) > 0 {
		if params, err = json.Marshal(cand.Params); err != nil {
			return "", fmt.Errorf("promote experiment %s: encode params: %w", exp.ID, err)
		}
	}
	rollout, _ := json.Marshal(DefaultRollout())
	first := ""
	for _, sel := range promoteSelectors(exp.Spec.Target) {
		selDoc, _ := json.Marshal(sel)
		id := ""
		for _, m := range mine {
			if sameSelector(m.Selector, selDoc) {
				id = m.ID
				break
			}
		}
		if id == "" {
			prev := ""
			for _, e := range sn.deployments {
				if e.d.State == DeploymentActive && maps.Equal(e.selector, sel) {
					prev = e.d.ID
					break
				}
			}
			created, err := s.st.DeploymentCreate(ctx, &store.DeploymentCreateParams{
				TenantID: exp.TenantID, Name: "promotion of experiment " + exp.Name, PipelineRef: cand.Name,
				Params: params, Selector: selDoc, State: DeploymentPending, Rollout: rollout,
				PreviousID: prev, ExperimentID: exp.ID, CreatedBy: actor,
			})
			if err != nil {
				return first, fmt.Errorf("promote experiment %s: %w", exp.ID, err)
			}
			id = created.ID
			s.log.Info("experiment promoted", "tenant_id", exp.TenantID, "experiment", exp.ID, "deployment", id, "selector", sel)
		}
		if first == "" {
			first = id
		}
	}
	if first == "" {
		return "", fmt.Errorf("promote experiment %s: the target selects no hosts", exp.ID)
	}
	s.wake()
	return first, nil
}

// Unpromote rolls back every deployment Promote created for the
// experiment that is still pending, rolling out, paused or active (see
// [Server.Rollback]).
func (d *Deployer) Unpromote(ctx context.Context, exp *experiment.Experiment, actor string) error {
	mine, err := d.s.deploymentsOf(ctx, exp, DeploymentPending, DeploymentRollingOut, DeploymentPaused, DeploymentActive)
	if err != nil {
		return fmt.Errorf("roll back promotion of experiment %s: %w", exp.ID, err)
	}
	for _, m := range mine {
		if _, err := d.s.Rollback(ctx, exp.TenantID, m.ID, actor); err != nil {
			return fmt.Errorf("roll back promotion of experiment %s: %w", exp.ID, err)
		}
	}
	return nil
}

// deploymentsOf returns the experiment's deployments in the states,
// oldest first.
// Promoted reports whether Promote has created a deployment for the
// experiment, in any state since.
func (d *Deployer) Promoted(ctx context.Context, exp *experiment.Experiment) (bool, error) {
	mine, err := d.s.deploymentsOf(ctx, exp)
	if err != nil {
		return false, fmt.Errorf("deployments of experiment %s: %w", exp.ID, err)
	}
	return len(mine) > 0, nil
}

func (s *Server) deploymentsOf(ctx context.Context, exp *experiment.Experiment, states ...string) ([]*store.Deployment, error) {
	all, err := listDeployments(ctx, s.st, exp.TenantID, states...)
	if err != nil {
		return nil, err
	}
	var out []*store.Deployment
	for _, d := range all {
		if d.ExperimentID == exp.ID {
			out = append(out, d)
		}
	}
	slices.Reverse(out)
	return out, nil
}
