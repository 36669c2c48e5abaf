// Package health serves Phoenix's liveness and readiness probes.
//
// Liveness (/healthz) answers as long as the process serves HTTP. Readiness
// (/readyz) runs every registered [Check] concurrently, each bounded by its
// own timeout, and answers 503 when any fails, so a load balancer or
// Kubernetes stops sending traffic to a replica whose store, cache or
// metrics source is unreachable.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultTimeout bounds a check whose Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Statuses of a report and of each check.
const (
	StatusOK   = "ok"
	StatusFail = "fail"
)

// Check is one dependency to verify for readiness.
type Check struct {
	// Name identifies the check in reports, e.g. "store".
	Name string
	// Timeout bounds one run of Fn; zero means DefaultTimeout.
	Timeout time.Duration
	// Fn returns nil when the dependency is usable. It should return when
	// its context is done; if it does not, the check is reported failed at
	// its timeout all the same and Fn is left to finish on its own.
	Fn func(ctx context.Context) error
}

// Result is the outcome of one check.
type Result struct {
	// Status is StatusOK or StatusFail.
	Status string `json:"status"`
	// DurationMS is how long the check took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Error says why the check failed; empty when it passed.
	Error string `json:"error,omitempty"`
}

// Report is the outcome of all checks, the body of the readiness response.
type Report struct {
	// Status is StatusOK when every check passed, StatusFail otherwise.
	Status string `json:"status"`
	// Checks holds each check's result by name.
	Checks map[string]Result `json:"checks"`
}

// Checker holds the readiness checks. The zero value is ready to use and has
// no checks. It is safe for concurrent use.
type Checker struct {
	mu     sync.RWMutex
	checks []Check
}

// NewChecker returns a Checker with checks.
func NewChecker(checks ...Check) *Checker {
	c := &Checker{}
	for _, ch := range checks {
		c.Add(ch)
	}
	return c
}

// Add registers a check. A check with the name of one already registered
// replaces it. A check without a name is named "check<N>" after its position.
func (c *Checker) Add(ch Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch.Name == "" {
		ch.Name = fmt.Sprintf("check%d", len(c.checks)+1)
	}
	for i := range c.checks {
		if c.checks[i].Name == ch.Name {
			c.checks[i] = ch
			return
		}
	}
	c.checks = append(c.checks, ch)
}

// Run runs every check concurrently, each bounded by its timeout and by ctx,
// and returns the report once all have finished or timed out.
func (c *Checker) Run(ctx context.Context) Report {
	c.mu.RLock()
	checks := make([]Check, len(c.checks))
	copy(checks, c.checks)
	c.mu.RUnlock()

	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() { results[i] = run(ctx, ch) })
	}
	wg.Wait()

	rep := Report{Status: StatusOK, Checks: make(map[string]Result, len(checks))}
	for i, ch := range checks {
		rep.Checks[ch.Name] = results[i]
		if results[i].Status != StatusOK {
			rep.Status = StatusFail
		}
	}
	return rep
}

// run runs one check. Fn runs in its own goroutine so that a check that
// ignores its context cannot hold the probe past the timeout; a panic in Fn
// fails the check.
func run(ctx context.Context, ch Check) Result {
	timeout := ch.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		if ch.Fn == nil {
			done <- errors.New("check has no function")
			return
		}
		done <- ch.Fn(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	res := Result{Status: StatusOK, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Status = StatusFail
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			res.Error = fmt.Sprintf("%s: timed out after %s", ch.Name, timeout)
		default:
			res.Error = fmt.Sprintf("%s: %v", ch.Name, err)
		}
	}
	return res
}

// Liveness serves /healthz: 200 {"status":"ok"} while the process can serve
// HTTP at all. It checks no dependency, so that an outage of the database
// does not make an orchestrator restart every replica.
func (c *Checker) Liveness(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": StatusOK})
}

// Readiness serves /readyz: it runs the checks (bounded by the request's
// context too) and answers the [Report] as JSON with 200 when every check
// passed and 503 otherwise.
func (c *Checker) Readiness(w http.ResponseWriter, r *http.Request) {
	rep := c.Run(r.Context())
	status := http.StatusOK
	if rep.Status != StatusOK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
