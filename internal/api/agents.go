package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// Agent is an enrolled agent as the fleet last saw it.
type Agent struct {
	InstanceUID         string            `json:"instance_uid"`
	HostName            string            `json:"host_name"`
	Labels              map[string]string `json:"labels"`
	Version             string            `json:"version,omitempty"`
	Capabilities        uint64            `json:"capabilities"`
	Healthy             bool              `json:"healthy"`
	Health              json.RawMessage   `json:"health,omitempty"`
	EffectiveConfigHash string            `json:"effective_config_hash,omitempty"`
	RemoteConfigHash    string            `json:"remote_config_hash,omitempty"`
	RemoteConfigStatus  string            `json:"remote_config_status,omitempty"`
	RemoteConfigMessage string            `json:"remote_config_message,omitempty"`
	Connected           bool              `json:"connected"`
	LastSeenAt          time.Time         `json:"last_seen_at"`
	CreatedAt           time.Time         `json:"created_at"`
}

// AgentList is a page of agents.
type AgentList struct {
	Items      []Agent `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func (a *API) agentRoutes() []*route {
	const res = "agents"
	return []*route{
		{Method: "GET", Path: "/api/v1/agents", Summary: "List enrolled agents", Tag: res, Resource: res, Action: "read",
			Response: AgentList{}, Query: []string{"connected", "host", "cursor", "limit"}, Handle: a.agentList},
		{Method: "GET", Path: "/api/v1/agents/{id}", Summary: "Get an agent by instance UID", Tag: res, Resource: res, Action: "read",
			Response: Agent{}, Handle: a.agentGet},
	}
}

func agentOut(g *store.Agent) Agent {
	return Agent{InstanceUID: g.InstanceUID, HostName: g.HostName, Labels: g.Labels, Version: g.AgentVersion,
		Capabilities: g.Capabilities, Healthy: g.Healthy, Health: g.Health, EffectiveConfigHash: g.EffectiveConfigHash,
		RemoteConfigHash: g.RemoteConfigHash, RemoteConfigStatus: g.RemoteConfigStatus, RemoteConfigMessage: g.RemoteConfigMessage,
		Connected: g.Connected, LastSeenAt: g.LastSeenAt, CreatedAt: g.CreatedAt}
}

func (a *API) agentList(c *call) (any, error) {
	limit, err := c.limit()
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	p := &store.AgentListParams{TenantID: c.tenant(), HostName: q.Get("host"), Cursor: q.Get("cursor"), Limit: limit}
	if s := q.Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, apierror.Validation(apierror.FieldError{Field: "connected", Message: "must be true or false"})
		}
		p.Connected = &b
	}
	page, err := a.deps.Store.AgentList(c.r.Context(), p)
	if err != nil {
		return nil, err
	}
	out := AgentList{Items: make([]Agent, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, g := range page.Items {
		out.Items = append(out.Items, agentOut(g))
	}
	return out, nil
}

func (a *API) agentGet(c *call) (any, error) {
	id := c.r.PathValue("id")
	g, err := a.deps.Store.AgentGet(c.r.Context(), c.tenant(), id)
	if err != nil {
		return nil, notFoundAs(err, "agent", id)
	}
	return agentOut(g), nil
}
