package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/server"
)

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the server and an agent for this host in one process (embedded defaults)",
		Long: `Run Phoenix on this machine with nothing outside: the control plane,
an agent for this host, SQLite and the embedded measurement store under
./.phoenix, the API on 127.0.0.1:8080. The first start prints an admin key.

With --demo it also runs the load simulator's realistic profile on this
host and an experiment of process-baseline-v1 against process-topk-v1 on
it, which reaches its verdict in a few minutes, and prints how to watch it
(make run does this).`,
		Args: cobra.NoArgs,
	}
	var demo bool
	cmd.Flags().BoolVar(&demo, "demo", false, "also run a realistic process load and a baseline-vs-top-k experiment on this host")
	apply := server.BindFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		path, _ := cmd.Flags().GetString("config")
		cfg, err := server.Load(path, os.Environ(), apply)
		if err != nil {
			return &UsageError{Err: err}
		}
		if !cmd.Flags().Changed("collection-interval") && os.Getenv("PHOENIX_COLLECTION_INTERVAL") == "" {
			cfg.CollectionInterval = server.DevCollectionInterval
		}
		dev, err := server.NewDev(cmd.Context(), cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		printBootstrap(cmd, dev.Server)
		fmt.Fprintf(cmd.OutOrStdout(), "  Phoenix dev: API http://%s/api/v1 (reference: /api/v1/docs), agent enrolled for this host.\n\n", dev.Addr())
		if demo {
			d, err := dev.RunDemo(cmd.Context())
			if err != nil {
				return err
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = d.Sim.Stop(ctx)
			}()
			dev.PrintDemo(cmd.OutOrStdout(), d)
		}
		return dev.Serve(cmd.Context())
	}
	return cmd
}
