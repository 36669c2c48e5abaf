package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/server"
)

func newServerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Phoenix control plane (REST API, experiment controller)",
		Long: `Run the Phoenix control plane.

Settings come from --config FILE (YAML), PHOENIX_* environment variables and
flags, flags winning. With no database_url the store is SQLite under data_dir.
On the first start of an empty store an admin API key is printed once.`,
		Args: cobra.NoArgs,
	}
	apply := server.BindFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		path, _ := cmd.Flags().GetString("config")
		cfg, err := server.Load(path, os.Environ(), apply)
		if err != nil {
			return &UsageError{Err: err}
		}
		srv, err := server.New(cmd.Context(), cfg, server.Options{LogOutput: cmd.ErrOrStderr()})
		if err != nil {
			return err
		}
		printBootstrap(cmd, srv)
		return srv.Serve(cmd.Context())
	}
	return cmd
}

// printBootstrap shows the first admin key, the only time it is visible.
func printBootstrap(cmd *cobra.Command, srv *server.Server) {
	if srv.BootstrapKey == "" {
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), `
  Phoenix created the first admin API key. It is shown only this once:

      %s

  Use it with:  export PHOENIX_API_KEY=%s
                phoenix login --server http://%s

`, srv.BootstrapKey, srv.BootstrapKey, srv.Addr())
}
