package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// driveExperiment walks a started experiment through running (with an
// interim result), analyzing and completed, as the controller would, each
// step once the watch output shows the previous one (seen reports whether
// it does).
func driveExperiment(t *testing.T, te *testEnv, id string, verdict string, seen func(string) bool) {
	t.Helper()
	start := te.now.Add(-2 * time.Minute)
	waitFor := func(s string) {
		t.Helper()
		require.Eventually(t, func() bool { return seen(s) }, 15*time.Second, 5*time.Millisecond, "the watch never showed %q", s)
	}
	waitFor("DEPLOYING")
	te.transition(id, "deploying", "running", start, nil)
	waitFor("waiting for the first measurements")
	te.setResult(id, testReport("inconclusive", false, start))
	waitFor("INCONCLUSIVE (interim)")
	te.transition(id, "running", "analyzing", start.Add(5*time.Minute), nil)
	waitFor("computing the final analysis")
	te.transition(id, "analyzing", "completed", start.Add(5*time.Minute), testReport(verdict, true, start))
}

func TestWatchPlain(t *testing.T) {
	te := newTestEnv(t)
	id := te.createExperiment("watched")
	require.Equal(t, 0, te.run("experiment", "start", id).code)

	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- te.execute(context.Background(), strings.NewReader(""), &out, &errb, "experiment", "watch", id, "--interval", "10ms", "--fail-on-reject")
	}()
	// A log reader sees the states in upper case nowhere; the driver waits
	// for the plain line's words instead.
	seen := func(s string) bool {
		plain := map[string]string{
			"DEPLOYING":                          "deploying",
			"waiting for the first measurements": "no measurements yet",
			"INCONCLUSIVE (interim)":             "verdict INCONCLUSIVE (interim)",
			"computing the final analysis":       "computing the final analysis",
		}[s]
		return strings.Contains(out.String(), plain)
	}
	driveExperiment(t, te, id, "reject", seen)
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end with the experiment")
	}
	require.Equal(t, ExitRejected, ExitCode(err), "--fail-on-reject turns a reject verdict into status 3")
	require.NotContains(t, out.String(), "\x1b[", "no terminal control sequences in a log")
	golden(t, "watch_plain", mask(out.String()))
}

func TestWatchStructured(t *testing.T) {
	te := newTestEnv(t)
	id := te.createExperiment("watched-json")
	require.Equal(t, 0, te.run("experiment", "start", id).code)
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- te.execute(context.Background(), strings.NewReader(""), &out, &errb, "experiment", "watch", id, "--interval", "10ms", "-o", "json")
	}()
	seen := func(s string) bool {
		state := map[string]string{
			"DEPLOYING":                          `"state":"deploying"`,
			"waiting for the first measurements": `"state":"running","owner_id"`,
			"INCONCLUSIVE (interim)":             `"interim":true`,
			"computing the final analysis":       `"state":"analyzing"`,
		}[s]
		return strings.Contains(out.String(), state)
	}
	driveExperiment(t, te, id, "promote", seen)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end with the experiment")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5, "one JSON object per change:\n%s", out.String())
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, `{"id":"`+id+`"`), l)
	}
	require.Contains(t, lines[4], `"state":"completed"`)
	require.Contains(t, lines[4], `"verdict":"promote"`)
}

// TestWatchSurvivesAnUnansweredPoll drops the connections of every request
// for a while (a poll and all its retries fail): watch reports it and goes
// on once the server answers again.
func TestWatchSurvivesAnUnansweredPoll(t *testing.T) {
	te := newTestEnv(t)
	id := te.createExperiment("flaky")
	require.Equal(t, 0, te.run("experiment", "start", id).code)
	target, err := url.Parse(te.vars[envServer])
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var down atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	te.vars[envServer] = front.URL

	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- te.execute(context.Background(), strings.NewReader(""), &out, &errb, "experiment", "watch", id, "--interval", "10ms")
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "deploying") }, 15*time.Second, 5*time.Millisecond)
	down.Store(true)
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "no answer from the server (1/5), retrying") },
		15*time.Second, 5*time.Millisecond, errb.String())
	down.Store(false)
	start := te.now.Add(-2 * time.Minute)
	te.transition(id, "deploying", "running", start, nil)
	te.transition(id, "running", "analyzing", start, nil)
	te.transition(id, "analyzing", "completed", start, testReport("promote", true, start))
	select {
	case err := <-done:
		require.NoError(t, err, errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end with the experiment")
	}
	require.Contains(t, out.String(), "Verdict: PROMOTE")
}
