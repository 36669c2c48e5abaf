package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
)

func newPipelineStatusCommand() *cobra.Command {
	var (
		selector []string
		host     string
	)
	cmd := &cobra.Command{
		Use:   "status [--selector KEY=VALUE]... [--host HOST]",
		Short: "Show what each host runs and sends: active pipeline, rollout status, series, reduction, critical processes, agent CPU and memory",
		Long: `Show the fleet table: for every host with a connected agent, the active
pipeline (and the deployment that made it active), whether its agents run
the configuration they should, and the latest measurements of the active
pipeline: input processes, input and output series, the reduction,
critical processes retained, and the agent's CPU and memory.

Deployments themselves are listed by phoenix deployment list.`,
		Args:              usageArgs(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringArrayVar(&selector, "selector", nil, "only hosts whose agent labels include KEY=VALUE (repeatable)")
	f.StringVar(&host, "host", "", "only this host")
	_ = cmd.RegisterFlagCompletionFunc("host", completeHosts)
	cmd.RunE = runE(func(a *app, _ []string) error {
		sel, err := parsePairs("selector", selector)
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		out := api.HostList{Items: []api.Host{}}
		if host != "" {
			h, err := c.HostGet(a.ctx, host)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, *h)
		} else {
			all, err := c.HostList(a.ctx)
			if err != nil {
				return err
			}
			out.Items = all.Items
		}
		kept := out.Items[:0]
		for _, h := range out.Items {
			if selectorIncludes(h.Labels, sel) {
				kept = append(kept, h)
			}
		}
		out.Items = kept
		return a.render(out, func(w io.Writer) error { return hostTable(w, out.Items) })
	})
	return cmd
}

// hostTable writes the fleet table, and under it the reason of each host
// whose agents failed their configuration.
func hostTable(w io.Writer, hosts []api.Host) error {
	if len(hosts) == 0 {
		_, err := fmt.Fprintln(w, "No hosts with a connected agent.")
		return err
	}
	tw := newTable(w)
	row(tw, "HOST", "PIPELINE", "STATUS", "PROCESSES", "IN SERIES", "OUT SERIES", "REDUCTION", "CRITICAL", "AGENT CPU", "AGENT MEM", "EXPERIMENTS")
	for _, h := range hosts {
		fig := h.Figures
		if fig == nil {
			fig = &api.HostFigures{}
		}
		critical := "-"
		if fig.CriticalExpected != nil && fig.CriticalRetained != nil {
			critical = fmt.Sprintf("%.0f/%.0f", *fig.CriticalRetained, *fig.CriticalExpected)
		}
		reduction := "-"
		if fig.ReductionPercent != nil {
			reduction = fmtPct(*fig.ReductionPercent / 100)
		}
		cpu := "-"
		if fig.AgentCPUCores != nil {
			cpu = fmtPct(*fig.AgentCPUCores)
		}
		mem := "-"
		if fig.AgentMemoryBytes != nil {
			mem = fmtBytes(*fig.AgentMemoryBytes)
		}
		row(tw, h.Host, h.Pipeline, h.Status, optNum(fig.InputProcesses), optNum(fig.InputSeries), optNum(fig.OutputSeries),
			reduction, critical, cpu, mem, dash(strings.Join(h.Experiments, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Message != "" {
			if _, err := fmt.Fprintf(w, "\n%s: %s\n", h.Host, h.Message); err != nil {
				return err
			}
		}
	}
	return nil
}

func optNum(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmtNum(*f)
}

// fmtBytes formats a byte count in binary units.
func fmtBytes(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTP"[exp])
}

func newPipelineGetConfigCommand() *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "get-config --host HOST",
		Short: "Print the collector configuration the fleet computes for a host",
		Long: `Print the OpenTelemetry Collector configuration the fleet wants HOST's
agents to run: the active pipeline and every running experiment's variants,
fed from one scrape. Plain output is the YAML itself, ready for
phoenix collector --config; --output json|yaml wraps it with the active
pipeline, the experiments and the hash agents report once they run it.`,
		Args:              usageArgs(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVar(&host, "host", "", "the host name (required)")
	_ = cmd.RegisterFlagCompletionFunc("host", completeHosts)
	cmd.RunE = runE(func(a *app, _ []string) error {
		if host == "" {
			return &UsageError{Err: fmt.Errorf("--host HOST is required")}
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		hc, err := c.HostConfig(a.ctx, host)
		if err != nil {
			return err
		}
		return a.render(hc, func(w io.Writer) error {
			_, err := io.WriteString(w, hc.Config)
			return err
		})
	})
	return cmd
}

// completeHosts lists the hosts with a connected agent, described by their
// active pipeline.
var completeHosts = completeFromServer(func(ctx context.Context, c *client.Client, prefix string) ([]cobra.Completion, error) {
	hosts, err := c.HostList(ctx)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, h := range hosts.Items {
		if strings.HasPrefix(h.Host, prefix) {
			out = append(out, cobra.CompletionWithDesc(h.Host, h.Pipeline))
		}
		if len(out) >= completionLimit {
			break
		}
	}
	return out, nil
})
