package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tokens maps the bearer tokens of the tests to their tenants.
var tokens = map[string]string{"token-a": "a", "token-b": "b"}

// errForbidden carries its own status, as the API's error type does.
type errForbidden struct{}

func (errForbidden) Error() string   { return "this key may not write metrics" }
func (errForbidden) HTTPStatus() int { return http.StatusForbidden }

// testAuth accepts "Bearer token-a" and "Bearer token-b"; "Bearer
// read-only" is forbidden.
func testAuth(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", errors.New("missing bearer token")
	}
	if tok == "read-only" {
		return "", errForbidden{}
	}
	tenant, ok := tokens[tok]
	if !ok {
		return "", errors.New("invalid token")
	}
	return tenant, nil
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// env is a store with its write handler and query API served over HTTP.
type env struct {
	st  *Store
	reg *prometheus.Registry
	srv *httptest.Server
}

func newEnv(t testing.TB, opts Options, cfg WriteConfig) *env {
	t.Helper()
	st := openStore(t, opts)
	reg := prometheus.NewRegistry()
	wh, err := NewWriteHandler(st, testAuth, cfg, WriteSettings{Registerer: reg})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(WritePath, wh)
	mux.Handle(APIPrefix, NewAPI(st, testAuth, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return &env{st: st, reg: reg, srv: srv}
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// write remote-writes series with token and returns the answer's status
// and body.
func (e *env) write(t testing.TB, token string, series ...prompb.TimeSeries) (int, string) {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: series}
	data, err := wr.Marshal()
	require.NoError(t, err)
	return e.post(t, token, snappy.Encode(nil, data), nil)
}

// post sends a raw remote-write body.
func (e *env) post(t testing.TB, token string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+WritePath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// get calls the query API with token and returns status and body.
func (e *env) get(t testing.TB, token, path string, params url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+APIPrefix+path+"?"+params.Encode(), nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// series builds a remote-write series from name/value pairs and samples.
func series(pairs []string, samples ...prompb.Sample) prompb.TimeSeries {
	ts := prompb.TimeSeries{Samples: samples}
	for i := 0; i+1 < len(pairs); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: pairs[i], Value: pairs[i+1]})
	}
	return ts
}

// contract returns the labels of a Phoenix pipeline measurement.
func contract(name, host, variant string, extra ...string) []string {
	return append([]string{"__name__", name, "experiment", "exp-1", "host", host, "variant", variant}, extra...)
}

func smp(t time.Time, v float64) prompb.Sample {
	return prompb.Sample{Timestamp: t.UnixMilli(), Value: v}
}

// t0 is a fixed instant the tests write around; ingest refuses only
// samples ahead of the clock, so the past is fine.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// sortSeries orders series by their labels, for comparisons.
func sortSeries(ss []Series) []Series {
	key := func(s Series) string {
		names := make([]string, 0, len(s.Labels))
		for n := range s.Labels {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			b.WriteString(n + "=" + s.Labels[n] + ",")
		}
		return b.String()
	}
	sort.Slice(ss, func(i, j int) bool { return key(ss[i]) < key(ss[j]) })
	return ss
}

func query(t testing.TB, src Source, q string, ts time.Time) []Series {
	t.Helper()
	res, err := src.Query(context.Background(), q, ts)
	require.NoError(t, err, q)
	return sortSeries(res)
}
