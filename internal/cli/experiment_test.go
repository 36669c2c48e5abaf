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
	"gopkg.in/yaml.v3"
)

func TestExperimentWorkflow(t *testing.T) {
	te := newTestEnv(t)
	s := te.session()

	r := s.run("experiment", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No experiments.")

	r = s.run("experiment", "create", "--baseline", "process-baseline-v1", "--candidate", "process-topk-v1",
		"--param-candidate", "k=10", "--hosts", "web-1,web-2", "--duration", "5m", "--critical", "^(nginx|postgres|java)$", "--min-reduction", "30%")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Created experiment process-topk-v1 vs process-baseline-v1")
	id := uuidRE.FindString(r.stdout)
	require.NotEmpty(t, id)

	// JSON is the API's own object, field for field.
	r = s.run("experiment", "status", id, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e))
	require.Equal(t, id, e["id"])
	require.Equal(t, "draft", e["state"])
	spec := e["spec"].(map[string]any)
	require.Equal(t, "5m0s", spec["duration"])
	require.Equal(t, map[string]any{"name": "process-topk-v1", "params": map[string]any{"k": "10"}}, spec["candidate"])
	require.Equal(t, []any{"^(nginx|postgres|java)$"}, spec["critical_processes"])
	require.InDelta(t, 0.3, spec["criteria"].(map[string]any)["min_reduction"], 1e-9)

	// YAML is the same object.
	r = s.run("experiment", "list", "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	var list struct {
		Items []map[string]any `yaml:"items"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(r.stdout), &list))
	require.Len(t, list.Items, 1)
	require.Equal(t, id, list.Items[0]["id"])
	require.Equal(t, "5m0s", list.Items[0]["spec"].(map[string]any)["duration"])

	s.run("experiment", "status", id)
	r = s.run("experiment", "compare", id)
	require.Equal(t, ExitFailed, r.code, "a draft has no analysis")
	require.Contains(t, r.stderr, "NOT_FOUND")
	require.Contains(t, r.stderr, "hint:")

	r = s.run("experiment", "start", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "deploying")
	r = s.run("experiment", "start", id)
	require.Equal(t, ExitFailed, r.code, "a started experiment cannot start again")
	require.Contains(t, r.stderr, "current_state: deploying")

	r = s.run("experiment", "delete", id)
	require.Equal(t, ExitFailed, r.code, "an active experiment cannot be deleted")
	r = s.run("experiment", "stop", id, "--reason", "wrong hosts")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "cancelled")
	r = s.run("experiment", "events", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "wrong hosts")
	r = s.run("experiment", "list", "--state", "cancelled")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, id)
	r = s.run("experiment", "delete", id, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"id":"`+id+`","deleted":true}`, r.stdout)
	s.golden("experiment")
}

func TestExperimentCompareAndPromote(t *testing.T) {
	te := newTestEnv(t)
	s := te.session()
	start := te.now.Add(-2 * time.Minute)

	win := te.createExperiment("topk-wins")
	require.Equal(t, 0, te.run("experiment", "start", win).code)
	te.transition(win, "deploying", "running", start, nil)
	te.setResult(win, testReport("inconclusive", false, start))

	r := s.run("experiment", "status", win)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "40%, elapsed 2m00s, remaining 3m00s")
	r = s.run("experiment", "compare", win)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "INCONCLUSIVE (interim); needs more_time")
	require.Contains(t, r.stdout, "95% CS", "an interim report shows the always-valid interval")

	te.transition(win, "running", "analyzing", start.Add(5*time.Minute), nil)
	te.transition(win, "analyzing", "completed", start.Add(5*time.Minute), testReport("promote", true, start))
	r = s.run("experiment", "compare", win)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PROMOTE (final, decided)")
	require.Contains(t, r.stdout, "62.5%")
	require.Contains(t, r.stdout, "58.0% .. 66.0%")
	require.Contains(t, r.stdout, "$1,241.73 (63.5%)")

	// JSON output is the report exactly as the server sent it.
	r = s.run("experiment", "compare", win, "-o", "json", "--fail-on-reject")
	require.Equal(t, 0, r.code, "a promote verdict does not fail")
	require.JSONEq(t, string(testReport("promote", true, start)), r.stdout)

	r = s.run("experiment", "promote", win)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Promoted experiment topk-wins")
	r = s.run("experiment", "rollback", win)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "completed")

	lose := te.createExperiment("topk-loses")
	require.Equal(t, 0, te.run("experiment", "start", lose).code)
	te.transition(lose, "deploying", "running", start, nil)
	te.transition(lose, "running", "analyzing", start.Add(5*time.Minute), nil)
	te.transition(lose, "analyzing", "completed", start.Add(5*time.Minute), testReport("reject", true, start))
	r = s.run("experiment", "compare", lose)
	require.Equal(t, 0, r.code, "without --fail-on-reject a reject verdict is a successful comparison")
	r = s.run("experiment", "compare", lose, "--fail-on-reject")
	require.Equal(t, ExitRejected, r.code)
	require.Contains(t, r.stdout, "REJECT (final, decided)", "the report is printed before the status")
	r = s.run("experiment", "promote", lose)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "promote with force")
	r = s.run("experiment", "promote", lose, "--force", "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "state: promoted")
	s.golden("compare")
}

func TestExperimentScenario(t *testing.T) {
	te := newTestEnv(t)
	s := te.session()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good := write("topk.yaml", `experimentName: topk-vs-baseline
duration: 30m
targetHost: web-1
targetHosts: [web-2]
variantA: process-baseline-v1
variantB:
  pipeline: process-topk-v1
  params: {k: 15, rank_by: memory}
criticalProcessRegex: '^(nginx|postgres)$'
comparisonMetrics: [cardinality, datapoints, cpu, critical_retention]
`)
	r := s.run("experiment", "create", "--scenario", good)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Comparison metrics: output_series, output_datapoints_per_min, processing_cores, critical_retention")
	require.Contains(t, r.stdout, "hosts web-1,web-2")
	require.Contains(t, r.stdout, "process-topk-v1 (k=15,rank_by=memory)")
	require.Contains(t, r.stdout, "30m0s")

	// Flags override the scenario's settings; the metrics echo goes to
	// stderr so that stdout stays JSON.
	r = s.run("experiment", "create", "--scenario", good, "--name", "renamed", "--duration", "1m", "--mode", "live", "--min-runtime", "45s", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "Comparison metrics:")
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e))
	require.Equal(t, "renamed", e["name"])
	require.Equal(t, "1m0s", e["spec"].(map[string]any)["duration"])
	require.Equal(t, "live", e["spec"].(map[string]any)["mode"])
	require.Equal(t, "45s", e["spec"].(map[string]any)["criteria"].(map[string]any)["min_runtime"])

	r = s.runIn("experimentName: from-stdin\nvariantA: process-baseline-v1\nvariantB: process-aggregated-v1\ntargetSelector: {env: prod}\nminRuntime: 2m\n",
		"experiment", "create", "--scenario", "-")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "agents with env=prod")

	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown-metric.yaml", "variantA: a\nvariantB: b\ntargetHost: h\ncomparisonMetrics: [series, happiness]\n", `unknown metric "happiness"`},
		{"unknown-key.yaml", "variantA: a\nvariantB: b\ntargetHost: h\ncolour: blue\n", "field colour not found"},
		{"unknown-variant-key.yaml", "variantA: {pipeline: a, parms: {k: 1}}\nvariantB: b\ntargetHost: h\n", "field parms not found"},
		{"missing.yaml", "experimentName: x\nduration: soon\n", "variantA: required"},
		{"empty.yaml", "", "is empty"},
		{"bad-min-runtime.yaml", "variantA: a\nvariantB: b\ntargetHost: h\nminRuntime: soon\n", "minRuntime: must be a positive duration"},
	} {
		r := s.run("experiment", "create", "--scenario", write(tc.name, tc.content))
		require.Equal(t, ExitUsage, r.code, tc.name)
		require.Contains(t, r.stderr, tc.want, tc.name)
	}
	r = s.run("experiment", "create", "--scenario", good, "--baseline", "process-baseline-v1")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--baseline cannot be combined with --scenario")

	// The server's validation names each bad field.
	bad := write("bad.yaml", "variantA: process-baseline-v1\nvariantB: no-such-pipeline\ntargetHost: web-1\nduration: 10s\n")
	r = s.run("experiment", "create", "--scenario", bad)
	require.Equal(t, ExitFailed, r.code)
	require.Regexp(t, `\n  spec.candidate: .*no-such-pipeline`, r.stderr)
	require.Contains(t, r.stderr, "spec.duration: must be at least 30s")
	s.golden("scenario")
}

func TestExperimentRun(t *testing.T) {
	te := newTestEnv(t)
	r := te.run("experiment", "run", "--baseline", "process-baseline-v1", "--candidate", "process-priority-filter-v1", "--selector", "env=prod")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Created experiment process-priority-filter-v1 vs process-baseline-v1")
	require.Contains(t, r.stdout, "deploying")
	id := uuidRE.FindString(r.stdout)

	// A started experiment that ends cancelled makes watch fail with the
	// reason.
	r = te.run("experiment", "stop", id, "--reason", "maintenance window")
	require.Equal(t, 0, r.code, r.stderr)
	r = te.run("experiment", "watch", id)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "cancelled: maintenance window")
	require.Contains(t, r.stdout, "cancelled")

	// Interrupting watch (Ctrl-C cancels the context) leaves the experiment
	// running and exits cleanly.
	running := te.createExperiment("interrupted")
	require.Equal(t, 0, te.run("experiment", "start", running).code)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- te.execute(ctx, strings.NewReader(""), &out, &errb, "experiment", "watch", running, "--interval", "10ms")
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "deploying") }, 10*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop when interrupted")
	}
	require.Contains(t, errb.String(), "Stopped watching; experiment "+running+" goes on")

	draft := te.createExperiment("still-draft")
	r = te.run("experiment", "watch", draft)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "is a draft; start it with")
}

func TestExperimentUsageErrors(t *testing.T) {
	te := newTestEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"experiment", "create", "--baseline", "process-baseline-v1"}, "missing --candidate PIPELINE, --hosts H,... or --selector KEY=VALUE"},
		{[]string{"experiment", "create", "--baseline", "a", "--candidate", "b", "--hosts", "h", "--mode", "loud"}, `--mode "loud"`},
		{[]string{"experiment", "create", "--baseline", "a", "--candidate", "b", "--hosts", "h", "--min-reduction", "150%"}, "between 0 and 1"},
		{[]string{"experiment", "create", "--baseline", "a", "--candidate", "b", "--selector", "env"}, "want key=value"},
		{[]string{"experiment", "create", "--baseline", "a", "--candidate", "b", "--hosts", "h", "--duration", "soon"}, "invalid argument"},
		{[]string{"experiment", "list", "--state", "sleeping"}, `unknown experiment state "sleeping"`},
		{[]string{"experiment", "watch", "x", "--interval", "1ns"}, "--interval must be at least"},
		{[]string{"experiment", "status"}, "accepts 1 arg(s), received 0"},
		{[]string{"experiment", "bogus"}, `unknown command "bogus" for "phoenix experiment"`},
		{[]string{"experiment", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"experiment", "list", "-o", "xml"}, `--output "xml": must be table, json or yaml`},
		{[]string{"bogus"}, `unknown command "bogus" for "phoenix"`},
	} {
		r := te.run(tc.args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", tc.args, r.stderr)
		require.Contains(t, r.stderr, tc.want, "%v", tc.args)
		require.True(t, strings.HasPrefix(r.stderr, "Error: "), r.stderr)
	}
}
