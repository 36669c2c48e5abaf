package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/store"
)

const userPipeline = `name: my-filter
description: keep nginx, drop the rest
processors:
  - phoenix_priority:
      rules:
        - {priority: critical, executable: '^nginx$'}
      default_priority: low
`

func TestPipelineValidateOffline(t *testing.T) {
	te := offlineEnv(t) // no server: validation is local
	s := te.session()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good := write("good.yaml", userPipeline)
	bad := write("bad.yaml", `name: broken
critical_processes: ['(unclosed']
processors:
  - phoenix_topk:
      k: -3
  - phoenix_magic: {}
`)
	collector := write("otelcol.yaml", `receivers:
  hostmetrics:
    collection_interval: 10s
    scrapers:
      process: {}
processors:
  batch: {}
exporters:
  debug: {}
service:
  pipelines:
    metrics:
      receivers: [hostmetrics]
      processors: [batch, nope]
      exporters: [debug]
`)

	r := s.run("pipeline", "validate", good)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "is valid.")

	// PRD AT-P07: an invalid document is a non-zero exit with a clear error
	// per field.
	r = s.run("pipeline", "validate", bad)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "critical_processes[0]:")
	require.Contains(t, r.stderr, "processors[0]")
	require.Contains(t, r.stderr, "processors[1]")
	require.Empty(t, r.stdout)

	r = s.run("pipeline", "validate", collector)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "nope")

	r = s.run("pipeline", "validate", bad, "-o", "json")
	require.Equal(t, ExitFailed, r.code)
	var res validateResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.False(t, res.Valid)
	require.GreaterOrEqual(t, len(res.Errors), 3)

	r = s.runIn(userPipeline, "pipeline", "validate", "-")
	require.Equal(t, 0, r.code, r.stderr)
	r = s.runIn("just text", "pipeline", "validate", "-")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "must be a mapping")

	r = s.run("pipeline", "validate", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, ExitUsage, r.code)
	golden(t, "validate", mask(strings.ReplaceAll(s.buf.String(), dir, "<DIR>")))
}

func TestPipelineAndDeploymentCommands(t *testing.T) {
	te := newTestEnv(t)
	s := te.session()
	ctx := context.Background()
	c := client.New(te.srv.Addr(), te.key)
	p, err := c.PipelineCreate(ctx, userPipeline)
	require.NoError(t, err)

	r := s.run("pipeline", "list")
	require.Equal(t, 0, r.code, r.stderr)
	for _, name := range []string{"process-baseline-v1", "process-topk-v1", "process-aggregated-v1", "my-filter"} {
		require.Contains(t, r.stdout, name)
	}
	r = s.run("pipeline", "show", "process-topk-v1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "1..1000")
	r = s.run("pipeline", "show", "my-filter")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "default_priority: low")
	r = s.run("pipeline", "show", p.ID, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"yaml": "name: my-filter\n`)
	r = s.run("pipeline", "show", "nope")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, `no catalog or user pipeline named "nope"`)

	r = s.run("pipeline", "deploy", "process-topk-v1", "--selector", "env=prod", "--param", "k=30", "--batch-size", "2")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "process-topk-v1 (k=30) out to hosts matching env=prod (pending)")
	first := uuidRE.FindString(r.stdout)
	r = s.run("pipeline", "deploy", "process-topk-v1")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--selector KEY=VALUE is required")
	r = s.run("pipeline", "deploy", "process-topk-v1", "--selector", "env=prod", "--param", "k=0")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "params.k: must be between 1 and 1000")
	r = s.run("pipeline", "deploy", "my-filter", "--selector", "host.name=web-9")
	require.Equal(t, 0, r.code, r.stderr)

	// With no agent to roll out to, the fleet completes both deployments
	// at its next pass; wait for it so the listing is stable.
	for _, id := range []string{first, uuidRE.FindString(r.stdout)} {
		require.Eventually(t, func() bool {
			d, err := te.srv.Store().DeploymentGet(ctx, te.tenant, id)
			return err == nil && d.State == "active"
		}, 15*time.Second, 20*time.Millisecond, "deployment %s never became active", id)
	}
	r = s.run("deployment", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "env=prod")
	require.Contains(t, r.stdout, "host.name=web-9")
	r = s.run("deployment", "list", "--pipeline", "process-topk-v1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var list struct {
		Items []struct {
			ID       string            `json:"id"`
			Selector map[string]string `json:"selector"`
			Rollout  struct {
				BatchSize int `json:"batch_size"`
			} `json:"rollout"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	require.Len(t, list.Items, 1)
	require.Equal(t, first, list.Items[0].ID)
	require.Equal(t, 2, list.Items[0].Rollout.BatchSize)
	r = s.run("deployment", "list", "--state", "failed")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No deployments.")
	r = s.run("pipeline", "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No hosts with a connected agent.")
	r = s.run("pipeline", "get-config")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--host HOST is required")
	r = s.run("pipeline", "get-config", "--host", "web-9")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "NOT_FOUND")

	// A deployment that replaced another is rolled back to it.
	second, err := te.srv.Store().DeploymentCreate(ctx, &store.DeploymentCreateParams{
		TenantID: te.tenant, PipelineRef: "process-aggregated-v1", Params: json.RawMessage(`{}`), Selector: json.RawMessage(`{"env":"prod"}`),
		State: "active", Rollout: json.RawMessage(`{"batch_size":1}`), PreviousID: first, CreatedBy: "test",
	})
	require.NoError(t, err)
	r = s.run("deployment", "show", second.ID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, first)
	r = s.run("deployment", "rollback", second.ID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "rolled_back.\nIts hosts return to deployment "+first)
	r = s.run("deployment", "list", "--state", "rolled_back")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, second.ID)
	r = s.run("pipeline", "rollback", first, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"state": "rolled_back"`)
	r = s.run("deployment", "show", "nope")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "hint: list what exists with: phoenix deployment list")
	s.golden("pipeline")
}
