package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/telemetry"
)

// TokenEnv is the environment variable holding the enrollment token, so
// that the token does not show in the process list.
const TokenEnv = "PHOENIX_AGENT_TOKEN"

// NewCommand returns the `agent` command: it runs the Phoenix agent until
// the command's context is done (SIGINT/SIGTERM in the phoenix binary).
func NewCommand() *cobra.Command {
	var (
		cfg       Config
		tokenFile string
		labels    []string
		logLevel  string
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the Phoenix agent: OpAMP client and in-process collector of this host",
		Long: `Run the Phoenix agent on this host.

The agent connects to the Phoenix server over OpAMP, runs the Phoenix
OpenTelemetry Collector in-process on the configuration the server pushes,
rolls back to the last-known-good configuration when a new one fails, and
remote-writes its measurements to the server.

The enrollment token comes from --token-file, the ` + TokenEnv + `
environment variable or --token (visible in the process list), in that
order of preference. Reading every process of the host needs root or the
capabilities CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (see docs/agent.md).`,
		Example: `  ` + TokenEnv + `=phxa_... phoenix agent --server http://phoenix:8080 --label env=prod --label team=payments`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := resolveToken(cfg.Token, tokenFile, os.Getenv(TokenEnv))
			if err != nil {
				return err
			}
			cfg.Token = token
			if cfg.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("log-level: %w", err)
			}
			if logFormat != "json" && logFormat != "text" {
				return fmt.Errorf("log-format: must be json or text, got %q", logFormat)
			}
			logger := telemetry.NewLogger(cmd.ErrOrStderr(), level, logFormat)
			a, err := New(cfg, Settings{Logger: logger})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ServerURL, "server", "", "Phoenix server URL, e.g. http://phoenix:8080 (OpAMP at ws(s)://<server>/v1/opamp)")
	f.StringVar(&cfg.Token, "token", "", "enrollment token (phxa_...); prefer --token-file or "+TokenEnv)
	f.StringVar(&tokenFile, "token-file", "", "file holding the enrollment token")
	f.StringArrayVar(&labels, "label", nil, "label k=v reported as an agent attribute (repeatable)")
	f.StringVar(&cfg.StateDir, "state-dir", DefaultStateDir, "directory of the instance UID and the last-known-good configuration")
	f.StringVar(&cfg.HostName, "host-name", "", "host name to report (default: the system host name)")
	f.DurationVar(&cfg.GracePeriod, "grace-period", DefaultGracePeriod, "probation of a new configuration: a stop within it rolls it back (measurements are due within the first scrape interval)")
	f.DurationVar(&cfg.StartTimeout, "start-timeout", DefaultStartTimeout, "time one collector may take to start")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	return cmd
}

// resolveToken picks the enrollment token: the file, else the
// environment, else the flag.
func resolveToken(flag, file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token-file: %s is empty", file)
		}
		return t, nil
	}
	if env = strings.TrimSpace(env); env != "" {
		return env, nil
	}
	if flag != "" {
		return flag, nil
	}
	return "", errors.New("token: required (--token-file, " + TokenEnv + " or --token)")
}

// parseLabels reads k=v pairs.
func parseLabels(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("label: %q is not k=v", p)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label: %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
