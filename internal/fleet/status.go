package fleet

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// agentView is one connected agent as Deploy, the rollouts and Status see
// it: from this server's registry when the agent is connected here, else
// from the store (an agent of another replica), with its desired
// configuration computed from the same snapshot either way.
type agentView struct {
	uid, host    string
	labels       map[string]string
	version      string
	caps         uint64
	transport    string
	healthKnown  bool
	healthy      bool
	reportedHash string
	status       string
	message      string
	desiredHash  string
	desiredErr   string
	deployment   string
	experiments  []string
	sentHash     string
	sentExps     []string
	seenAt       time.Time
}

func (v *agentView) acceptsRemoteConfig() bool {
	return v.caps&uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig) != 0
}

// view returns the tenant's connected agents with their desired
// configuration computed from sn.
func (s *Server) view(ctx context.Context, tenantID string, sn *snapshot) ([]*agentView, error) {
	s.mu.RLock()
	var local []*agent
	for k, a := range s.agents {
		if k.tenantID == tenantID {
			local = append(local, a)
		}
	}
	s.mu.RUnlock()

	seen := make(map[string]bool, len(local))
	out := make([]*agentView, 0, len(local))
	for _, a := range local {
		s.refreshDesired(a, sn)
		a.mu.Lock()
		seen[a.uid] = true
		if a.connected && a.described {
			out = append(out, &agentView{
				uid: a.uid, host: a.host, labels: a.labels, version: a.version, caps: a.caps, transport: a.transport,
				healthKnown: a.healthKnown, healthy: a.healthy,
				reportedHash: hex.EncodeToString(a.reportedHash), status: a.rcStatus, message: a.rcMessage,
				desiredHash: hex.EncodeToString(a.desiredHash), desiredErr: a.desiredErr,
				deployment: a.deployment, experiments: a.experiments,
				sentHash: hex.EncodeToString(a.sentHash), sentExps: a.sentExps, seenAt: a.seenAt,
			})
		}
		a.mu.Unlock()
	}

	connected := true
	cursor := ""
	for {
		page, err := s.st.AgentList(ctx, &store.AgentListParams{TenantID: tenantID, Connected: &connected, Cursor: cursor, Limit: store.MaxPageLimit})
		if err != nil {
			return nil, fmt.Errorf("list agents of tenant %s: %w", tenantID, err)
		}
		for _, row := range page.Items {
			if !seen[row.InstanceUID] {
				out = append(out, s.remoteView(sn, row))
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return out, nil
}

// remoteView is the view of an agent connected to another server.
func (s *Server) remoteView(sn *snapshot, row *store.Agent) *agentView {
	v := &agentView{
		uid: row.InstanceUID, host: row.HostName, labels: row.Labels, version: row.AgentVersion, caps: row.Capabilities,
		healthKnown: row.Health != nil, healthy: row.Healthy,
		reportedHash: row.RemoteConfigHash, status: strings.ToLower(row.RemoteConfigStatus), message: row.RemoteConfigMessage,
		seenAt: row.LastSeenAt,
	}
	dep, exps := sn.assign(row.HostName, row.Labels)
	if dep != nil {
		v.deployment = dep.d.ID
	}
	t := s.templateOf(sn, dep, exps)
	v.experiments = t.exps
	body, err := s.render(t, row.HostName)
	if err != nil {
		v.desiredErr = "compose configuration: " + err.Error()
	} else {
		v.desiredHash = hex.EncodeToString(configHash(body, s.phoenixYAML))
	}
	return v
}

// Agent is the live state of an agent connected to this server.
type Agent struct {
	// TenantID is the agent's tenant (its enrollment token's).
	TenantID string
	// InstanceUID is the OpAMP instance UID.
	InstanceUID string
	// HostName is the agent's host.name attribute.
	HostName string
	// Labels are the token's labels and the agent's attributes.
	Labels map[string]string
	// Version is the agent's service.version attribute.
	Version string
	// Capabilities is the OpAMP capability bit set.
	Capabilities uint64
	// Transport is TransportWebSocket or TransportHTTP.
	Transport string
	// Healthy is the reported health; true when the agent reports none.
	Healthy bool
	// RemoteConfigHash is the hex hash of the configuration the agent last
	// reported on, with RemoteConfigStatus and RemoteConfigMessage.
	RemoteConfigHash    string
	RemoteConfigStatus  string
	RemoteConfigMessage string
	// DesiredConfigHash is the hex hash of the configuration it should
	// run; empty when that cannot be composed (see DesiredError).
	DesiredConfigHash string
	// DesiredError explains why the configuration cannot be composed.
	DesiredError string
	// DeploymentID is the deployment whose pipeline is its active one;
	// empty for the baseline pipeline.
	DeploymentID string
	// Experiments are the experiments it runs.
	Experiments []string
	// LastSeenAt is when it was last heard from.
	LastSeenAt time.Time
}

func (v *agentView) public(tenantID string) Agent {
	return Agent{
		TenantID: tenantID, InstanceUID: v.uid, HostName: v.host, Labels: maps.Clone(v.labels), Version: v.version,
		Capabilities: v.caps, Transport: v.transport, Healthy: v.healthy || !v.healthKnown,
		RemoteConfigHash: v.reportedHash, RemoteConfigStatus: v.status, RemoteConfigMessage: v.message,
		DesiredConfigHash: v.desiredHash, DesiredError: v.desiredErr, DeploymentID: v.deployment,
		Experiments: slices.Clone(v.experiments), LastSeenAt: v.seenAt,
	}
}

// Agents returns the tenant's agents connected to this server, by host
// name then instance UID, as of their last reconcile.
func (s *Server) Agents(tenantID string) []Agent {
	var out []Agent
	for _, a := range s.localAgents(tenantID) {
		a.mu.Lock()
		v := agentView{
			uid: a.uid, host: a.host, labels: a.labels, version: a.version, caps: a.caps, transport: a.transport,
			healthKnown: a.healthKnown, healthy: a.healthy,
			reportedHash: hex.EncodeToString(a.reportedHash), status: a.rcStatus, message: a.rcMessage,
			desiredHash: hex.EncodeToString(a.desiredHash), desiredErr: a.desiredErr,
			deployment: a.deployment, experiments: a.experiments, seenAt: a.seenAt,
		}
		a.mu.Unlock()
		out = append(out, v.public(tenantID))
	}
	slices.SortFunc(out, func(x, y Agent) int {
		return cmp.Or(strings.Compare(x.HostName, y.HostName), strings.Compare(x.InstanceUID, y.InstanceUID))
	})
	return out
}

// Summary counts a tenant's agents connected to this server by where
// their desired configuration stands.
type Summary struct {
	// Connected is every connected agent.
	Connected int
	// Applied agents report the desired configuration applied.
	Applied int
	// Applying agents were sent it or report applying it.
	Applying int
	// Failed agents reported failing it, or it cannot be composed.
	Failed int
	// Pending agents have not been sent it yet (or cannot take remote
	// configuration).
	Pending int
}

// Summary counts the tenant's agents connected to this server.
func (s *Server) Summary(tenantID string) Summary {
	var sum Summary
	for _, a := range s.localAgents(tenantID) {
		a.mu.Lock()
		sum.Connected++
		switch {
		case a.desiredErr != "" || (a.desiredHash != nil && string(a.reportedHash) == string(a.desiredHash) && a.rcStatus == StatusFailed):
			sum.Failed++
		case a.applied():
			sum.Applied++
		case a.desiredHash != nil && (string(a.sentHash) == string(a.desiredHash) || a.rcStatus == StatusApplying):
			sum.Applying++
		default:
			sum.Pending++
		}
		a.mu.Unlock()
	}
	return sum
}

// HostStatus is what one host runs (PRD FR-DI-04): its agents, the
// deployment whose pipeline is active there, and its experiments.
type HostStatus struct {
	// Host is the host name.
	Host string
	// Agents are the host's connected agents; empty when none is.
	Agents []Agent
	// DeploymentID is the deployment active on the host; empty when none
	// is, and the host runs the baseline pipeline.
	DeploymentID string
	// Pipeline is the name of the active pipeline (a catalog or user
	// pipeline).
	Pipeline string
	// Experiments are the experiments running on the host.
	Experiments []string
}

// Status returns what the host runs. For a host with no connected agent
// it answers from the labels its agents last reported; a host never seen
// is NOT_FOUND.
func (s *Server) Status(ctx context.Context, tenantID, host string) (*HostStatus, error) {
	sn, err := s.snapshot(ctx, tenantID, false)
	if err != nil {
		return nil, fmt.Errorf("status of host %s: %w", host, err)
	}
	views, err := s.view(ctx, tenantID, sn)
	if err != nil {
		return nil, fmt.Errorf("status of host %s: %w", host, err)
	}
	var mine []*agentView
	for _, v := range views {
		if v.host == host {
			mine = append(mine, v)
		}
	}
	if len(mine) > 0 {
		return hostStatus(tenantID, sn, host, mine), nil
	}
	page, err := s.st.AgentList(ctx, &store.AgentListParams{TenantID: tenantID, HostName: host, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("status of host %s: %w", host, err)
	}
	if len(page.Items) == 0 {
		return nil, apierror.NotFound("host", host)
	}
	out := hostStatus(tenantID, sn, host, nil)
	dep, exps := sn.assign(host, page.Items[0].Labels)
	out.DeploymentID, out.Pipeline, out.Experiments = deploymentOf(dep, exps)
	return out, nil
}

// Hosts returns what every host with a connected agent runs, by host
// name: the console's fleet table.
func (s *Server) Hosts(ctx context.Context, tenantID string) ([]HostStatus, error) {
	sn, err := s.snapshot(ctx, tenantID, false)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	views, err := s.view(ctx, tenantID, sn)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	byHost := map[string][]*agentView{}
	for _, v := range views {
		byHost[v.host] = append(byHost[v.host], v)
	}
	out := make([]HostStatus, 0, len(byHost))
	for _, h := range slices.Sorted(maps.Keys(byHost)) {
		out = append(out, *hostStatus(tenantID, sn, h, byHost[h]))
	}
	return out, nil
}

// hostStatus assembles a host's status from its connected agents.
func hostStatus(tenantID string, sn *snapshot, host string, agents []*agentView) *HostStatus {
	out := &HostStatus{Host: host, Pipeline: pipeline.BaselinePipeline}
	for _, v := range agents {
		out.Agents = append(out.Agents, v.public(tenantID))
	}
	slices.SortFunc(out.Agents, func(x, y Agent) int { return strings.Compare(x.InstanceUID, y.InstanceUID) })
	if len(agents) > 0 {
		dep, exps := sn.assign(host, agents[0].labels)
		out.DeploymentID, out.Pipeline, out.Experiments = deploymentOf(dep, exps)
	}
	return out
}

// deploymentOf names an assignment's deployment, pipeline and experiments.
func deploymentOf(dep *deploymentEntry, exps []*experimentEntry) (string, string, []string) {
	id, name := "", pipeline.BaselinePipeline
	if dep != nil {
		id, name = dep.d.ID, dep.d.PipelineRef
	}
	var ids []string
	for _, e := range exps {
		ids = append(ids, e.id)
	}
	return id, name, ids
}
