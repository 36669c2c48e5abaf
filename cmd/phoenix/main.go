// Command phoenix is the single Phoenix binary: server, agent, collector and CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/phoenix/platform/internal/cli"
	"github.com/phoenix/platform/internal/loadsim"
)

func main() {
	// A load-simulator child process runs its workload and nothing else.
	if code, ok := loadsim.RunChild(); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(cli.ExitCode(err))
	}
}
