package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/client"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/server"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/version"
)

// stuckDeployer never finishes deploying, so experiments stay where the
// tests put them; promotions succeed without a fleet.
type stuckDeployer struct{}

func (stuckDeployer) Deploy(context.Context, *experiment.Experiment) (experiment.DeployStatus, error) {
	return experiment.DeployStatus{Message: "waiting for agents"}, nil
}
func (stuckDeployer) Teardown(context.Context, *experiment.Experiment) error { return nil }
func (stuckDeployer) Promote(context.Context, *experiment.Experiment, string) (string, error) {
	return "", nil
}
func (stuckDeployer) Unpromote(context.Context, *experiment.Experiment, string) error { return nil }

// noAnalyzer has no measurements to analyse.
type noAnalyzer struct{}

func (noAnalyzer) Analyze(context.Context, *experiment.Experiment, bool) (*experiment.Analysis, error) {
	return nil, errors.New("no measurements in this test")
}

// startServer runs a real phoenix server on SQLite in a temporary
// directory and returns it with its bootstrap admin key.
func startServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: io.Discard, Deployer: stuckDeployer{}, Analyzer: noAnalyzer{}})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("server did not shut down")
		}
	})
	require.NotEmpty(t, srv.BootstrapKey)
	return srv, srv.BootstrapKey
}

func asError(t *testing.T, err error) *client.Error {
	t.Helper()
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	return ce
}

func TestClientAgainstServer(t *testing.T) {
	srv, key := startServer(t)
	ctx := context.Background()
	c := client.New(srv.Addr(), key, client.WithVersion("test"))
	require.Equal(t, "http://"+srv.Addr(), c.BaseURL(), "a host:port gets http://")

	v, err := c.Version(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, v.Version)
	require.NotEmpty(t, v.GoVersion)

	t.Run("unauthorized", func(t *testing.T) {
		_, err := client.New(srv.Addr(), "phx_wrong").Version(ctx)
		ce := asError(t, err)
		require.Equal(t, http.StatusUnauthorized, ce.Status)
		require.Equal(t, apierror.CodeUnauthorized, ce.Code)
		require.NotEmpty(t, ce.RequestID)
		require.Equal(t, "GET", ce.Method)
		require.Equal(t, "/api/v1/version", ce.Path)
	})

	t.Run("catalog", func(t *testing.T) {
		list, err := c.CatalogList(ctx)
		require.NoError(t, err)
		var names []string
		for _, tpl := range list.Items {
			names = append(names, tpl.Name)
		}
		require.Contains(t, names, "process-topk-v1")
		tpl, err := c.CatalogGet(ctx, "process-topk-v1")
		require.NoError(t, err)
		require.Equal(t, "topk", tpl.Strategy)
		require.NotEmpty(t, tpl.Params)
		_, err = c.CatalogGet(ctx, "nope")
		require.True(t, client.IsNotFound(err), "%v", err)
	})

	t.Run("pipelines", func(t *testing.T) {
		ok, err := c.PipelineValidate(ctx, api.PipelineValidate{Catalog: "process-topk-v1", Params: map[string]any{"k": 5}})
		require.NoError(t, err)
		require.True(t, ok.Valid)
		_, err = c.PipelineValidate(ctx, api.PipelineValidate{Catalog: "process-topk-v1", Params: map[string]any{"k": 0}})
		ce := asError(t, err)
		require.Equal(t, apierror.CodeValidation, ce.Code)
		require.NotEmpty(t, ce.Fields)
		require.Contains(t, ce.Fields[0].Field, "k")

		doc := "name: my-filter\nprocessors:\n  - phoenix_priority:\n      rules:\n        - {priority: critical, executable: '^nginx$'}\n      default_priority: low\n"
		p, err := c.PipelineCreate(ctx, doc)
		require.NoError(t, err)
		require.Equal(t, "my-filter", p.Name)
		require.EqualValues(t, 1, p.Version)
		_, err = c.PipelineCreate(ctx, doc)
		require.Equal(t, apierror.CodeConflict, asError(t, err).Code)

		got, err := c.PipelineGet(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, doc, got.YAML)
		list, err := c.PipelineList(ctx, client.PipelineListParams{NamePrefix: "my-"})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)

		doc2 := "name: my-filter\ndescription: tighter\nprocessors:\n  - phoenix_priority:\n      rules:\n        - {priority: critical, executable: '^java$'}\n      default_priority: low\n"
		_, err = c.PipelineReplace(ctx, p.ID, doc2, 7)
		require.Equal(t, apierror.CodePrecondition, asError(t, err).Code, "a stale version is refused")
		up, err := c.PipelineReplace(ctx, p.ID, doc2, p.Version)
		require.NoError(t, err)
		require.Equal(t, "tighter", up.Description)
		require.NoError(t, c.PipelineDelete(ctx, p.ID))
		_, err = c.PipelineGet(ctx, p.ID)
		require.True(t, client.IsNotFound(err))
	})

	t.Run("experiments", func(t *testing.T) {
		in := api.ExperimentCreate{Name: "topk-trial", Spec: experiment.Spec{
			Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
			Candidate: experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 10}},
			Target:    experiment.Target{Hosts: []string{"web-1"}},
			Duration:  experiment.Duration(5 * time.Minute),
		}}
		e, err := c.ExperimentCreate(ctx, in)
		require.NoError(t, err)
		require.Equal(t, "draft", e.State)
		require.Equal(t, experiment.Duration(5*time.Minute), e.Spec.Duration)
		require.NotEmpty(t, e.Spec.CriticalProcesses, "the server fills defaults in")

		bad := in
		bad.Spec.Candidate.Name = "no-such-pipeline"
		bad.Spec.Duration = experiment.Duration(time.Second)
		_, err = c.ExperimentCreate(ctx, bad)
		ce := asError(t, err)
		require.Equal(t, apierror.CodeValidation, ce.Code)
		var fields []string
		for _, f := range ce.Fields {
			fields = append(fields, f.Field)
		}
		require.ElementsMatch(t, []string{"spec.candidate", "spec.duration"}, fields)
		require.Contains(t, ce.Error(), "spec.duration: must be at least 30s")

		name := "renamed"
		up, err := c.ExperimentUpdate(ctx, e.ID, api.ExperimentUpdate{Version: e.Version, Name: &name})
		require.NoError(t, err)
		require.Equal(t, "renamed", up.Name)

		second, err := c.ExperimentCreate(ctx, in)
		require.NoError(t, err)
		var ids []string
		for x, err := range c.ExperimentAll(ctx, client.ExperimentListParams{Limit: 1}) {
			require.NoError(t, err)
			ids = append(ids, x.ID)
		}
		require.Equal(t, []string{second.ID, e.ID}, ids, "pages of one are followed, newest first")

		_, err = c.ExperimentAnalysis(ctx, e.ID)
		require.True(t, client.IsNotFound(err), "a draft has no analysis: %v", err)

		started, err := c.ExperimentStart(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, "deploying", started.State)
		_, err = c.ExperimentStart(ctx, e.ID)
		ce = asError(t, err)
		require.Equal(t, apierror.CodeConflict, ce.Code)
		require.Equal(t, "deploying", ce.Details["current_state"])

		list, err := c.ExperimentList(ctx, client.ExperimentListParams{States: []string{"deploying"}})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		require.Equal(t, e.ID, list.Items[0].ID)

		err = c.ExperimentDelete(ctx, e.ID)
		require.Equal(t, apierror.CodeConflict, asError(t, err).Code, "an active experiment cannot be deleted")
		stopped, err := c.ExperimentStop(ctx, e.ID, "enough")
		require.NoError(t, err)
		require.Equal(t, "cancelled", stopped.State)
		evs, err := c.ExperimentEvents(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, evs.Items, 2)
		require.Equal(t, "enough", evs.Items[1].Reason)

		_, err = c.ExperimentPromote(ctx, e.ID, false)
		require.Equal(t, apierror.CodeConflict, asError(t, err).Code, "a cancelled experiment cannot be promoted")
		_, err = c.ExperimentRollback(ctx, e.ID)
		require.Equal(t, apierror.CodeConflict, asError(t, err).Code)
		require.NoError(t, c.ExperimentDelete(ctx, e.ID))
		_, err = c.ExperimentGet(ctx, e.ID)
		require.True(t, client.IsNotFound(err))
	})

	t.Run("analysis", func(t *testing.T) {
		e, err := c.ExperimentCreate(ctx, api.ExperimentCreate{Name: "with-result", Spec: experiment.Spec{
			Baseline: experiment.PipelineRef{Name: "process-baseline-v1"}, Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
			Target: experiment.Target{Hosts: []string{"web-1"}},
		}})
		require.NoError(t, err)
		tenant := tenantOf(t, srv, key)
		_, err = srv.Store().ExperimentSetResult(ctx, &store.ExperimentSetResultParams{
			TenantID: tenant, ID: e.ID, Result: json.RawMessage(`{"verdict":"reject","final":true,"interim":false,"kpis":[{"name":"output_series","unit":"series","baseline":100,"candidate":null}]}`),
		})
		require.NoError(t, err)
		a, err := c.ExperimentAnalysis(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, "reject", a.Verdict)
		require.True(t, a.Final)
		require.Len(t, a.KPIs, 1)
		require.EqualValues(t, 100, a.KPIs[0].Baseline)
		require.True(t, a.KPIs[0].Candidate != a.KPIs[0].Candidate, "null reads as NaN")
		require.JSONEq(t, string(a.Raw), `{"verdict":"reject","final":true,"interim":false,"kpis":[{"name":"output_series","unit":"series","baseline":100,"candidate":null}]}`)

		// Drive a second experiment to a promote verdict, then promote it
		// and roll the promotion back.
		w, err := c.ExperimentCreate(ctx, api.ExperimentCreate{Name: "winner", Spec: e.Spec})
		require.NoError(t, err)
		_, err = c.ExperimentStart(ctx, w.ID)
		require.NoError(t, err)
		for _, step := range []struct {
			from, to string
			result   string
		}{{"deploying", "running", ""}, {"running", "analyzing", ""}, {"analyzing", "completed", `{"verdict":"promote","final":true}`}} {
			p := &store.ExperimentTransitionParams{TenantID: tenant, ID: w.ID, From: step.from, To: step.to, Actor: "test",
				SetStarted: step.to == "running", SetEnded: step.to == "completed"}
			if step.result != "" {
				p.Result = json.RawMessage(step.result)
			}
			_, _, err := srv.Store().ExperimentTransition(ctx, p)
			require.NoError(t, err)
		}
		pr, err := c.ExperimentPromote(ctx, w.ID, false)
		require.NoError(t, err)
		require.Equal(t, "promoted", pr.State)
		rb, err := c.ExperimentRollback(ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, "completed", rb.State)
		require.Equal(t, "promote", rb.Verdict)
	})

	t.Run("deployments", func(t *testing.T) {
		d, err := c.DeploymentCreate(ctx, api.DeploymentCreate{
			Pipeline: experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": "15"}},
			Selector: map[string]string{"env": "prod"},
		})
		require.NoError(t, err)
		require.Equal(t, "pending", d.State)
		_, err = c.DeploymentCreate(ctx, api.DeploymentCreate{Pipeline: experiment.PipelineRef{Name: "process-topk-v1"}})
		require.Equal(t, "selector", asError(t, err).Fields[0].Field)
		got, err := c.DeploymentGet(ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"env": "prod"}, got.Selector)
		var n int
		for _, err := range c.DeploymentAll(ctx, client.DeploymentListParams{Pipeline: "process-topk-v1", Limit: 1}) {
			require.NoError(t, err)
			n++
		}
		require.Equal(t, 1, n)
		rb, err := c.DeploymentRollback(ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, d.ID, rb.ID)
		require.Equal(t, "rolled_back", rb.State)
		_, err = c.DeploymentRollback(ctx, "nope")
		require.True(t, client.IsNotFound(err))
	})

	t.Run("agents", func(t *testing.T) {
		tenant := tenantOf(t, srv, key)
		_, err := srv.Store().AgentUpsert(ctx, &store.AgentUpsertParams{TenantID: tenant, InstanceUID: "agent-1", HostName: "web-1", Healthy: true, Connected: true})
		require.NoError(t, err)
		yes := true
		list, err := c.AgentList(ctx, client.AgentListParams{Connected: &yes})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		a, err := c.AgentGet(ctx, "agent-1")
		require.NoError(t, err)
		require.Equal(t, "web-1", a.HostName)
		var hosts []string
		for a, err := range c.AgentAll(ctx, client.AgentListParams{Host: "web-1"}) {
			require.NoError(t, err)
			hosts = append(hosts, a.HostName)
		}
		require.Equal(t, []string{"web-1"}, hosts)
		_, err = c.AgentGet(ctx, "agent-2")
		require.True(t, client.IsNotFound(err))
	})

	t.Run("keys and tokens", func(t *testing.T) {
		k, err := c.APIKeyCreate(ctx, api.APIKeyCreate{Name: "ci", Role: "viewer"})
		require.NoError(t, err)
		require.NotEmpty(t, k.Secret)
		viewer := client.New(srv.Addr(), k.Secret)
		_, err = viewer.ExperimentList(ctx, client.ExperimentListParams{})
		require.NoError(t, err)
		_, err = viewer.APIKeyCreate(ctx, api.APIKeyCreate{Name: "x", Role: "admin"})
		require.Equal(t, http.StatusForbidden, asError(t, err).Status)
		keys, err := c.APIKeyList(ctx)
		require.NoError(t, err)
		require.Len(t, keys.Items, 2)
		for _, it := range keys.Items {
			require.Empty(t, it.Secret)
		}
		rk, err := c.APIKeyRevoke(ctx, k.ID)
		require.NoError(t, err)
		require.NotNil(t, rk.RevokedAt)
		_, err = viewer.ExperimentList(ctx, client.ExperimentListParams{})
		require.Equal(t, http.StatusUnauthorized, asError(t, err).Status)

		tok, err := c.TokenCreate(ctx, api.TokenCreate{Name: "prod", Labels: map[string]string{"env": "prod"}})
		require.NoError(t, err)
		require.NotEmpty(t, tok.Secret)
		toks, err := c.TokenList(ctx)
		require.NoError(t, err)
		require.Len(t, toks.Items, 1)
		rt, err := c.TokenRevoke(ctx, tok.ID)
		require.NoError(t, err)
		require.NotNil(t, rt.RevokedAt)
		_, err = c.TokenRevoke(ctx, "nope")
		require.True(t, client.IsNotFound(err))
	})
}

func tenantOf(t *testing.T, srv *server.Server, key string) string {
	t.Helper()
	k, err := srv.Store().APIKeyGetByHash(context.Background(), auth.HashSecret(key))
	require.NoError(t, err)
	return k.TenantID
}

// fake records requests and answers them from a script.
type fake struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	answer   func(n int, w http.ResponseWriter, r *http.Request)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, string(b))
	n := len(f.requests)
	f.mu.Unlock()
	f.answer(n, w, r)
}

func (f *fake) req(i int) *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[i]
}

func (f *fake) body(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func TestClientHeadersRetriesAndErrors(t *testing.T) {
	ctx := context.Background()
	fast := client.WithRetries(2, time.Millisecond)

	t.Run("headers", func(t *testing.T) {
		f := &fake{answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"version":"v9","go_version":"go1"}`)
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		v, err := client.New(srv.URL+"/", "phx_k", client.WithVersion("1.2.3")).Version(ctx)
		require.NoError(t, err)
		require.Equal(t, "v9", v.Version)
		r := f.req(0)
		require.Equal(t, "phoenix-cli/1.2.3", r.Header.Get("User-Agent"))
		require.Equal(t, "Bearer phx_k", r.Header.Get("Authorization"))
		require.Equal(t, "/api/v1/version", r.URL.Path, "a trailing slash of the base URL is dropped")
		_, err = client.New(srv.URL, "phx_k").Version(ctx)
		require.NoError(t, err)
		require.Equal(t, "phoenix-cli/"+version.Version, f.req(1).Header.Get("User-Agent"), "the build's version by default")
	})

	t.Run("GET is retried on 503, then succeeds", func(t *testing.T) {
		f := &fake{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, `{"items":[]}`)
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		_, err := client.New(srv.URL, "k", fast).ExperimentList(ctx, client.ExperimentListParams{States: []string{"running", "draft"}, Limit: 7, Cursor: "c1"})
		require.NoError(t, err)
		require.Equal(t, 3, f.count())
		require.Equal(t, "cursor=c1&limit=7&state=running&state=draft", f.req(0).URL.RawQuery)
	})

	t.Run("retries give up", func(t *testing.T) {
		f := &fake{answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		_, err := client.New(srv.URL, "k", fast).AgentGet(ctx, "a/b")
		ce := asError(t, err)
		require.Equal(t, 502, ce.Status)
		require.Empty(t, ce.Code, "not an API error")
		require.Equal(t, "Bad Gateway: <html>bad gateway</html>", ce.Message)
		require.Equal(t, 3, f.count())
		require.Equal(t, "/api/v1/agents/a%2Fb", f.req(0).URL.EscapedPath(), "IDs are escaped")
	})

	t.Run("a create keeps its idempotency key across retries", func(t *testing.T) {
		f := &fake{answer: func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.WriteHeader(http.StatusGatewayTimeout)
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"e1","name":"x","state":"draft","spec":{"baseline":{"name":"a"},"candidate":{"name":"b"},"target":{},"duration":"5m","criteria":{"min_reduction":0,"max_overhead":0,"critical_retention":0,"confidence_level":0,"min_runtime":"0s"}},"version":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`)
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		e, err := client.New(srv.URL, "k", fast).ExperimentCreate(ctx, api.ExperimentCreate{Name: "x"})
		require.NoError(t, err)
		require.Equal(t, experiment.Duration(5*time.Minute), e.Spec.Duration)
		require.Equal(t, 2, f.count())
		k1, k2 := f.req(0).Header.Get("Idempotency-Key"), f.req(1).Header.Get("Idempotency-Key")
		require.Len(t, k1, 32)
		require.Equal(t, k1, k2)
		require.Equal(t, f.body(0), f.body(1))
		require.Equal(t, "application/json", f.req(0).Header.Get("Content-Type"))
	})

	t.Run("an action is not retried", func(t *testing.T) {
		f := &fake{answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":"UNAVAILABLE","message":"promotion needs the fleet, which is not running"},"request_id":"r-1"}`)
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		_, err := client.New(srv.URL, "k", fast).ExperimentPromote(ctx, "e1", true)
		ce := asError(t, err)
		require.Equal(t, 1, f.count())
		require.Equal(t, apierror.CodeUnavailable, ce.Code)
		require.Equal(t, "r-1", ce.RequestID)
		require.Equal(t, `{"force":true}`, f.body(0))
		require.Equal(t, "promotion needs the fleet, which is not running (UNAVAILABLE, HTTP 503)", ce.Error())
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		_, err := client.New(srv.URL, "k", client.WithTimeout(50*time.Millisecond), client.WithRetries(0, 0)).Version(ctx)
		require.Error(t, err)
		var ce *client.Error
		require.False(t, errors.As(err, &ce), "no answer is not a server error")
		require.EqualValues(t, 1, hits.Load())
	})

	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		_, err := client.New(addr, "k", fast).Version(ctx)
		require.ErrorContains(t, err, "GET "+addr+"/api/v1/version")
	})

	t.Run("bad server URL", func(t *testing.T) {
		for _, u := range []string{"", "ftp://x", "http://", "http://h/?q=1"} {
			_, err := client.New(u, "k").Version(ctx)
			require.Error(t, err, u)
		}
		u, err := client.ParseServerURL("https://phoenix.example.com/base/")
		require.NoError(t, err)
		require.Equal(t, "https://phoenix.example.com/base", u.String())
	})
}
