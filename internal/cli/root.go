// Package cli holds the phoenix command tree: each command parses its flags,
// calls into Phoenix, and renders the result.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/phoenix/platform/collector"
	"github.com/phoenix/platform/internal/version"
)

// NewRoot returns the phoenix root command with every subcommand attached.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "phoenix",
		Short:         "Phoenix A/B tests OpenTelemetry Collector pipelines for host and process metrics",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(collector.NewCommand(version.Version))
	root.AddCommand(newServerCommand())
	root.AddCommand(newDevCommand())
	root.AddCommand(newLoginCommand())
	root.AddCommand(newExperimentCommand())
	root.AddCommand(newPipelineCommand())
	root.AddCommand(newDeploymentCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newAPIKeyCommand())
	root.AddCommand(newTokenCommand())
	root.AddCommand(newLoadsimCommand())
	return root
}
