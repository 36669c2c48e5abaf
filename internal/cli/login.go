package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/client"
)

func newLoginCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login --server URL [--api-key KEY]",
		Short: "Save the server URL and API key the other commands use",
		Long: `Save the server URL and API key the other commands use.

The key comes from --api-key, else ` + envAPIKey + `, else standard input (a
prompt that does not echo on a terminal, or the first line of a pipe). It is
checked against the server (GET /api/v1/version) before it is saved to the
CLI config file, which is written readable by you only (mode 0600).`,
		Example: `  phoenix login --server http://127.0.0.1:8080
  echo "$KEY" | phoenix login --server https://phoenix.example.com`,
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	addClientFlags(cmd.Flags())
	registerOutputCompletion(cmd)
	cmd.RunE = runE(func(a *app, _ []string) error {
		server := firstNonEmpty(flagValue(cmd.Flags(), flagServer), a.env.getenv(envServer))
		if server == "" {
			return &UsageError{Err: errors.New("--server URL is required, e.g. phoenix login --server http://127.0.0.1:8080")}
		}
		u, err := client.ParseServerURL(server)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--server: %w", err)}
		}
		a.server = u.String()
		key := firstNonEmpty(flagValue(cmd.Flags(), flagAPIKey), a.env.getenv(envAPIKey))
		if key == "" {
			if key, err = readKey(a); err != nil {
				return err
			}
		}
		a.apiKey = key
		a.refusedHint = "the API key was refused: check it; an admin creates keys with phoenix apikey create, and phoenix server prints the first one at its first start"
		c, err := a.client()
		if err != nil {
			return err
		}
		v, err := c.Version(a.ctx)
		if err != nil {
			return err
		}
		if err := writeConfig(a.configPath, cliConfig{Server: a.server, APIKey: key}); err != nil {
			return err
		}
		out := loginResult{Server: a.server, Config: a.configPath, ServerVersion: v}
		return a.render(out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Logged in to %s (phoenix %s).\nSaved to %s.\n", a.server, v.Version, a.configPath)
			return err
		})
	})
	return cmd
}

// loginResult is what login reports with --output json|yaml.
type loginResult struct {
	Server        string           `json:"server"`
	Config        string           `json:"config"`
	ServerVersion *api.VersionInfo `json:"server_version"`
}

// readKey reads an API key from standard input: without echo on a terminal,
// else its first line.
func readKey(a *app) (string, error) {
	if f, ok := a.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.errOut, "API key: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.errOut)
		if err != nil {
			return "", fmt.Errorf("read API key: %w", err)
		}
		return strings.TrimSpace(string(b)), nonEmptyKey(string(b))
	}
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read API key from standard input: %w", err)
	}
	return strings.TrimSpace(line), nonEmptyKey(line)
}

func nonEmptyKey(s string) error {
	if strings.TrimSpace(s) == "" {
		return &UsageError{Err: errors.New("no API key: pass --api-key, set " + envAPIKey + " or write it to standard input")}
	}
	return nil
}
