package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/api"
)

// TestDeployValidatePriority covers AT-P01 (deploy the baseline), AT-P07
// (an invalid pipeline is refused naming its field) and AT-P02 (the
// priority filter keeps every critical process) on one server.
func TestDeployValidatePriority(t *testing.T) {
	requireSuite(t)
	t.Parallel()
	d := startDev(t, 10*time.Second)

	t.Run("AT-P01 deploy baseline", func(t *testing.T) {
		start := time.Now()
		var dep api.Deployment
		d.json(t, &dep, "pipeline", "deploy", "process-baseline-v1",
			"--selector", "host.name="+d.host, "--health-gate", "5s")
		require.NotEmpty(t, dep.ID)

		var h api.Host
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			h = d.hostStatus(c)
			require.Equal(c, dep.ID, h.DeploymentID, "deployment of the host")
			require.Equal(c, "process-baseline-v1", h.Pipeline)
			require.Equal(c, "applied", h.Status)
		}, 2*time.Minute, 500*time.Millisecond, "the host did not report the baseline applied")
		applied := time.Since(start)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			h = d.hostStatus(c)
			require.Equal(c, dep.ID, h.DeploymentID, "deployment of the host")
			require.NotNil(c, h.Figures, "figures")
			require.NotNil(c, h.Figures.InputProcesses, "input_processes")
			require.NotNil(c, h.Figures.InputSeries, "input_series")
			require.NotNil(c, h.Figures.OutputSeries, "output_series")
			require.NotNil(c, h.Figures.CriticalExpected, "critical_expected")
			require.NotNil(c, h.Figures.CriticalRetained, "critical_retained")
		}, 2*time.Minute, 500*time.Millisecond, "the host reported no figures")
		figures := time.Since(start)
		require.Positive(t, *h.Figures.OutputSeries)
		require.Equal(t, *h.Figures.InputSeries, *h.Figures.OutputSeries, "the baseline sends every series")

		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var got api.Deployment
			d.json(c, &got, "deployment", "show", dep.ID)
			require.Equal(c, "active", got.State)
		}, time.Minute, time.Second, "the deployment did not become active")
		active := time.Since(start)

		require.EventuallyWithT(t, func(c *assert.CollectT) {
			h = d.hostStatus(c)
			require.NotNil(c, h.Figures)
			require.NotNil(c, h.Figures.AgentCPUCores, "agent_cpu_cores")
			require.NotNil(c, h.Figures.AgentMemoryBytes, "agent_memory_bytes")
		}, time.Minute, time.Second, "the agent's CPU and memory were not reported")
		fig := h.Figures
		t.Logf("AT-P01: applied %s and figures %s after deploy (deployment active after %s, health gate 5s; server start to deploy %s); "+
			"input_processes=%s input_series=%s output_series=%s reduction=%s%% critical=%s/%s agent_cpu_cores=%s agent_memory_bytes=%s",
			applied.Round(100*time.Millisecond), figures.Round(100*time.Millisecond), active.Round(100*time.Millisecond), start.Sub(d.started).Round(100*time.Millisecond),
			num(fig.InputProcesses), num(fig.InputSeries), num(fig.OutputSeries), num(fig.ReductionPercent),
			num(fig.CriticalRetained), num(fig.CriticalExpected), num(fig.AgentCPUCores), num(fig.AgentMemoryBytes))
	})

	t.Run("AT-P07 invalid pipeline", func(t *testing.T) {
		testInvalidPipeline(t, d)
	})

	t.Run("AT-P02 priority filter keeps critical processes", func(t *testing.T) {
		shareHost(t)
		startLoad(t, d, "realistic")
		var dep api.Deployment
		d.json(t, &dep, "pipeline", "deploy", "process-priority-filter-v1",
			"--selector", "host.name="+d.host, "--health-gate", "5s")
		start := time.Now()
		var fig *api.HostFigures
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			h := d.hostStatus(c)
			require.Equal(c, dep.ID, h.DeploymentID)
			require.Equal(c, "applied", h.Status)
			fig = h.Figures
			require.NotNil(c, fig)
			require.NotNil(c, fig.InputProcesses)
			require.GreaterOrEqual(c, *fig.InputProcesses, 100.0, "the realistic load's processes are in the input")
			require.NotNil(c, fig.ReductionPercent)
			require.Greater(c, *fig.ReductionPercent, 20.0, "the filter drops the low-priority processes")
			require.NotNil(c, fig.CriticalExpected)
			require.NotNil(c, fig.CriticalRetained)
			require.GreaterOrEqual(c, *fig.CriticalExpected, 7.0, "the load's critical services are expected")
		}, 3*time.Minute, tick, "the priority filter's figures did not arrive")
		require.Equal(t, *fig.CriticalExpected, *fig.CriticalRetained, "critical processes retained")
		t.Logf("AT-P02: after %s: input_processes=%s input_series=%s output_series=%s reduction=%s%% critical retained %s of %s",
			time.Since(start).Round(time.Second), num(fig.InputProcesses), num(fig.InputSeries), num(fig.OutputSeries),
			num(fig.ReductionPercent), num(fig.CriticalRetained), num(fig.CriticalExpected))

		// Retention must hold scrape after scrape, not once: read the
		// figures over three more collection intervals.
		var readings int
		var lost []string
		from := time.Now()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			fig := d.hostStatus(c).Figures
			require.NotNil(c, fig)
			require.NotNil(c, fig.CriticalExpected)
			require.NotNil(c, fig.CriticalRetained)
			readings++
			if *fig.CriticalRetained != *fig.CriticalExpected || *fig.CriticalExpected == 0 {
				lost = append(lost, num(fig.CriticalRetained)+"/"+num(fig.CriticalExpected))
			}
			require.GreaterOrEqual(c, time.Since(from), 3*d.interval, "observed span")
		}, 2*time.Minute, tick)
		require.Empty(t, lost, "readings whose critical processes were not all retained (retained/expected)")
		t.Logf("AT-P02: critical processes all retained in %d more readings over %s", readings, time.Since(from).Round(time.Second))
	})
}

// testInvalidPipeline is AT-P07: an invalid pipeline is refused by the CLI
// offline (exit status 1) and by the API (400), each naming the field.
func testInvalidPipeline(t *testing.T, d *dev) {
	cases := []struct {
		name string
		doc  string
		// want are the field paths and words the CLI must name.
		want []string
		// field is the API's field; empty when only the CLI is checked.
		field string
	}{{
		name: "value out of range",
		doc: `name: bad-topk
critical_processes: ['^(nginx|postgres)$']
processors:
  - phoenix_priority:
      rules:
        - {priority: critical, executable: '^(nginx|postgres)$'}
      default_priority: low
  - phoenix_topk:
      k: -5
      rank_by: cpu
`,
		want:  []string{"processors[1].phoenix_topk", "k: must be between"},
		field: "yaml.processors[1].phoenix_topk",
	}, {
		name:  "unknown processor",
		doc:   "name: bad-type\nprocessors:\n  - phoenix_nope: {k: 3}\n",
		want:  []string{"processors[0]", `unknown processor type "phoenix_nope"`},
		field: "yaml.processors[0]",
	}, {
		name: "YAML syntax",
		doc:  "name: bad-syntax\nprocessors:\n  - phoenix_topk: {k: 3\n",
		want: []string{"invalid YAML", "line"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.doc), 0o600))
			r := d.run(t, "pipeline", "validate", file)
			require.Equal(t, 1, r.code, "%s", r)
			for _, w := range tc.want {
				require.Contains(t, r.stderr, w, "%s", r)
			}
			t.Logf("AT-P07 CLI (%s): exit %d: %s", tc.name, r.code, strings.TrimSpace(r.stderr))
			if tc.field == "" {
				return
			}
			for _, path := range []string{"/api/v1/pipelines/validate", "/api/v1/pipelines"} {
				status, body := d.post(t, path, map[string]string{"yaml": tc.doc})
				require.Equal(t, http.StatusBadRequest, status, "POST %s: %s", path, body)
				var env struct {
					Error struct {
						Code   string `json:"code"`
						Fields []struct {
							Field   string `json:"field"`
							Message string `json:"message"`
						} `json:"fields"`
					} `json:"error"`
				}
				require.NoError(t, json.Unmarshal(body, &env), "%s", body)
				require.Equal(t, "VALIDATION_ERROR", env.Error.Code, "%s", body)
				require.NotEmpty(t, env.Error.Fields, "%s", body)
				require.Equal(t, tc.field, env.Error.Fields[0].Field, "%s", body)
				t.Logf("AT-P07 API POST %s (%s): %d %s", path, tc.name, status, bytes.TrimSpace(body))
			}
		})
	}
	t.Run("deploy with a bad parameter", func(t *testing.T) {
		r := d.run(t, "pipeline", "deploy", "process-topk-v1", "--selector", "host.name="+d.host, "--param", "k=0")
		require.Equal(t, 1, r.code, "%s", r)
		require.Contains(t, r.stderr, "pipeline.params.k", "%s", r)
		t.Logf("AT-P07 deploy: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	})
}

// post sends a JSON body to the API and returns the status and body.
func (d *dev) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, d.url+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}
