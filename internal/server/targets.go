package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/store"
)

// targetAgents calls fn with every agent of the tenant that an
// experiment's target matches.
func targetAgents(ctx context.Context, st store.Store, tenantID string, target experiment.Target, fn func(*store.Agent)) error {
	cursor := ""
	for {
		page, err := st.AgentList(ctx, &store.AgentListParams{TenantID: tenantID, Cursor: cursor, Limit: store.MaxPageLimit})
		if err != nil {
			return fmt.Errorf("list agents: %w", err)
		}
		for _, a := range page.Items {
			if slices.Contains(target.Hosts, a.HostName) || (len(target.Selector) > 0 && fleet.Matches(target.Selector, a.Labels)) {
				fn(a)
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// countAgents counts the agents an experiment's target matches: the fleet
// its costs are extrapolated to.
func countAgents(ctx context.Context, st store.Store, tenantID string, target experiment.Target) (int, error) {
	n := 0
	err := targetAgents(ctx, st, tenantID, target, func(*store.Agent) { n++ })
	if err != nil {
		return 0, fmt.Errorf("count agents: %w", err)
	}
	return n, nil
}

// disconnectedHosts returns the experiment's target hosts none of whose
// agents is connected and that were heard from after it started: hosts
// that went away mid-experiment.
func disconnectedHosts(ctx context.Context, st store.Store, exp *experiment.Experiment) ([]analysis.DisconnectedHost, error) {
	if exp.StartedAt == nil {
		return nil, nil
	}
	type seen struct {
		connected bool
		last      time.Time
	}
	hosts := map[string]*seen{}
	err := targetAgents(ctx, st, exp.TenantID, exp.Spec.Target, func(a *store.Agent) {
		h := hosts[a.HostName]
		if h == nil {
			h = &seen{}
			hosts[a.HostName] = h
		}
		h.connected = h.connected || a.Connected
		if a.LastSeenAt.After(h.last) {
			h.last = a.LastSeenAt
		}
	})
	if err != nil {
		return nil, fmt.Errorf("find disconnected hosts: %w", err)
	}
	var out []analysis.DisconnectedHost
	for name, h := range hosts {
		if !h.connected && h.last.After(*exp.StartedAt) {
			out = append(out, analysis.DisconnectedHost{Host: name, LastSeenAt: h.last})
		}
	}
	slices.SortFunc(out, func(x, y analysis.DisconnectedHost) int { return strings.Compare(x.Host, y.Host) })
	return out, nil
}
