package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/phoenix/platform/internal/agent"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// DevAgentTokenName names the enrollment token `phoenix dev` makes for its
// own agent; each start revokes the previous one and makes a new one, since
// only hashes of tokens are kept.
const DevAgentTokenName = "phoenix-dev-agent"

// Dev is `phoenix dev`: the server and an agent for this host in one
// process, with embedded defaults.
type Dev struct {
	*Server
	agent     *agent.Agent
	agentHost string
}

// NewDev builds the server and enrolls a local agent in the bootstrap
// tenant. The agent's state lives under DataDir/agent.
func NewDev(ctx context.Context, cfg Config, logOut io.Writer) (*Dev, error) {
	srv, err := New(ctx, cfg, Options{LogOutput: logOut})
	if err != nil {
		return nil, err
	}
	token, err := devToken(ctx, srv.Store())
	if err != nil {
		srv.close()
		return nil, err
	}
	host, _ := os.Hostname()
	a, err := agent.New(agent.Config{
		ServerURL: "http://" + srv.Addr(),
		Token:     token,
		StateDir:  filepath.Join(cfg.DataDir, "agent"),
		HostName:  host,
		Labels:    map[string]string{"env": "dev"},
	}, agent.Settings{Logger: srv.Logger().With(slog.String("role", "agent"))})
	if err != nil {
		srv.close()
		return nil, fmt.Errorf("local agent: %w", err)
	}
	return &Dev{Server: srv, agent: a, agentHost: host}, nil
}

// devToken revokes earlier dev-agent tokens of the bootstrap tenant and
// returns a new one.
func devToken(ctx context.Context, st store.Store) (string, error) {
	tenantID, err := bootstrapTenant(ctx, st)
	if err != nil {
		return "", err
	}
	toks, err := st.EnrollmentTokenList(ctx, tenantID)
	if err != nil {
		return "", fmt.Errorf("list enrollment tokens: %w", err)
	}
	for _, t := range toks {
		if t.Name == DevAgentTokenName && t.RevokedAt == nil {
			if _, err := st.EnrollmentTokenRevoke(ctx, tenantID, t.ID); err != nil {
				return "", fmt.Errorf("revoke old dev token: %w", err)
			}
		}
	}
	secret, _, err := auth.CreateEnrollmentToken(ctx, st, tenantID, DevAgentTokenName, "phoenix-dev", map[string]string{"env": "dev"}, nil)
	if err != nil {
		return "", fmt.Errorf("create dev agent token: %w", err)
	}
	return secret, nil
}

// Serve runs the server and the agent until ctx is done.
func (d *Dev) Serve(ctx context.Context) error {
	agentDone := make(chan error, 1)
	go func() { agentDone <- d.agent.Run(ctx) }()
	err := d.Server.Serve(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	if e := d.agent.Shutdown(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("shut down agent: %w", e))
	}
	if e := <-agentDone; e != nil && !errors.Is(e, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("agent: %w", e))
	}
	return err
}

// DevCollectionInterval is the scrape interval of `phoenix dev`: short, so
// a demo experiment reaches a verdict in minutes.
const DevCollectionInterval = 10 * time.Second
