// Package cli holds the phoenix command tree: each command parses its flags,
// calls into Phoenix, and renders the result.
package cli

import (
	"fmt"

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
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Phoenix version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "phoenix %s\n", version.Version)
			return err
		},
	}
}
