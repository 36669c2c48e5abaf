package fleet

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// HostConfig is the configuration the fleet wants a host's agents to run:
// the composed collector configuration (the active pipeline plus every
// running experiment's variants, from one scrape) and its hash, which an
// agent reports back once it has applied it.
type HostConfig struct {
	// Host is the host name.
	Host string
	// DeploymentID is the deployment whose pipeline is active; empty when
	// the host runs the baseline pipeline.
	DeploymentID string
	// Pipeline names the active pipeline.
	Pipeline string
	// Experiments are the running experiments whose variants the
	// configuration carries.
	Experiments []string
	// Hash is the hex SHA-256 of the remote configuration, as the agents'
	// remote_config_hash reports it once applied.
	Hash string
	// Collector is the collector configuration, YAML.
	Collector []byte
}

// HostConfig returns the configuration the fleet computes for host from
// the labels its agents report (or last reported). A host never seen is
// NOT_FOUND; a configuration that cannot be composed is the composition
// error.
func (s *Server) HostConfig(ctx context.Context, tenantID, host string) (*HostConfig, error) {
	sn, err := s.snapshot(ctx, tenantID, false)
	if err != nil {
		return nil, fmt.Errorf("configuration of host %s: %w", host, err)
	}
	labels, ok := s.hostLabels(tenantID, host)
	if !ok {
		page, err := s.st.AgentList(ctx, &store.AgentListParams{TenantID: tenantID, HostName: host, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("configuration of host %s: %w", host, err)
		}
		if len(page.Items) == 0 {
			return nil, apierror.NotFound("host", host)
		}
		labels = page.Items[0].Labels
	}
	dep, exps := sn.assign(host, labels)
	out := &HostConfig{Host: host}
	out.DeploymentID, out.Pipeline, out.Experiments = deploymentOf(dep, exps)
	body, err := s.render(s.templateOf(sn, dep, exps), host)
	if err != nil {
		return nil, apierror.New(apierror.CodeConflict, "the configuration of host %s cannot be composed: %v", host, err).
			WithDetail("host", host)
	}
	out.Collector = body
	out.Hash = hex.EncodeToString(configHash(body, s.phoenixYAML))
	return out, nil
}

// hostLabels returns the labels of a connected agent of host on this
// server.
func (s *Server) hostLabels(tenantID, host string) (map[string]string, bool) {
	for _, a := range s.localAgents(tenantID) {
		a.mu.Lock()
		h, labels, ok := a.host, a.labels, a.connected && a.described
		a.mu.Unlock()
		if ok && h == host {
			return labels, true
		}
	}
	return nil, false
}
