package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/version"
)

// Environment variables of the CLI.
const (
	envServer = "PHOENIX_SERVER"
	envAPIKey = "PHOENIX_API_KEY"
)

// Names of the flags every command that talks to the server has.
const (
	flagServer = "server"
	flagAPIKey = "api-key"
	flagOutput = "output"
	flagConfig = "config"
)

// env is what the commands take from the process they run in. Tests put
// their own in the command's context (withEnv).
type env struct {
	getenv func(string) string
	now    func() time.Time
	// terminal reports whether w is a terminal, and its width in columns
	// (0 when unknown).
	terminal func(w any) (bool, int)
}

type envKey struct{}

// withEnv returns ctx carrying e for the commands run with it.
func withEnv(ctx context.Context, e *env) context.Context {
	return context.WithValue(ctx, envKey{}, e)
}

func processEnv() *env {
	return &env{getenv: os.Getenv, now: time.Now, terminal: fileTerminal}
}

// fileTerminal reports whether w is an *os.File on a terminal.
func fileTerminal(w any) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		width = 0
	}
	return true, width
}

func envOf(ctx context.Context) *env {
	if ctx != nil {
		if e, ok := ctx.Value(envKey{}).(*env); ok {
			return e
		}
	}
	return processEnv()
}

// addClientFlags adds the flags of commands that talk to the server.
func addClientFlags(fs *pflag.FlagSet) {
	fs.String(flagServer, "", "Phoenix server URL (env "+envServer+"; default: the one saved by phoenix login)")
	fs.String(flagAPIKey, "", "API key (env "+envAPIKey+"; default: the one saved by phoenix login)")
	fs.StringP(flagOutput, "o", outputTable, "output format: table, json or yaml")
	fs.String(flagConfig, "", "CLI config file (default $XDG_CONFIG_HOME/phoenix/config.yaml, else ~/.config/phoenix/config.yaml)")
}

// registerOutputCompletion completes --output on cmd (the command that
// owns the flag).
func registerOutputCompletion(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc(flagOutput, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return outputFormats, cobra.ShellCompDirectiveNoFileComp
	})
}

// app is one run of a command: its streams, settings and environment.
type app struct {
	cmd    *cobra.Command
	ctx    context.Context
	env    *env
	in     io.Reader
	out    io.Writer
	errOut io.Writer

	output     string
	server     string
	apiKey     string
	configPath string
	// keyFromConfig is true when the API key came from the config file
	// (or is being saved to it by login).
	keyFromConfig bool
	// refusedHint, when set, is the hint for a refused API key.
	refusedHint string
}

// newApp reads the settings of cmd: flags, then the environment, then the
// config file.
func newApp(cmd *cobra.Command) (*app, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	a := &app{cmd: cmd, ctx: ctx, env: envOf(ctx), in: cmd.InOrStdin(), out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), output: outputTable}
	fs := cmd.Flags()
	if f := fs.Lookup(flagOutput); f != nil {
		a.output = strings.ToLower(f.Value.String())
		if !slices.Contains(outputFormats, a.output) {
			return nil, &UsageError{Err: fmt.Errorf("--output %q: must be table, json or yaml", f.Value.String())}
		}
	}
	if fs.Lookup(flagServer) == nil {
		return a, nil
	}
	a.configPath = flagValue(fs, flagConfig)
	if a.configPath == "" {
		a.configPath = defaultConfigPath(a.env.getenv)
	}
	a.server = firstNonEmpty(flagValue(fs, flagServer), a.env.getenv(envServer))
	a.apiKey = firstNonEmpty(flagValue(fs, flagAPIKey), a.env.getenv(envAPIKey))
	if a.server == "" || a.apiKey == "" {
		cfg, err := readConfig(a.configPath, a.errOut)
		if err != nil {
			return nil, err
		}
		if a.server == "" {
			a.server = cfg.Server
		}
		if a.apiKey == "" && cfg.APIKey != "" {
			a.apiKey, a.keyFromConfig = cfg.APIKey, true
		}
	}
	return a, nil
}

func flagValue(fs *pflag.FlagSet, name string) string {
	if f := fs.Lookup(name); f != nil {
		return strings.TrimSpace(f.Value.String())
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// client returns a client of the configured server, or an error saying how
// to configure one.
func (a *app) client() (*client.Client, error) {
	if a.server == "" {
		return nil, &UsageError{Err: errors.New("not logged in: run phoenix login --server URL (or set --server and --api-key, or " + envServer + " and " + envAPIKey + ")")}
	}
	if _, err := client.ParseServerURL(a.server); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--server: %w", err)}
	}
	if a.apiKey == "" {
		return nil, &UsageError{Err: errors.New("no API key: run phoenix login --server " + a.server + " (or set --api-key or " + envAPIKey + ")")}
	}
	return client.New(a.server, a.apiKey, client.WithVersion(version.Version)), nil
}

// terminal reports whether the command's output is a terminal, and its
// width (80 when unknown).
func (a *app) terminal() (bool, int) {
	ok, w := a.env.terminal(a.out)
	if w <= 0 {
		w = 80
	}
	return ok, w
}

// runE adapts a command body: it builds the app and turns the errors it
// returns into what the user should read.
func runE(fn func(a *app, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := newApp(cmd)
		if err != nil {
			return err
		}
		return a.explain(fn(a, args))
	}
}

// usageArgs wraps a cobra argument check so that its errors are usage
// errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}

// flagUsageError makes flag parsing errors usage errors.
func flagUsageError(_ *cobra.Command, err error) error { return &UsageError{Err: err} }

// groupAnnotation marks the commands that only hold subcommands.
const groupAnnotation = "phoenix.group"

// newGroup returns a command that only holds subcommands: run alone it
// prints its help; with an unknown subcommand it is a usage error.
func newGroup(use, short, long string) *cobra.Command {
	cmd := &cobra.Command{
		Use:         use,
		Short:       short,
		Long:        long,
		Annotations: map[string]string{groupAnnotation: "true"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	return cmd
}

// parsePairs reads k=v flags into a map; repeated keys are a usage error.
func parsePairs(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &UsageError{Err: fmt.Errorf("--%s %q: want key=value", flag, p)}
		}
		if _, dup := out[k]; dup {
			return nil, &UsageError{Err: fmt.Errorf("--%s: %q given twice", flag, k)}
		}
		out[k] = v
	}
	return out, nil
}

// parseParams reads pipeline parameters k=v; a key given more than once
// becomes a list (for regex_list parameters). Values stay strings: the
// server converts them to each parameter's type.
func parseParams(flag string, pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &UsageError{Err: fmt.Errorf("--%s %q: want name=value", flag, p)}
		}
		switch cur := out[k].(type) {
		case nil:
			out[k] = v
		case string:
			out[k] = []any{cur, v}
		case []any:
			out[k] = append(cur, v)
		}
	}
	return out, nil
}
