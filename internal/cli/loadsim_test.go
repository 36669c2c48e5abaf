package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/loadsim"
)

// runLoadsim runs phoenix with args as te.run does, on a command tree
// that has the loadsim command.
func (te *testEnv) runLoadsim(ctx context.Context, args ...string) result {
	te.t.Helper()
	return te.runLoadsimTo(ctx, &syncBuffer{}, args...)
}

// runLoadsimTo is runLoadsim writing standard output to out as it goes.
func (te *testEnv) runLoadsimTo(ctx context.Context, out *syncBuffer, args ...string) result {
	root := NewRoot()
	if c, _, err := root.Find([]string{"loadsim"}); err != nil || c.Name() != "loadsim" {
		root.AddCommand(newLoadsimCommand())
	}
	var errb syncBuffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(""))
	root.SetOut(out)
	root.SetErr(&errb)
	err := root.ExecuteContext(withEnv(ctx, te.env()))
	if err != nil {
		fmt.Fprintln(&errb, "Error:", err)
	}
	return result{args: args, stdout: out.String(), stderr: errb.String(), code: ExitCode(err), err: err}
}

func TestLoadsimOffline(t *testing.T) {
	te := offlineEnv(t)
	s := te.session()
	run := func(args ...string) result {
		t.Helper()
		return s.record(te.runLoadsim(context.Background(), args...))
	}
	dir := filepath.Join(t.TempDir(), "state")

	r := run("loadsim", "list-profiles")
	require.Equal(t, 0, r.code, r.stderr)
	r = run("loadsim", "list-profiles", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"critical": [`)
	r = run("loadsim", "list-profiles", "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	r = run("loadsim", "list-profiles", "-o", "xml")
	require.Equal(t, ExitUsage, r.code)

	// Bad flags are usage errors that name the flag; nothing starts.
	r = run("loadsim", "start", "--profile", "huge", "--state-dir", dir)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `profile: unknown profile "huge" (one of realistic, high-cardinality, high-churn)`)
	r = run("loadsim", "start", "--process-count", "0", "--churn-rate", "-1", "--state-dir", dir)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "process-count: must be between 1 and 5000")
	require.Contains(t, r.stderr, "churn-rate: must be between 0 and 200 per second")
	r = run("loadsim", "start", "--duration", "soon", "--state-dir", dir)
	require.Equal(t, ExitUsage, r.code)
	r = run("loadsim", "start", "extra", "--state-dir", dir)
	require.Equal(t, ExitUsage, r.code)
	r = run("loadsim", "bogus")
	require.Equal(t, ExitUsage, r.code)

	r = run("loadsim", "stop", "--state-dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "No load simulator is running")

	s.golden("loadsim")
}

// TestLoadsimStart runs loadsim start with idle processes (this test
// binary's main cannot run load processes), reads its metrics and state,
// refuses a second start, and stops it as Ctrl-C does.
func TestLoadsimStart(t *testing.T) {
	te := offlineEnv(t)
	dir := filepath.Join(t.TempDir(), "state")

	// Busy processes need phoenix's main.
	r := te.runLoadsim(context.Background(), "loadsim", "start", "--profile", "realistic", "--process-count", "3", "--state-dir", dir)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "hint: run it with --idle-only")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	var out syncBuffer
	go func() {
		done <- te.runLoadsimTo(ctx, &out, "loadsim", "start", "--profile", "high-cardinality", "--process-count", "5",
			"--churn-rate", "0", "--idle-only", "--state-dir", dir, "--metrics-listen", "127.0.0.1:0", "--report-interval", "10ms")
	}()
	var st loadsim.State
	require.Eventually(t, func() bool {
		var err error
		st, err = loadsim.ReadState(dir)
		return err == nil && st.PGID != 0
	}, time.Minute, 10*time.Millisecond, "the simulator records its process group")
	require.Equal(t, os.Getpid(), st.PID)
	require.Equal(t, "high-cardinality", st.Profile)
	require.Equal(t, 5, st.Processes)
	require.True(t, strings.HasPrefix(st.MetricsURL, "http://127.0.0.1:"), st.MetricsURL)

	resp, err := http.Get(st.MetricsURL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(body), `phoenix_loadsim_active_processes{profile="high-cardinality"} 5`)
	require.Contains(t, string(body), `phoenix_loadsim_churn_rate{profile="high-cardinality"} 0`)

	r = te.runLoadsim(context.Background(), "loadsim", "start", "--state-dir", dir)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, fmt.Sprintf("a load simulator is already running (pid %d, profile high-cardinality)", os.Getpid()))
	require.Contains(t, r.stderr, "hint: stop it with: phoenix loadsim stop --state-dir "+dir)

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "\n[") }, time.Minute, 10*time.Millisecond, "a progress line")
	cancel()
	r = <-done
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	require.Regexp(t, regexp.MustCompile(`(?m)^Load simulator started: profile high-cardinality, 5 long-running processes, 0 short-lived per second \(pid \d+, process group \d+\)\.
Metrics: http://127\.0\.0\.1:\d+/metrics
Stop it with Ctrl-C or: phoenix loadsim stop --state-dir `), r.stdout)
	require.Regexp(t, `(?m)^\[\d+s\] 5 processes \(5 long-running, 0 short-lived\); started 5, reaped 0$`, r.stdout)
	require.Regexp(t, `(?m)^Load simulator stopped after \d+s: started 5 processes, reaped 5; 0 left\.$`, r.stdout)
	_, err = loadsim.ReadState(dir)
	require.ErrorIs(t, err, loadsim.ErrNotRunning)
	require.NoFileExists(t, filepath.Join(dir, loadsim.StateFile))
}

// TestLoadsimDuration runs loadsim start until its duration passes.
func TestLoadsimDuration(t *testing.T) {
	te := offlineEnv(t)
	dir := filepath.Join(t.TempDir(), "state")
	r := te.runLoadsim(context.Background(), "loadsim", "start", "--profile", "high-churn", "--process-count", "2",
		"--churn-rate", "20", "--idle-only", "--duration", "300ms", "--state-dir", dir, "--report-interval", "0")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Runs for 300ms; stop it sooner with Ctrl-C or: phoenix loadsim stop --state-dir "+dir)
	require.Regexp(t, `(?m)^Load simulator stopped after \d+s: started (\d+) processes, reaped (\d+); 0 left\.$`, r.stdout)
	m := regexp.MustCompile(`started (\d+) processes, reaped (\d+)`).FindStringSubmatch(r.stdout)
	require.Equal(t, m[1], m[2], "every process is reaped")
	require.False(t, bytes.Contains([]byte(r.stdout), []byte("\n[")), "no progress lines")
}
