package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestScopeExprRewritesEverySelector(t *testing.T) {
	t.Parallel()
	p := parser.NewParser(parser.Options{})
	for _, tc := range []struct{ in, want string }{
		{`up`, `up{tenant="a"}`},
		{`up{tenant="b"}`, `up{tenant="a"}`},
		{`up{tenant=~".*",tenant!="a"}`, `up{tenant="a"}`},
		{`{__name__=~"phoenix_.+"}`, `{__name__=~"phoenix_.+",tenant="a"}`},
		{`{tenant="b"}`, `{tenant="a"}`},
		{`rate(phoenix_pipeline_output_datapoints_total{host="h"}[5m])`, `rate(phoenix_pipeline_output_datapoints_total{host="h",tenant="a"}[5m])`},
		{`sum by (variant) (rate(x[5m])) / on (variant) sum by (variant) (y offset 1h)`,
			`sum by (variant) (rate(x{tenant="a"}[5m])) / on (variant) sum by (variant) (y{tenant="a"} offset 1h)`},
		{`max_over_time(rate(x{tenant="b"}[1m])[10m:1m])`, `max_over_time(rate(x{tenant="a"}[1m])[10m:1m])`},
		{`label_replace(x, "tenant", "b", "", "")`, `label_replace(x{tenant="a"}, "tenant", "b", "", "")`},
		{`absent(nope{tenant="b"})`, `absent(nope{tenant="a"})`},
		{`x @ 1700000000`, `x{tenant="a"} @ 1700000000.000`},
		{`1 + 1`, `1 + 1`},
	} {
		expr, err := p.ParseExpr(tc.in)
		require.NoError(t, err, tc.in)
		got := scopeExpr(expr, "a")
		require.Equal(t, tc.want, got, tc.in)
		_, err = p.ParseExpr(got)
		require.NoError(t, err, "the rewritten query parses: %s", got)
	}

	// A tenant with characters to escape stays one string.
	expr, err := p.ParseExpr(`up`)
	require.NoError(t, err)
	require.Equal(t, `up{tenant="a\"} or vector(1) or up{x=\"y"}`, scopeExpr(expr, `a"} or vector(1) or up{x="y`))
}

// isolationEnv has tenants a and b writing the same metric name, and b a
// metric of its own.
func isolationEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, Options{}, WriteConfig{})
	for _, w := range []struct {
		token string
		value float64
	}{{"token-a", 1}, {"token-b", 2}} {
		status, body := e.write(t, w.token,
			series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), smp(t0, w.value)),
			series(contract("phoenix_pipeline_output_datapoints_total", "host-1", "baseline"), smp(t0, 10*w.value), smp(t0.Add(time.Minute), 70*w.value)),
		)
		require.Equal(t, http.StatusNoContent, status, body)
	}
	status, body := e.write(t, "token-b",
		series(contract("phoenix_agent_memory_bytes", "host-b", "baseline", "tenant", "a"), smp(t0, 99)))
	require.Equal(t, http.StatusNoContent, status, body)
	return e
}

type apiAnswer struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func decodeAnswer(t *testing.T, body string) apiAnswer {
	t.Helper()
	var a apiAnswer
	require.NoError(t, json.Unmarshal([]byte(body), &a), body)
	return a
}

func TestAPITenantIsolation(t *testing.T) {
	t.Parallel()
	e := isolationEnv(t)
	at := strconvTime(t0.Add(time.Minute))

	// Queries of tenant a over what only b wrote, however written.
	for _, q := range []string{
		`phoenix_agent_memory_bytes`,
		`phoenix_agent_memory_bytes{tenant="b"}`,
		`phoenix_agent_memory_bytes{tenant=~"a|b"}`,
		`phoenix_agent_memory_bytes{tenant!="a"}`,
		`{__name__="phoenix_agent_memory_bytes",tenant="b"}`,
		`sum(phoenix_agent_memory_bytes{tenant="b"})`,
		`max_over_time(phoenix_agent_memory_bytes{tenant="b"}[1h:1m])`,
		`{host="host-b"}`,
	} {
		status, body := e.get(t, "token-a", "query", url.Values{"query": {q}, "time": {at}})
		require.Equal(t, http.StatusOK, status, body)
		require.JSONEq(t, `{"resultType":"vector","result":[]}`, string(decodeAnswer(t, body).Data), q)
	}

	// What both wrote: each tenant sees its own only.
	for token, want := range map[string]string{"token-a": "1", "token-b": "2"} {
		status, body := e.get(t, token, "query", url.Values{"query": {`count by (tenant) ({__name__=~".+"})`}, "time": {at}})
		require.Equal(t, http.StatusOK, status, body)
		n := map[string]string{"token-a": "2", "token-b": "3"}[token]
		tenant := tokens[token]
		require.JSONEq(t, `{"resultType":"vector","result":[{"metric":{"tenant":"`+tenant+`"},"value":[`+at+`,"`+n+`"]}]}`, string(decodeAnswer(t, body).Data))

		status, body = e.get(t, token, "query", url.Values{"query": {`phoenix_pipeline_output_series{tenant="b"}`}, "time": {at}})
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, string(decodeAnswer(t, body).Data), `"value":[`+at+`,"`+want+`"]`)
	}

	status, body := e.get(t, "token-a", "query_range", url.Values{
		"query": {`rate(phoenix_pipeline_output_datapoints_total{tenant="b"}[5m]) or phoenix_agent_memory_bytes`},
		"start": {strconvTime(t0)}, "end": {at}, "step": {"30"},
	})
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, `"tenant":"b"`)
	require.NotContains(t, body, "phoenix_agent_memory_bytes")

	// Series and labels endpoints.
	for _, tc := range []struct {
		path   string
		params url.Values
		want   string
	}{
		{"series", url.Values{"match[]": {`phoenix_agent_memory_bytes{tenant="b"}`, `{host="host-b"}`}}, `[]`},
		{"series", url.Values{"match[]": {`{__name__=~"phoenix_.+",tenant="b"}`}}, `[
			{"__name__":"phoenix_pipeline_output_datapoints_total","experiment":"exp-1","host":"host-1","tenant":"a","variant":"baseline"},
			{"__name__":"phoenix_pipeline_output_series","experiment":"exp-1","host":"host-1","tenant":"a","variant":"baseline"}]`},
		{"labels", nil, `["__name__","experiment","host","tenant","variant"]`},
		{"labels", url.Values{"match[]": {`phoenix_agent_memory_bytes`}}, `[]`},
		{"label/__name__/values", nil, `["phoenix_pipeline_output_datapoints_total","phoenix_pipeline_output_series"]`},
		{"label/tenant/values", nil, `["a"]`},
		{"label/host/values", url.Values{"match[]": {`{tenant="b"}`}}, `["host-1"]`},
		{"label/host/values", nil, `["host-1"]`},
	} {
		status, body := e.get(t, "token-a", tc.path, tc.params)
		require.Equal(t, http.StatusOK, status, body)
		require.JSONEq(t, tc.want, string(decodeAnswer(t, body).Data), "%s %v", tc.path, tc.params)
	}

	// The same through a Source scoped to one tenant.
	got, err := e.st.ForTenant("a").Query(context.Background(), `phoenix_agent_memory_bytes{tenant="b"}`, t0)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = e.st.ForTenant("b").QueryRange(context.Background(), `phoenix_agent_memory_bytes`, t0, t0, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "b", got[0].Labels["tenant"])
	// The store itself sees every tenant.
	require.Len(t, query(t, e.st, `phoenix_pipeline_output_series`, t0), 2)
}

func TestTenantQuerierEnforcesTheTenantWithoutRewrite(t *testing.T) {
	t.Parallel()
	e := isolationEnv(t)
	// Evaluate an unrewritten query against the tenant-restricted
	// storage: the storage alone keeps tenant a away from b's series.
	res, err := e.st.instant(context.Background(), scopeQueryable(e.st.db, "a"), `phoenix_agent_memory_bytes{tenant="b"} or phoenix_pipeline_output_series`, t0)
	require.NoError(t, err)
	got, err := toSeries(res)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Labels["tenant"])
	require.Equal(t, "phoenix_pipeline_output_series", got[0].Labels["__name__"])
}

func strconvTime(t time.Time) string { return string(appendTimestamp(nil, t.UnixMilli())) }
