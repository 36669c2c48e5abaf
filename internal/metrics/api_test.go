package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// grafanaEnv holds a few minutes of two variants' measurements of tenant a,
// and one series of tenant b.
func grafanaEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, Options{}, WriteConfig{})
	var ss []prompb.TimeSeries
	for i, variant := range []string{"baseline", "candidate"} {
		var dps, out []prompb.Sample
		for m := range 6 {
			at := t0.Add(time.Duration(m) * time.Minute)
			dps = append(dps, smp(at, float64(m*(600-200*i))))
			out = append(out, smp(at, float64(1000-400*i)+0.25))
		}
		ss = append(ss,
			series(contract("phoenix_pipeline_output_datapoints_total", "host-1", variant), dps...),
			series(contract("phoenix_pipeline_output_series", "host-1", variant), out...))
	}
	status, body := e.write(t, "token-a", ss...)
	require.Equal(t, http.StatusNoContent, status, body)
	status, body = e.write(t, "token-b", series(contract("phoenix_pipeline_output_series", "host-9", "baseline"), smp(t0, 5)))
	require.Equal(t, http.StatusNoContent, status, body)
	return e
}

// TestAPIGolden pins the JSON of each endpoint Grafana uses, in the shape
// Prometheus answers. Rewrite with: go test ./internal/metrics -run TestAPIGolden -update
func TestAPIGolden(t *testing.T) {
	t.Parallel()
	e := grafanaEnv(t)
	at := strconvTime(t0.Add(5 * time.Minute))
	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		params url.Values
		status int
	}{
		{"query_vector", "GET", "query", "token-a", url.Values{"query": {`phoenix_pipeline_output_series`}, "time": {at}}, 200},
		{"query_vector_post", "POST", "query", "token-a", url.Values{"query": {`sum by (variant) (phoenix_pipeline_output_series)`}, "time": {at}}, 200},
		{"query_scalar", "GET", "query", "token-a", url.Values{"query": {`scalar(sum(phoenix_pipeline_output_series))`}, "time": {at}}, 200},
		{"query_string", "GET", "query", "token-a", url.Values{"query": {`"phoenix"`}, "time": {"1767268800.5"}}, 200},
		{"query_special_values", "GET", "query", "token-a", url.Values{"query": {`phoenix_pipeline_output_series{variant="baseline"} / 0 or -phoenix_pipeline_output_series{variant="candidate"} / 0 or vector(0/0) or label_replace(vector(1e-7), "v", "small", "", "") or label_replace(vector(-1e21), "v", "large", "", "")`}, "time": {at}}, 200},
		{"query_info_annotation", "GET", "query", "token-a", url.Values{"query": {`rate(phoenix_pipeline_output_series[5m])`}, "time": {at}}, 200},
		{"query_range_matrix", "GET", "query_range", "token-a", url.Values{
			"query": {`sum by (variant) (rate(phoenix_pipeline_output_datapoints_total[2m]))`},
			"start": {strconvTime(t0.Add(2 * time.Minute))}, "end": {at}, "step": {"60"}}, 200},
		{"query_range_post", "POST", "query_range", "token-a", url.Values{
			"query": {`phoenix_pipeline_output_series{variant="candidate"}`},
			"start": {t0.Add(4 * time.Minute).Format(time.RFC3339)}, "end": {t0.Add(5 * time.Minute).Format(time.RFC3339)}, "step": {"30s"}}, 200},
		{"series", "GET", "series", "token-a", url.Values{"match[]": {`{__name__=~"phoenix_pipeline_.+"}`}, "start": {strconvTime(t0)}, "end": {at}}, 200},
		{"series_post", "POST", "series", "token-a", url.Values{"match[]": {`phoenix_pipeline_output_series`, `phoenix_pipeline_output_series{variant="baseline"}`}}, 200},
		{"labels", "GET", "labels", "token-a", url.Values{"start": {strconvTime(t0)}, "end": {at}}, 200},
		{"labels_match", "POST", "labels", "token-a", url.Values{"match[]": {`phoenix_pipeline_output_series`}}, 200},
		{"label_values", "GET", "label/variant/values", "token-a", nil, 200},
		{"label_values_name", "GET", "label/__name__/values", "token-a", url.Values{"start": {strconvTime(t0)}, "end": {at}}, 200},
		{"error_parse", "GET", "query", "token-a", url.Values{"query": {`sum(`}}, 400},
		{"error_range_step", "GET", "query_range", "token-a", url.Values{"query": {`up`}, "start": {"0"}, "end": {"10"}, "step": {"0"}}, 400},
		{"error_range_resolution", "GET", "query_range", "token-a", url.Values{"query": {`up`}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}, 400},
		{"error_range_vector", "GET", "query_range", "token-a", url.Values{"query": {`up[5m]`}, "start": {"0"}, "end": {"10"}, "step": {"1"}}, 400},
		{"error_time", "GET", "query", "token-a", url.Values{"query": {`up`}, "time": {"yesterday"}}, 400},
		{"error_series_no_match", "GET", "series", "token-a", nil, 400},
		{"error_series_empty_matcher", "GET", "series", "token-a", url.Values{"match[]": {`{variant=~".*"}`}}, 400},
		{"error_label_name", "GET", "label/%FF/values", "token-a", nil, 400},
		{"error_unauthorized", "GET", "query", "token-x", url.Values{"query": {`up`}}, 401},
		{"error_forbidden", "GET", "labels", "read-only", nil, 403},
		{"error_not_found", "GET", "targets", "token-a", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			var err error
			if tc.method == http.MethodPost {
				req, err = http.NewRequest(http.MethodPost, e.srv.URL+APIPrefix+tc.path, strings.NewReader(tc.params.Encode()))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req, err = http.NewRequest(http.MethodGet, e.srv.URL+APIPrefix+tc.path+"?"+tc.params.Encode(), nil)
				require.NoError(t, err)
			}
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := e.srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode, string(body))
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var indented bytes.Buffer
			require.NoError(t, json.Indent(&indented, body, "", "  "), string(body))
			indented.WriteByte('\n')
			golden(t, filepath.Join("testdata", "api", tc.name+".json"), indented.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; create it with -update")
	require.Equal(t, string(want), string(got))
}

func TestAPIBuildInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{})
	status, body := e.get(t, "token-a", "status/buildinfo", nil)
	require.Equal(t, http.StatusOK, status, body)
	var a struct {
		Status string            `json:"status"`
		Data   map[string]string `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	require.Equal(t, "success", a.Status)
	require.Regexp(t, regexp.MustCompile(`^3\.\d+\.\d+$`), a.Data["version"], "the Prometheus release of the engine, for Grafana")
	for _, k := range []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} {
		require.Contains(t, a.Data, k)
	}
}

func TestAPIQueryTimeout(t *testing.T) {
	t.Parallel()
	e := grafanaEnv(t)
	status, body := e.get(t, "token-a", "query", url.Values{"query": {`up`}, "timeout": {"soon"}})
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, `invalid parameter \"timeout\"`)

	status, body = e.get(t, "token-a", "query", url.Values{"query": {`count_over_time(phoenix_pipeline_output_series[1h:1ms])`}, "time": {strconvTime(t0)}, "timeout": {"1ms"}})
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.JSONEq(t, `"timeout"`, mustField(t, body, "errorType"))
}

func mustField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	return string(m[field])
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "<html> & co", "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f",
		"ünïcödé ✓ 日本", "bad \xff utf8 \xc3", "line\u2028sep\u2029para", "emoji 🐦‍🔥"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)), "%q", s)
	}
}

func TestAppendFloatAndTimestamp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, `"0"`}, {1.5, `"1.5"`}, {-2, `"-2"`}, {1e-7, `"1e-07"`}, {1e21, `"1e+21"`}, {123456789.125, `"123456789.125"`},
		{math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`}, {math.NaN(), `"NaN"`},
	} {
		require.Equal(t, tc.want, string(appendFloat(nil, tc.f)))
	}
	for _, tc := range []struct {
		ms   int64
		want string
	}{{0, "0"}, {1, "0.001"}, {1500, "1.500"}, {1435781451781, "1435781451.781"}, {1435781451010, "1435781451.010"}, {-1500, "-1.500"}} {
		require.Equal(t, tc.want, string(appendTimestamp(nil, tc.ms)))
		ms, err := parseMillis(tc.want)
		require.NoError(t, err)
		require.Equal(t, tc.ms, ms, "parseMillis reads back %s", tc.want)
	}
}
