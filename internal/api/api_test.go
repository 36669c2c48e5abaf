package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/postgres"
	"github.com/phoenix/platform/internal/store/postgres/pgtest"
	"github.com/phoenix/platform/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env is one API served over real HTTP on one store, with two tenants.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *api.API
	st     store.Store
	keyA   string // admin of tenant A
	keyB   string // admin of tenant B
	viewer string // viewer of tenant A
}

type storeKind struct {
	name string
	open func(t *testing.T) store.Store
}

func stores() []storeKind {
	return []storeKind{
		{"sqlite", func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), sqlite.DefaultOptions(t.TempDir()))
			require.NoError(t, err)
			return st
		}},
		{"postgres", func(t *testing.T) store.Store {
			opts := postgres.DefaultOptions(pgtest.DSN(t))
			opts.Schema = pgtest.Schema(t, "phoenix_apitest_")
			opts.MaxConns = 8
			opts.MinConns = 0
			st, err := postgres.Open(context.Background(), opts)
			require.NoError(t, err)
			return st
		}},
	}
}

func newEnv(t *testing.T, open func(t *testing.T) store.Store) *env {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	t.Cleanup(func() { _ = st.Close() })
	authz, err := auth.NewAuthorizer()
	require.NoError(t, err)
	svc := experiment.NewService(st, nil)
	catalog := pipeline.Default()
	svc.CheckPipeline = func(ctx context.Context, tenantID string, ref experiment.PipelineRef) error {
		_, err := fleet.ResolvePipeline(ctx, st, catalog, tenantID, ref)
		return err
	}
	authn := auth.NewAuthenticator(st, auth.Settings{})
	fl, err := fleet.New(st, authn, fleet.Config{ExternalURL: "http://127.0.0.1:1"}, fleet.Settings{})
	require.NoError(t, err)
	a := api.New(api.Deps{
		Store: st, Experiments: svc, Catalog: catalog, Fleet: fl,
		Authenticator: authn, Authorizer: authz, Version: "test",
	})
	e := &env{t: t, api: a, st: st, srv: httptest.NewServer(a.Handler())}
	t.Cleanup(e.srv.Close)
	for i, name := range []string{"tenant-a", "tenant-b"} {
		tn, err := st.TenantCreate(ctx, &store.TenantCreateParams{Name: name + "-" + store.NewID()})
		require.NoError(t, err)
		secret, _, err := auth.CreateAPIKey(ctx, st, tn.ID, "admin", store.RoleAdmin, "test", nil)
		require.NoError(t, err)
		if i == 0 {
			e.keyA = secret
			e.viewer, _, err = auth.CreateAPIKey(ctx, st, tn.ID, "viewer", store.RoleViewer, "test", nil)
			require.NoError(t, err)
		} else {
			e.keyB = secret
		}
	}
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	require.NotNil(t, e, "no error envelope in %s", r.body)
	return e["code"].(string)
}

func (e *env) do(key, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: raw}
}

func experimentBody(name string) map[string]any {
	return map[string]any{
		"name": name,
		"spec": map[string]any{
			"baseline":  map[string]any{"name": "process-baseline-v1"},
			"candidate": map[string]any{"name": "process-topk-v1", "params": map[string]any{"k": 10}},
			"target":    map[string]any{"hosts": []string{"web-1"}},
			"duration":  "5m",
		},
	}
}

const userPipeline = "name: keep-critical\nprocessors:\n  - phoenix_priority:\n      rules: [{priority: critical, executable: '^nginx$'}]\n  - filter/drop-low:\n      metrics:\n        resource: ['resource.attributes[\"phoenix.priority\"] == \"low\"']\n"

func forEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, sk := range stores() {
		t.Run(sk.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, sk.open))
		})
	}
}

func TestExperimentLifecycleOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do(e.keyA, "POST", "/api/v1/experiments", experimentBody("topk"))
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		exp := r.json(t)
		id := exp["id"].(string)
		require.Equal(t, "draft", exp["state"])
		require.Equal(t, `"1"`, r.header.Get("ETag"))
		require.Equal(t, "shadow", exp["spec"].(map[string]any)["mode"], "defaults are filled in")

		r = e.do(e.keyA, "GET", "/api/v1/experiments/"+id, nil)
		require.Equal(t, http.StatusOK, r.status)

		// Optimistic concurrency: a stale ETag is refused, a missing one too.
		r = e.do(e.keyA, "PATCH", "/api/v1/experiments/"+id, map[string]any{"name": "renamed"}, "If-Match", `"1"`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, `"2"`, r.header.Get("ETag"))
		r = e.do(e.keyA, "PATCH", "/api/v1/experiments/"+id, map[string]any{"name": "again"}, "If-Match", `"1"`)
		require.Equal(t, http.StatusPreconditionFailed, r.status, "%s", r.body)
		r = e.do(e.keyA, "PATCH", "/api/v1/experiments/"+id, map[string]any{"name": "again"})
		require.Equal(t, http.StatusPreconditionRequired, r.status, "%s", r.body)

		r = e.do(e.keyA, "POST", "/api/v1/experiments/"+id+"/start", nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "deploying", r.json(t)["state"])

		// Invalid transitions are 409 with the current state.
		r = e.do(e.keyA, "POST", "/api/v1/experiments/"+id+"/start", nil)
		require.Equal(t, http.StatusConflict, r.status)
		require.Equal(t, "deploying", r.json(t)["error"].(map[string]any)["details"].(map[string]any)["current_state"])
		r = e.do(e.keyA, "PATCH", "/api/v1/experiments/"+id, map[string]any{"name": "x"}, "If-Match", `"3"`)
		require.Equal(t, http.StatusConflict, r.status, "only drafts are editable: %s", r.body)
		r = e.do(e.keyA, "DELETE", "/api/v1/experiments/"+id, nil)
		require.Equal(t, http.StatusConflict, r.status, "active experiments cannot be deleted")

		r = e.do(e.keyA, "POST", "/api/v1/experiments/"+id+"/stop", map[string]any{"reason": "changed my mind"})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "cancelled", r.json(t)["state"])

		r = e.do(e.keyA, "GET", "/api/v1/experiments/"+id+"/events", nil)
		require.Equal(t, http.StatusOK, r.status)
		items := r.json(t)["items"].([]any)
		require.Len(t, items, 2)
		require.Equal(t, "changed my mind", items[1].(map[string]any)["reason"])

		r = e.do(e.keyA, "DELETE", "/api/v1/experiments/"+id, nil)
		require.Equal(t, http.StatusNoContent, r.status)
		r = e.do(e.keyA, "GET", "/api/v1/experiments/"+id, nil)
		require.Equal(t, http.StatusNotFound, r.status)
	})
}

func TestBadRequests(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		cases := []struct {
			name   string
			body   any
			status int
			code   string
			field  string
		}{
			{"not json", "{nope", 400, "VALIDATION_ERROR", ""},
			{"empty", "", 400, "VALIDATION_ERROR", ""},
			{"unknown field", `{"name":"x","colour":"red"}`, 400, "VALIDATION_ERROR", "colour"},
			{"two values", `{"name":"x"}{"name":"y"}`, 400, "VALIDATION_ERROR", ""},
			{"wrong type", `{"name":42}`, 400, "VALIDATION_ERROR", "name"},
			{"oversized", `{"name":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`, 413, "PAYLOAD_TOO_LARGE", ""},
			{"invalid spec", map[string]any{"name": "", "spec": map[string]any{"baseline": map[string]any{"name": "no-such"}, "candidate": map[string]any{"name": "process-topk-v1", "params": map[string]any{"k": 0}}}}, 400, "VALIDATION_ERROR", "spec.candidate"},
		}
		for _, c := range cases {
			r := e.do(e.keyA, "POST", "/api/v1/experiments", c.body)
			require.Equal(t, c.status, r.status, "%s: %s", c.name, r.body)
			require.Equal(t, c.code, r.errCode(t), c.name)
			if c.field != "" {
				require.Contains(t, string(r.body), `"field":"`+c.field+`"`, c.name)
			}
		}
		r := e.do(e.keyA, "POST", "/api/v1/pipelines/validate", map[string]any{"yaml": "name: x\nprocessors:\n  - phoenix_topq: {}\n"})
		require.Equal(t, 400, r.status)
		require.Contains(t, string(r.body), `yaml.processors[0]`)
		require.Contains(t, string(r.body), `phoenix_topq`)
	})
}

func TestAuthAndRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do("", "GET", "/api/v1/experiments", nil)
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, "UNAUTHORIZED", r.errCode(t))
		r = e.do("phx_notakey", "GET", "/api/v1/experiments", nil)
		require.Equal(t, http.StatusUnauthorized, r.status)
		r = e.do(e.viewer, "GET", "/api/v1/experiments", nil)
		require.Equal(t, http.StatusOK, r.status)
		r = e.do(e.viewer, "POST", "/api/v1/experiments", experimentBody("v"))
		require.Equal(t, http.StatusForbidden, r.status)
		r = e.do(e.viewer, "GET", "/api/v1/apikeys", nil)
		require.Equal(t, http.StatusForbidden, r.status)

		// A revoked key stops working.
		r = e.do(e.keyA, "POST", "/api/v1/apikeys", map[string]any{"name": "ci", "role": "editor"})
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		k := r.json(t)
		secret := k["secret"].(string)
		require.True(t, strings.HasPrefix(secret, "phx_"))
		require.Equal(t, http.StatusOK, e.do(secret, "GET", "/api/v1/experiments", nil).status)
		require.Equal(t, http.StatusOK, e.do(e.keyA, "DELETE", "/api/v1/apikeys/"+k["id"].(string), nil).status)
		require.Equal(t, http.StatusUnauthorized, e.do(secret, "GET", "/api/v1/experiments", nil).status)
		list := e.do(e.keyA, "GET", "/api/v1/apikeys", nil)
		require.NotContains(t, string(list.body), secret, "secrets are never listed")
	})
}

// TestTenantIsolation creates one of everything as tenant A and checks that
// tenant B sees none of it on any route: 404 by id, empty lists.
func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ids := map[string]string{}
		r := e.do(e.keyA, "POST", "/api/v1/experiments", experimentBody("a"))
		require.Equal(t, 201, r.status)
		ids["experiment"] = r.json(t)["id"].(string)
		r = e.do(e.keyA, "POST", "/api/v1/pipelines", map[string]any{"yaml": userPipeline})
		require.Equal(t, 201, r.status, "%s", r.body)
		ids["pipeline"] = r.json(t)["id"].(string)
		r = e.do(e.keyA, "POST", "/api/v1/deployments", map[string]any{"pipeline": map[string]any{"name": "keep-critical"}, "selector": map[string]string{"env": "prod"}})
		require.Equal(t, 201, r.status, "%s", r.body)
		ids["deployment"] = r.json(t)["id"].(string)
		r = e.do(e.keyA, "POST", "/api/v1/apikeys", map[string]any{"name": "x", "role": "viewer"})
		require.Equal(t, 201, r.status)
		ids["apikey"] = r.json(t)["id"].(string)
		r = e.do(e.keyA, "POST", "/api/v1/tokens", map[string]any{"name": "agents"})
		require.Equal(t, 201, r.status, "%s", r.body)
		ids["token"] = r.json(t)["id"].(string)
		_, err := e.st.AgentUpsert(context.Background(), &store.AgentUpsertParams{TenantID: tenantOf(t, e, e.keyA), InstanceUID: "agent-a", HostName: "web-1", Connected: true, SeenAt: time.Now()})
		require.NoError(t, err)
		ids["agent"] = "agent-a"
		ids["host"] = "web-1"

		// Every route that names a resource, tried by tenant B.
		seen := 0
		for _, rt := range e.api.Routes() {
			if !strings.Contains(rt.Path, "{") {
				continue
			}
			kind := kindOf(rt.Path)
			if kind == "catalog" {
				continue // shared by every tenant
			}
			id, ok := ids[kind]
			require.True(t, ok, "no %s created for %s", kind, rt.Path)
			path := strings.ReplaceAll(strings.ReplaceAll(rt.Path, "{id}", id), "{host}", id)
			body := any(nil)
			if rt.Method == "PATCH" {
				body = map[string]any{"name": "stolen", "version": 1}
			}
			if rt.Method == "PUT" {
				body = map[string]any{"yaml": userPipeline, "version": 1}
			}
			r := e.do(e.keyB, rt.Method, path, body)
			require.Equal(t, http.StatusNotFound, r.status, "%s %s as tenant B: %s", rt.Method, path, r.body)
			seen++
		}
		require.Greater(t, seen, 10)
		for _, p := range []string{"/api/v1/experiments", "/api/v1/pipelines", "/api/v1/deployments", "/api/v1/agents", "/api/v1/hosts", "/api/v1/tokens", "/api/v1/audit"} {
			r := e.do(e.keyB, "GET", p, nil)
			require.Equal(t, http.StatusOK, r.status, p)
			for _, id := range ids {
				require.NotContains(t, string(r.body), id, "%s of tenant B lists tenant A's %s", p, id)
			}
		}
		// And A still sees its own.
		require.Equal(t, http.StatusOK, e.do(e.keyA, "GET", "/api/v1/experiments/"+ids["experiment"], nil).status)
	})
}

func tenantOf(t *testing.T, e *env, key string) string {
	k, err := e.st.APIKeyGetByHash(context.Background(), auth.HashSecret(key))
	require.NoError(t, err)
	return k.TenantID
}

func kindOf(path string) string {
	seg := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")[0]
	return map[string]string{"experiments": "experiment", "pipelines": "pipeline", "deployments": "deployment",
		"agents": "agent", "hosts": "host", "apikeys": "apikey", "tokens": "token", "catalog": "catalog"}[seg]
}

func TestIdempotencyKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		body := experimentBody("once")
		r1 := e.do(e.keyA, "POST", "/api/v1/experiments", body, "Idempotency-Key", "create-once")
		require.Equal(t, 201, r1.status, "%s", r1.body)
		r2 := e.do(e.keyA, "POST", "/api/v1/experiments", body, "Idempotency-Key", "create-once")
		require.Equal(t, 201, r2.status)
		require.Equal(t, "true", r2.header.Get("Idempotent-Replayed"))
		require.JSONEq(t, string(r1.body), string(r2.body))
		list := e.do(e.keyA, "GET", "/api/v1/experiments", nil).json(t)["items"].([]any)
		require.Len(t, list, 1, "the replay created nothing")
		r3 := e.do(e.keyA, "POST", "/api/v1/experiments", experimentBody("other"), "Idempotency-Key", "create-once")
		require.Equal(t, http.StatusConflict, r3.status)
		// Keys are per tenant.
		r4 := e.do(e.keyB, "POST", "/api/v1/experiments", body, "Idempotency-Key", "create-once")
		require.Equal(t, 201, r4.status)
		require.NotEqual(t, r1.json(t)["id"], r4.json(t)["id"])
	})
}

func TestPipelinesAndDeployments(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do(e.keyA, "GET", "/api/v1/catalog", nil)
		require.Equal(t, 200, r.status)
		for _, name := range []string{"process-baseline-v1", "process-priority-filter-v1", "process-topk-v1", "process-aggregated-v1", "process-adaptive-filter-v1"} {
			require.Contains(t, string(r.body), `"name":"`+name+`"`)
		}
		require.Equal(t, 404, e.do(e.keyA, "GET", "/api/v1/catalog/nope", nil).status)

		r = e.do(e.keyA, "POST", "/api/v1/pipelines", map[string]any{"yaml": userPipeline})
		require.Equal(t, 201, r.status, "%s", r.body)
		p := r.json(t)
		require.Equal(t, 409, e.do(e.keyA, "POST", "/api/v1/pipelines", map[string]any{"yaml": userPipeline}).status, "names are unique per tenant")
		r = e.do(e.keyA, "PUT", "/api/v1/pipelines/"+p["id"].(string), map[string]any{"yaml": userPipeline, "version": 1})
		require.Equal(t, 200, r.status, "%s", r.body)
		require.Equal(t, 412, e.do(e.keyA, "PUT", "/api/v1/pipelines/"+p["id"].(string), map[string]any{"yaml": userPipeline, "version": 1}).status)

		// An experiment may use the user pipeline by name.
		body := experimentBody("user")
		body["spec"].(map[string]any)["candidate"] = map[string]any{"name": "keep-critical"}
		require.Equal(t, 201, e.do(e.keyA, "POST", "/api/v1/experiments", body).status)

		r = e.do(e.keyA, "POST", "/api/v1/deployments", map[string]any{"pipeline": map[string]any{"name": "process-topk-v1", "params": map[string]any{"k": 2000}}, "selector": map[string]string{}})
		require.Equal(t, 400, r.status)
		require.Contains(t, string(r.body), "pipeline.params.")
		require.Contains(t, string(r.body), `"field":"selector"`)

		r = e.do(e.keyA, "POST", "/api/v1/deployments", map[string]any{"pipeline": map[string]any{"name": "process-baseline-v1"}, "selector": map[string]string{"env": "prod"}})
		require.Equal(t, 201, r.status, "%s", r.body)
		first := r.json(t)
		require.Equal(t, "pending", first["state"])
		r = e.do(e.keyA, "POST", "/api/v1/deployments/"+first["id"].(string)+"/rollback", nil)
		require.Equal(t, 200, r.status, "%s", r.body)
		require.Equal(t, "rolled_back", r.json(t)["state"], "hosts return to what ran before: here the baseline")
		r = e.do(e.keyA, "POST", "/api/v1/deployments/"+first["id"].(string)+"/rollback", nil)
		require.Equal(t, 200, r.status, "rollback is idempotent: %s", r.body)
		require.Equal(t, "rolled_back", r.json(t)["state"])
	})
}

func TestOpenAPIGolden(t *testing.T) {
	e := newEnv(t, stores()[0].open)
	r := e.do("", "GET", "/api/v1/openapi.json", nil)
	require.Equal(t, 200, r.status)
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, r.body, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/api -run TestOpenAPIGolden -update")
	require.JSONEq(t, string(want), string(r.body), "the OpenAPI document changed; review and run with -update")

	// Every documented operation is served (answers with something other
	// than the mux's "no route").
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc))
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			p := strings.NewReplacer("{id}", "x", "{name}", "x").Replace(path)
			r := e.do(e.keyA, strings.ToUpper(method), p, "{}")
			require.NotContains(t, string(r.body), "no route", "%s %s", method, path)
			n++
		}
	}
	require.Equal(t, len(e.api.Routes()), n)
	require.Equal(t, 200, e.do("", "GET", "/api/v1/docs", nil).status)
}
