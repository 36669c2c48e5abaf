package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/client"
)

// completionTimeout bounds the server calls of one shell completion.
const completionTimeout = 3 * time.Second

// completionLimit bounds the candidates one completion lists.
const completionLimit = 200

// completeFromServer completes the first argument with candidates that
// list asks the configured server for; without a server, or on an error,
// it offers nothing (and no file names).
func completeFromServer(list func(ctx context.Context, c *client.Client, toComplete string) ([]cobra.Completion, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		a, err := newApp(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := a.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(a.ctx, completionTimeout)
		defer cancel()
		out, err := list(ctx, c, toComplete)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeExperiments lists experiment IDs, described by name and state.
var completeExperiments = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	var out []cobra.Completion
	for e, err := range c.ExperimentAll(ctx, client.ExperimentListParams{Limit: completionLimit}) {
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(e.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(e.ID, e.Name+" ("+e.State+")"))
		}
		if len(out) >= completionLimit {
			break
		}
	}
	return out, nil
})

// completeDeployments lists deployment IDs, described by pipeline and
// selector.
var completeDeployments = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	var out []cobra.Completion
	for d, err := range c.DeploymentAll(ctx, client.DeploymentListParams{Limit: completionLimit}) {
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(d.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(d.ID, d.Pipeline.Name+" "+fmtMap(d.Selector)+" ("+d.State+")"))
		}
		if len(out) >= completionLimit {
			break
		}
	}
	return out, nil
})

// completeAgents lists agent instance UIDs, described by host name.
var completeAgents = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	var out []cobra.Completion
	for g, err := range c.AgentAll(ctx, client.AgentListParams{Limit: completionLimit}) {
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(g.InstanceUID, prefix) {
			out = append(out, cobra.CompletionWithDesc(g.InstanceUID, g.HostName))
		}
		if len(out) >= completionLimit {
			break
		}
	}
	return out, nil
})

// completePipelines lists catalog pipeline names and the tenant's own.
var completePipelines = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	cat, err := c.CatalogList(ctx)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, t := range cat.Items {
		if strings.HasPrefix(t.Name, prefix) {
			out = append(out, cobra.CompletionWithDesc(t.Name, "catalog: "+t.Strategy))
		}
	}
	for p, err := range c.PipelineAll(ctx, client.PipelineListParams{NamePrefix: prefix, Limit: completionLimit}) {
		if err != nil {
			return nil, err
		}
		out = append(out, cobra.CompletionWithDesc(p.Name, "user pipeline"))
		if len(out) >= completionLimit {
			break
		}
	}
	return out, nil
})

// completeAPIKeys lists the IDs of API keys that are not revoked.
var completeAPIKeys = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	keys, err := c.APIKeyList(ctx)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, k := range keys.Items {
		if k.RevokedAt == nil && strings.HasPrefix(k.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(k.ID, k.Name+" ("+k.Role+")"))
		}
	}
	return out, nil
})

// completeTokens lists the IDs of enrollment tokens that are not revoked.
var completeTokens = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	toks, err := c.TokenList(ctx)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, t := range toks.Items {
		if t.RevokedAt == nil && strings.HasPrefix(t.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(t.ID, t.Name))
		}
	}
	return out, nil
})
