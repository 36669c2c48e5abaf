package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/agent"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
)

// newAgentCommand is `phoenix agent`: run without a subcommand it runs the
// agent of this host; `agent list` and `agent show` inspect the agents
// enrolled with the server. The subcommands carry their own client flags
// (not persistent ones), so they do not clash with the agent's --server.
func newAgentCommand() *cobra.Command {
	cmd := agent.NewCommand()
	cmd.Args = cobra.NoArgs
	cmd.AddCommand(newAgentListCommand(), newAgentShowCommand())
	return cmd
}

func newAgentListCommand() *cobra.Command {
	var (
		host      string
		connected string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List enrolled agents: host, health, connection and applied configuration",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	addClientFlags(cmd.Flags())
	registerOutputCompletion(cmd)
	cmd.Flags().StringVar(&host, "host", "", "only the agents of this host name")
	cmd.Flags().StringVar(&connected, "connected", "", "only agents that are connected (true) or not (false)")
	cmd.RunE = runE(func(a *app, _ []string) error {
		p := client.AgentListParams{Host: host, Limit: 500}
		switch strings.ToLower(connected) {
		case "":
		case "true", "yes":
			t := true
			p.Connected = &t
		case "false", "no":
			f := false
			p.Connected = &f
		default:
			return &UsageError{Err: fmt.Errorf("--connected %q: must be true or false", connected)}
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		out := api.AgentList{Items: []api.Agent{}}
		for g, err := range c.AgentAll(a.ctx, p) {
			if err != nil {
				return err
			}
			out.Items = append(out.Items, g)
		}
		return a.render(out, func(w io.Writer) error {
			if len(out.Items) == 0 {
				_, err := fmt.Fprintln(w, "No agents. Enroll one with a token from: phoenix token create --name NAME")
				return err
			}
			tw := newTable(w)
			row(tw, "INSTANCE", "HOST", "CONNECTED", "HEALTHY", "CONFIG", "VERSION", "LAST SEEN")
			for _, g := range out.Items {
				row(tw, g.InstanceUID, g.HostName, yesNo(g.Connected), yesNo(g.Healthy), dash(g.RemoteConfigStatus), dash(g.Version), fmtTime(g.LastSeenAt))
			}
			return tw.Flush()
		})
	})
	return cmd
}

func newAgentShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show INSTANCE_UID",
		Short:             "Show an agent: labels, health and the configuration it runs",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeAgents,
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	addClientFlags(cmd.Flags())
	registerOutputCompletion(cmd)
	cmd.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		g, err := c.AgentGet(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(g, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "Instance:", g.InstanceUID)
			row(tw, "Host:", g.HostName)
			row(tw, "Labels:", dash(fmtMap(g.Labels)))
			row(tw, "Version:", dash(g.Version))
			row(tw, "Connected:", yesNo(g.Connected))
			row(tw, "Healthy:", yesNo(g.Healthy))
			row(tw, "Config status:", dash(g.RemoteConfigStatus))
			if g.RemoteConfigMessage != "" {
				row(tw, "Config message:", g.RemoteConfigMessage)
			}
			row(tw, "Remote config:", dash(g.RemoteConfigHash))
			row(tw, "Effective config:", dash(g.EffectiveConfigHash))
			row(tw, "Capabilities:", fmt.Sprintf("%#x", g.Capabilities))
			row(tw, "Last seen:", fmtTime(g.LastSeenAt))
			row(tw, "Enrolled:", fmtTime(g.CreatedAt))
			return tw.Flush()
		})
	})
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
