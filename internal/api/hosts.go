package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/fleet"
)

// Host is what one host runs and sends (PRD FR-DI-04): the console's and
// `phoenix pipeline status`'s fleet table.
type Host struct {
	Host string `json:"host"`
	// Labels are the labels of the host's agents (its first agent's when
	// they differ), which deployment selectors match.
	Labels map[string]string `json:"labels"`
	// Pipeline is the active pipeline; DeploymentID the deployment that
	// made it active (empty: the baseline pipeline, no deployment).
	Pipeline     string `json:"pipeline"`
	DeploymentID string `json:"deployment_id,omitempty"`
	// Experiments are the experiments running on the host.
	Experiments []string `json:"experiments"`
	// Status sums up the agents' configuration: applied, applying,
	// pending, failed, or disconnected when no agent is connected.
	Status string `json:"status"`
	// Message is the failed agent's reason, when Status is failed.
	Message string      `json:"message,omitempty"`
	Agents  []HostAgent `json:"agents"`
	// Figures are the active pipeline's latest measurements; absent when
	// no measurements source is configured or none has arrived.
	Figures *HostFigures `json:"figures,omitempty"`
}

// HostAgent is one agent of a host.
type HostAgent struct {
	InstanceUID         string    `json:"instance_uid"`
	Version             string    `json:"version,omitempty"`
	Healthy             bool      `json:"healthy"`
	RemoteConfigStatus  string    `json:"remote_config_status,omitempty"`
	RemoteConfigMessage string    `json:"remote_config_message,omitempty"`
	RemoteConfigHash    string    `json:"remote_config_hash,omitempty"`
	DesiredConfigHash   string    `json:"desired_config_hash,omitempty"`
	LastSeenAt          time.Time `json:"last_seen_at"`
}

// HostFigures are the latest measurements of a host's active pipeline
// and of its agent. A figure is null when it has not been measured.
type HostFigures struct {
	// InputProcesses is the number of processes the pipeline receives.
	InputProcesses *float64 `json:"input_processes"`
	// InputSeries and OutputSeries are the active series before and after
	// the pipeline's processors.
	InputSeries  *float64 `json:"input_series"`
	OutputSeries *float64 `json:"output_series"`
	// ReductionPercent is 100 × (1 − output/input series).
	ReductionPercent *float64 `json:"reduction_percent"`
	// CriticalExpected and CriticalRetained count the critical processes
	// in the pipeline's input and in its output.
	CriticalExpected *float64 `json:"critical_expected"`
	CriticalRetained *float64 `json:"critical_retained"`
	// AgentCPUCores is the agent's CPU use in cores (1 = one full core);
	// AgentMemoryBytes its resident memory.
	AgentCPUCores    *float64 `json:"agent_cpu_cores"`
	AgentMemoryBytes *float64 `json:"agent_memory_bytes"`
}

// HostList is every host with a connected agent.
type HostList struct {
	Items []Host `json:"items"`
}

// HostConfig is the collector configuration the fleet computes for a host.
type HostConfig struct {
	Host         string   `json:"host"`
	Pipeline     string   `json:"pipeline"`
	DeploymentID string   `json:"deployment_id,omitempty"`
	Experiments  []string `json:"experiments"`
	// Hash is what the host's agents report as remote_config_hash once
	// they run it.
	Hash string `json:"hash"`
	// Config is the collector configuration, YAML.
	Config string `json:"config"`
}

func (a *API) hostRoutes() []*route {
	const res = "agents"
	return []*route{
		{Method: "GET", Path: "/api/v1/hosts", Summary: "List the hosts with a connected agent: active pipeline, status and latest figures",
			Tag: "hosts", Resource: res, Action: "read", Response: HostList{}, Handle: a.hostList},
		{Method: "GET", Path: "/api/v1/hosts/{host}", Summary: "Get what a host runs and sends",
			Tag: "hosts", Resource: res, Action: "read", Response: Host{}, Handle: a.hostGet},
		{Method: "GET", Path: "/api/v1/hosts/{host}/config", Summary: "Get the collector configuration the fleet computes for a host",
			Tag: "hosts", Resource: res, Action: "read", Response: HostConfig{}, Handle: a.hostConfig},
	}
}

func (a *API) fleetOrUnavailable() (Fleet, error) {
	if a.deps.Fleet == nil {
		return nil, apierror.New(apierror.CodeUnavailable, "this server runs no fleet")
	}
	return a.deps.Fleet, nil
}

func (a *API) hostList(c *call) (any, error) {
	f, err := a.fleetOrUnavailable()
	if err != nil {
		return nil, err
	}
	hosts, err := f.Hosts(c.r.Context(), c.tenant())
	if err != nil {
		return nil, err
	}
	out := HostList{Items: make([]Host, 0, len(hosts))}
	for i := range hosts {
		out.Items = append(out.Items, hostOut(&hosts[i]))
	}
	figs := a.hostFigures(c.r.Context(), c.tenant(), "")
	for i := range out.Items {
		out.Items[i].Figures = figs[out.Items[i].Host]
	}
	return out, nil
}

func (a *API) hostGet(c *call) (any, error) {
	host, f, err := a.hostAndFleet(c)
	if err != nil {
		return nil, err
	}
	st, err := f.Status(c.r.Context(), c.tenant(), host)
	if err != nil {
		return nil, err
	}
	out := hostOut(st)
	out.Figures = a.hostFigures(c.r.Context(), c.tenant(), host)[host]
	return out, nil
}

func (a *API) hostConfig(c *call) (any, error) {
	host, f, err := a.hostAndFleet(c)
	if err != nil {
		return nil, err
	}
	hc, err := f.HostConfig(c.r.Context(), c.tenant(), host)
	if err != nil {
		return nil, err
	}
	return HostConfig{Host: hc.Host, Pipeline: hc.Pipeline, DeploymentID: hc.DeploymentID,
		Experiments: nonNil(hc.Experiments), Hash: hc.Hash, Config: string(hc.Collector)}, nil
}

// hostAndFleet returns the call's {host} and the fleet that answers for it.
func (a *API) hostAndFleet(c *call) (string, Fleet, error) {
	host, err := hostParam(c.r)
	if err != nil {
		return "", nil, err
	}
	f, err := a.fleetOrUnavailable()
	return host, f, err
}

// maxHostName bounds a host name in a path (DNS names are at most 253).
const maxHostName = 253

func hostParam(r *http.Request) (string, error) {
	host := r.PathValue("host")
	if host == "" || len(host) > maxHostName {
		return "", apierror.Validation(apierror.FieldError{Field: "host", Message: fmt.Sprintf("must be 1 to %d characters", maxHostName)})
	}
	return host, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hostOut sums up a host's agents into one status.
func hostOut(st *fleet.HostStatus) Host {
	out := Host{Host: st.Host, Pipeline: st.Pipeline, DeploymentID: st.DeploymentID,
		Experiments: nonNil(st.Experiments), Agents: make([]HostAgent, 0, len(st.Agents)), Labels: map[string]string{}}
	if len(st.Agents) > 0 && st.Agents[0].Labels != nil {
		out.Labels = st.Agents[0].Labels
	}
	status := ""
	for _, g := range st.Agents {
		out.Agents = append(out.Agents, HostAgent{InstanceUID: g.InstanceUID, Version: g.Version, Healthy: g.Healthy,
			RemoteConfigStatus: g.RemoteConfigStatus, RemoteConfigMessage: g.RemoteConfigMessage,
			RemoteConfigHash: g.RemoteConfigHash, DesiredConfigHash: g.DesiredConfigHash, LastSeenAt: g.LastSeenAt})
		s, msg := agentState(g)
		if rank(s) > rank(status) {
			status, out.Message = s, msg
		}
	}
	if status == "" {
		status = "disconnected"
	}
	out.Status = status
	return out
}

// agentState is where one agent's desired configuration stands.
func agentState(g fleet.Agent) (string, string) {
	switch {
	case g.DesiredError != "":
		return fleet.StatusFailed, g.DesiredError
	case g.DesiredConfigHash != "" && g.RemoteConfigHash == g.DesiredConfigHash && g.RemoteConfigStatus == fleet.StatusFailed:
		return fleet.StatusFailed, g.RemoteConfigMessage
	case g.DesiredConfigHash != "" && g.RemoteConfigHash == g.DesiredConfigHash && g.RemoteConfigStatus == fleet.StatusApplied:
		return fleet.StatusApplied, ""
	case g.RemoteConfigStatus == fleet.StatusApplying:
		return fleet.StatusApplying, ""
	default:
		return fleet.StatusPending, ""
	}
}

// rank orders states so that a host shows its worst agent's.
func rank(s string) int {
	switch s {
	case fleet.StatusApplied:
		return 1
	case fleet.StatusApplying:
		return 2
	case fleet.StatusPending:
		return 3
	case fleet.StatusFailed:
		return 4
	}
	return 0
}

// hostFigures reads the latest figures of the tenant's hosts' active
// pipelines (of one host when host is set). Figures are best effort: a
// failing measurements source leaves them out and is logged, so the fleet
// table still answers.
func (a *API) hostFigures(ctx context.Context, tenantID, host string) map[string]*HostFigures {
	src := a.deps.Measurements
	if src == nil {
		return nil
	}
	sel := `tenant=` + strconv.Quote(tenantID)
	if host != "" {
		sel += `, host=` + strconv.Quote(host)
	}
	active := sel + `, variant="active", experiment=""`
	window := promDuration(a.deps.RateWindow)
	queries := []struct {
		q   string
		set func(f *HostFigures, v float64)
	}{
		{`sum by (host) (phoenix_pipeline_input_processes{` + active + `})`, func(f *HostFigures, v float64) { f.InputProcesses = &v }},
		{`sum by (host) (phoenix_pipeline_input_series{` + active + `})`, func(f *HostFigures, v float64) { f.InputSeries = &v }},
		{`sum by (host) (phoenix_pipeline_output_series{` + active + `})`, func(f *HostFigures, v float64) { f.OutputSeries = &v }},
		{`sum by (host) (phoenix_pipeline_critical_expected{` + active + `})`, func(f *HostFigures, v float64) { f.CriticalExpected = &v }},
		{`sum by (host) (phoenix_pipeline_critical_retained{` + active + `})`, func(f *HostFigures, v float64) { f.CriticalRetained = &v }},
		{`sum by (host) (rate(phoenix_agent_cpu_seconds_total{` + sel + `}[` + window + `]))`, func(f *HostFigures, v float64) { f.AgentCPUCores = &v }},
		{`sum by (host) (phoenix_agent_memory_bytes{` + sel + `})`, func(f *HostFigures, v float64) { f.AgentMemoryBytes = &v }},
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := a.now()
	out := map[string]*HostFigures{}
	for _, q := range queries {
		series, err := src.Query(ctx, q.q, now)
		if err != nil {
			a.log.WarnContext(ctx, "read host figures", "query", q.q, "err", err)
			return out
		}
		for _, s := range series {
			h := s.Labels["host"]
			if h == "" || len(s.Samples) == 0 {
				continue
			}
			f := out[h]
			if f == nil {
				f = &HostFigures{}
				out[h] = f
			}
			q.set(f, s.Samples[len(s.Samples)-1].V)
		}
	}
	for _, f := range out {
		if f.InputSeries != nil && f.OutputSeries != nil && *f.InputSeries > 0 {
			r := 100 * (1 - *f.OutputSeries / *f.InputSeries)
			f.ReductionPercent = &r
		}
	}
	return out
}

// promDuration writes d as a PromQL duration in whole seconds (one minute
// when d is under a second).
func promDuration(d time.Duration) string {
	if d < time.Second {
		d = time.Minute
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
