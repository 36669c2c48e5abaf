package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/api"
)

// parseExpiry reads --expires: a duration from now ("720h", "30d") or an
// RFC 3339 time. Empty means never.
func parseExpiry(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			t := now.Add(time.Duration(n) * 24 * time.Hour)
			return &t, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, &UsageError{Err: fmt.Errorf("--expires %q: want a positive duration (720h, 30d) or an RFC 3339 time", s)}
	}
	t := now.Add(d)
	return &t, nil
}

func newAPIKeyCommand() *cobra.Command {
	cmd := newGroup("apikey", "Create, list and revoke API keys", `API keys authenticate people and scripts with the REST API and this CLI.
A key has a role: viewer (read), editor (read and change experiments,
pipelines, deployments) or admin (also keys and tokens).`)
	addClientFlags(cmd.PersistentFlags())
	registerOutputCompletion(cmd)

	var name, role, expires string
	create := &cobra.Command{
		Use:     "create --name NAME --role admin|editor|viewer",
		Short:   "Create an API key; its secret is shown only once",
		Example: `  phoenix apikey create --name ci --role editor --expires 90d`,
		Args:    usageArgs(cobra.NoArgs),
	}
	create.Flags().StringVar(&name, "name", "", "name of the key (required)")
	create.Flags().StringVar(&role, "role", "viewer", "role: admin, editor or viewer")
	create.Flags().StringVar(&expires, "expires", "", "expiry: a duration from now (720h, 90d) or an RFC 3339 time (default never)")
	_ = create.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"admin", "editor", "viewer"}, cobra.ShellCompDirectiveNoFileComp
	})
	create.RunE = runE(func(a *app, _ []string) error {
		if strings.TrimSpace(name) == "" {
			return &UsageError{Err: errors.New("--name is required")}
		}
		exp, err := parseExpiry(expires, a.env.now())
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		k, err := c.APIKeyCreate(a.ctx, api.APIKeyCreate{Name: name, Role: role, ExpiresAt: exp})
		if err != nil {
			return err
		}
		return a.render(k, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Created API key %s (%s, role %s). Its secret is shown only this once:\n\n    %s\n\nUse it with: phoenix login --server %s\n",
				k.Name, k.ID, k.Role, k.Secret, a.server)
			return err
		})
	})

	list := &cobra.Command{Use: "list", Short: "List API keys (without their secrets)", Args: usageArgs(cobra.NoArgs)}
	list.RunE = runE(func(a *app, _ []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		keys, err := c.APIKeyList(a.ctx)
		if err != nil {
			return err
		}
		return a.render(keys, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "ID", "NAME", "PREFIX", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
			for _, k := range keys.Items {
				row(tw, k.ID, k.Name, k.Prefix, k.Role, fmtTime(k.CreatedAt), fmtTimePtr(k.ExpiresAt), fmtTimePtr(k.LastUsedAt), fmtTimePtr(k.RevokedAt))
			}
			return tw.Flush()
		})
	})

	revoke := &cobra.Command{
		Use:               "revoke ID",
		Short:             "Revoke an API key: it stops working at once",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeAPIKeys,
	}
	revoke.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		k, err := c.APIKeyRevoke(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(k, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Revoked API key %s (%s).\n", k.Name, k.ID)
			return err
		})
	})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newTokenCommand() *cobra.Command {
	cmd := newGroup("token", "Create, list and revoke agent enrollment tokens", `An enrollment token lets agents join the fleet: phoenix agent presents it
when it connects, and the token's labels are added to the agent's. Revoking a
token disconnects the agents that enrolled with it.`)
	addClientFlags(cmd.PersistentFlags())
	registerOutputCompletion(cmd)

	var name, expires string
	var labels []string
	create := &cobra.Command{
		Use:     "create --name NAME [--label KEY=VALUE]...",
		Short:   "Create an enrollment token; its secret is shown only once",
		Example: `  phoenix token create --name prod-web --label env=prod --expires 30d`,
		Args:    usageArgs(cobra.NoArgs),
	}
	create.Flags().StringVar(&name, "name", "", "name of the token (required)")
	create.Flags().StringArrayVar(&labels, "label", nil, "label KEY=VALUE given to the agents that enroll with it (repeatable)")
	create.Flags().StringVar(&expires, "expires", "", "expiry: a duration from now (720h, 30d) or an RFC 3339 time (default never)")
	create.RunE = runE(func(a *app, _ []string) error {
		if strings.TrimSpace(name) == "" {
			return &UsageError{Err: errors.New("--name is required")}
		}
		lbl, err := parsePairs("label", labels)
		if err != nil {
			return err
		}
		exp, err := parseExpiry(expires, a.env.now())
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		t, err := c.TokenCreate(a.ctx, api.TokenCreate{Name: name, Labels: lbl, ExpiresAt: exp})
		if err != nil {
			return err
		}
		return a.render(t, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Created enrollment token %s (%s). Its secret is shown only this once:\n\n    %s\n\nEnroll an agent with: PHOENIX_AGENT_TOKEN=%s phoenix agent --server %s\n",
				t.Name, t.ID, t.Secret, t.Secret, a.server)
			return err
		})
	})

	list := &cobra.Command{Use: "list", Short: "List enrollment tokens (without their secrets)", Args: usageArgs(cobra.NoArgs)}
	list.RunE = runE(func(a *app, _ []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		toks, err := c.TokenList(a.ctx)
		if err != nil {
			return err
		}
		return a.render(toks, func(w io.Writer) error {
			tw := newTable(w)
			row(tw, "ID", "NAME", "PREFIX", "LABELS", "CREATED", "EXPIRES", "REVOKED")
			for _, t := range toks.Items {
				row(tw, t.ID, t.Name, t.Prefix, dash(fmtMap(t.Labels)), fmtTime(t.CreatedAt), fmtTimePtr(t.ExpiresAt), fmtTimePtr(t.RevokedAt))
			}
			return tw.Flush()
		})
	})

	revoke := &cobra.Command{
		Use:               "revoke ID",
		Short:             "Revoke an enrollment token and disconnect the agents that enrolled with it",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeTokens,
	}
	revoke.RunE = runE(func(a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		t, err := c.TokenRevoke(a.ctx, args[0])
		if err != nil {
			return err
		}
		return a.render(t, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Revoked enrollment token %s (%s).\n", t.Name, t.ID)
			return err
		})
	})
	cmd.AddCommand(create, list, revoke)
	return cmd
}
