package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/health"
)

// probe serves one request to h and decodes the JSON body.
func probe(t *testing.T, h http.HandlerFunc, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", path, nil))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

func ok(context.Context) error { return nil }

func TestLiveness(t *testing.T) {
	t.Parallel()
	c := health.NewChecker(health.Check{Name: "broken", Fn: func(context.Context) error { return errors.New("down") }})
	code, body := probe(t, c.Liveness, "/healthz")
	require.Equal(t, 200, code)
	require.Equal(t, map[string]any{"status": "ok"}, body, "liveness does not run readiness checks")
}

func TestReadinessAllPass(t *testing.T) {
	t.Parallel()
	var c health.Checker // the zero value works
	code, body := probe(t, c.Readiness, "/readyz")
	require.Equal(t, 200, code)
	require.Equal(t, map[string]any{"status": "ok", "checks": map[string]any{}}, body)

	c.Add(health.Check{Name: "store", Fn: ok})
	c.Add(health.Check{Name: "redis", Timeout: time.Second, Fn: func(context.Context) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}})
	code, body = probe(t, c.Readiness, "/readyz")
	require.Equal(t, 200, code)
	require.Equal(t, "ok", body["status"])
	checks := body["checks"].(map[string]any)
	require.Len(t, checks, 2)
	redis := checks["redis"].(map[string]any)
	require.Equal(t, "ok", redis["status"])
	require.GreaterOrEqual(t, redis["duration_ms"].(float64), 2.0)
	require.NotContains(t, redis, "error")
}

func TestReadinessFailureIs503(t *testing.T) {
	t.Parallel()
	c := health.NewChecker(
		health.Check{Name: "store", Fn: ok},
		health.Check{Name: "redis", Fn: func(context.Context) error { return errors.New("connection refused") }},
	)
	code, body := probe(t, c.Readiness, "/readyz")
	require.Equal(t, 503, code)
	require.Equal(t, "fail", body["status"])
	checks := body["checks"].(map[string]any)
	require.Equal(t, "ok", checks["store"].(map[string]any)["status"])
	redis := checks["redis"].(map[string]any)
	require.Equal(t, "fail", redis["status"])
	require.Equal(t, "redis: connection refused", redis["error"])
}

func TestReadinessHangingCheckTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	c := health.NewChecker(
		health.Check{Name: "store", Fn: ok},
		// Ignores its context: only the checker's own timeout stops the wait.
		health.Check{Name: "metrics-source", Timeout: 50 * time.Millisecond, Fn: func(context.Context) error {
			<-release
			return nil
		}},
		// Honours its context.
		health.Check{Name: "slow", Timeout: 80 * time.Millisecond, Fn: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	)
	start := time.Now()
	rep := c.Run(context.Background())
	elapsed := time.Since(start)
	require.Less(t, elapsed, time.Second, "bounded by the longest timeout, not by the hanging check")
	require.GreaterOrEqual(t, elapsed, 80*time.Millisecond)
	require.Equal(t, health.StatusFail, rep.Status)
	require.Equal(t, health.StatusOK, rep.Checks["store"].Status)
	require.Equal(t, health.Result{Status: "fail", DurationMS: rep.Checks["metrics-source"].DurationMS,
		Error: "metrics-source: timed out after 50ms"}, rep.Checks["metrics-source"])
	require.Equal(t, "slow: timed out after 80ms", rep.Checks["slow"].Error)
	require.GreaterOrEqual(t, rep.Checks["metrics-source"].DurationMS, 50.0)
}

func TestReadinessRunsChecksConcurrently(t *testing.T) {
	t.Parallel()
	const n = 10
	var running, peak atomic.Int32
	c := &health.Checker{}
	for i := range n {
		c.Add(health.Check{Name: string(rune('a' + i)), Fn: func(ctx context.Context) error {
			cur := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			return nil
		}})
	}
	start := time.Now()
	rep := c.Run(context.Background())
	require.Equal(t, health.StatusOK, rep.Status)
	require.Len(t, rep.Checks, n)
	require.Less(t, time.Since(start), 500*time.Millisecond, "ten 100ms checks run side by side, not one after another")
	require.EqualValues(t, n, peak.Load())
}

func TestReadinessFollowsRequestContext(t *testing.T) {
	t.Parallel()
	c := health.NewChecker(health.Check{Name: "store", Timeout: time.Minute, Fn: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := c.Run(ctx)
	require.Equal(t, health.StatusFail, rep.Status)
	require.Equal(t, "store: context canceled", rep.Checks["store"].Error)
}

func TestCheckerAddReplacesAndNames(t *testing.T) {
	t.Parallel()
	c := health.NewChecker(
		health.Check{Name: "store", Fn: func(context.Context) error { return errors.New("old") }},
		health.Check{Fn: ok},
	)
	c.Add(health.Check{Name: "store", Fn: ok})
	rep := c.Run(context.Background())
	require.Equal(t, health.StatusOK, rep.Status)
	require.Len(t, rep.Checks, 2)
	require.Contains(t, rep.Checks, "check2")
}

func TestCheckPanicsAndNilFunctionFail(t *testing.T) {
	t.Parallel()
	c := health.NewChecker(
		health.Check{Name: "panics", Fn: func(context.Context) error { panic("bug") }},
		health.Check{Name: "empty"},
	)
	rep := c.Run(context.Background())
	require.Equal(t, "panics: check panicked: bug", rep.Checks["panics"].Error)
	require.Equal(t, "empty: check has no function", rep.Checks["empty"].Error)
}

func TestCheckerConcurrentAddAndRun(t *testing.T) {
	t.Parallel()
	c := &health.Checker{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			c.Add(health.Check{Name: string(rune('a' + i%26)), Fn: ok})
		}
	}()
	for range 50 {
		require.Equal(t, health.StatusOK, c.Run(context.Background()).Status)
	}
	<-done
	require.Len(t, c.Run(context.Background()).Checks, 26)
}
