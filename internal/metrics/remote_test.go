package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestRemoteConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  RemoteConfig
		want string
	}{
		{RemoteConfig{URL: "http://prometheus:9090"}, ""},
		{RemoteConfig{URL: "https://mimir.example.com/prometheus", Headers: map[string]string{"X-Scope-OrgID": "t1"}, Timeout: time.Second}, ""},
		{RemoteConfig{}, "url: required"},
		{RemoteConfig{URL: "prometheus:9090"}, "url: must be an http or https URL"},
		{RemoteConfig{URL: "ftp://prometheus"}, "url: must be an http or https URL"},
		{RemoteConfig{URL: "http://p", Headers: map[string]string{"Bad Name": "x"}}, `headers: invalid header name "Bad Name"`},
		{RemoteConfig{URL: "http://p", Timeout: -1}, "timeout: must not be negative"},
		{RemoteConfig{URL: "http://p", MaxResponseBytes: -1}, "max_response_bytes: must not be negative"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
		_, err = NewRemote(tc.cfg, nil)
		require.ErrorContains(t, err, tc.want)
	}
}

// TestRemoteOverPhoenixAPI reads Phoenix's own query API with Remote, the
// tenant carried by a header as Mimir's X-Scope-OrgID, and expects what
// the store answers for that tenant.
func TestRemoteOverPhoenixAPI(t *testing.T) {
	t.Parallel()
	e := grafanaEnv(t)
	orgAuth := func(r *http.Request) (string, error) {
		if id := r.Header.Get("X-Scope-OrgID"); id != "" {
			return id, nil
		}
		return "", errors.New("no org id")
	}
	srv := httptest.NewServer(NewAPI(e.st, orgAuth, nil))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	remote, err := NewRemote(RemoteConfig{URL: srv.URL + "/prometheus/", Headers: map[string]string{"X-Scope-OrgID": "a"}}, client)
	require.NoError(t, err)
	local := e.st.ForTenant("a")
	ctx := context.Background()

	for _, q := range []string{
		`phoenix_pipeline_output_series`,
		`sum by (variant) (rate(phoenix_pipeline_output_datapoints_total[2m]))`,
		`scalar(sum(phoenix_pipeline_output_series))`,
		`phoenix_pipeline_output_series / 3`,
	} {
		at := t0.Add(4*time.Minute + 30*time.Second)
		want, err := local.Query(ctx, q, at)
		require.NoError(t, err)
		got, err := remote.Query(ctx, q, at)
		require.NoError(t, err)
		require.Equal(t, sortSeries(want), sortSeries(got), q)
		require.NotEmpty(t, got, q)

		want, err = local.QueryRange(ctx, q, t0, t0.Add(5*time.Minute), 30*time.Second)
		require.NoError(t, err)
		got, err = remote.QueryRange(ctx, q, t0, t0.Add(5*time.Minute), 30*time.Second)
		require.NoError(t, err)
		require.Equal(t, sortSeries(want), sortSeries(got), q)
	}

	_, err = remote.Query(ctx, `sum(`, t0)
	require.ErrorIs(t, err, ErrBadQuery)
	require.ErrorContains(t, err, "unclosed left parenthesis")
	_, err = remote.QueryRange(ctx, `up[5m]`, t0, t0.Add(time.Minute), time.Minute)
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = remote.QueryRange(ctx, `up`, t0, t0.Add(time.Minute), 0)
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = remote.Query(ctx, `"a string"`, t0)
	require.ErrorIs(t, err, ErrBadQuery)

	noOrg, err := NewRemote(RemoteConfig{URL: srv.URL + "/prometheus"}, client)
	require.NoError(t, err)
	_, err = noOrg.Query(ctx, `up`, t0)
	require.ErrorContains(t, err, "unauthorized: no org id (HTTP 401)")
	require.NotErrorIs(t, err, ErrBadQuery)
}

func TestRemoteFailures(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/bad-gateway/api/v1/query", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
	})
	mux.HandleFunc("/slow/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/huge/api/v1/query", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[` + string(make([]byte, 2048)) + `]}}`))
	})
	mux.HandleFunc("/exec/api/v1/query", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}`))
	})
	mux.HandleFunc("/garbled/api/v1/query", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	ctx := context.Background()
	for _, tc := range []struct {
		path string
		cfg  RemoteConfig
		want string
	}{
		{"/bad-gateway", RemoteConfig{}, "HTTP 502 with a body that is not a Prometheus API answer"},
		{"/slow", RemoteConfig{Timeout: 50 * time.Millisecond}, "context deadline exceeded"},
		{"/huge", RemoteConfig{MaxResponseBytes: 1024}, "answer is over 1024 bytes"},
		{"/exec", RemoteConfig{}, "execution: query processing would load too many samples into memory (HTTP 422)"},
		{"/garbled", RemoteConfig{}, `value: strconv.ParseFloat: parsing "x"`},
	} {
		tc.cfg.URL = srv.URL + tc.path
		r, err := NewRemote(tc.cfg, client)
		require.NoError(t, err)
		_, err = r.Query(ctx, "up", t0)
		require.ErrorContains(t, err, tc.want, tc.path)
		require.NotErrorIs(t, err, ErrBadQuery)
	}
}

func TestWriteRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{})
	ctx := context.Background()
	ok := []prompb.TimeSeries{series(contract("phoenix_agent_memory_bytes", "h", "v"), smp(t0, 1))}
	require.NoError(t, WriteRequest(ctx, e.srv.URL+WritePath, bearer("token-a"), ok))

	err := WriteRequest(ctx, e.srv.URL+WritePath, bearer("nope"), ok)
	var we *WriteError
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusUnauthorized, we.StatusCode)
	require.False(t, we.Retryable())

	err = WriteRequest(ctx, e.srv.URL+WritePath, bearer("token-a"), []prompb.TimeSeries{series([]string{"host", "h"}, smp(t0, 1))})
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusBadRequest, we.StatusCode)
	require.Contains(t, we.Message, "missing metric name")

	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	err = WriteRequest(ctx, busy.URL, nil, ok)
	require.ErrorAs(t, err, &we)
	require.True(t, we.Retryable())
	require.Equal(t, "remote write: HTTP 503: overloaded", err.Error())
}
