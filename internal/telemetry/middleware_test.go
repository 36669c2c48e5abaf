package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) buffer() *bytes.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.NewBuffer(bytes.Clone(s.b.Bytes()))
}

// testMux is a small API: a route that logs through the request context, a
// failing route and a route that panics.
func testMux(log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/experiments/{id}", func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "loading experiment", "id", r.PathValue("id"))
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
	})
	mux.HandleFunc("POST /api/v1/experiments", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "store down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("handler bug")
	})
	return mux
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareRequestIDLogsAndMetrics(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg)
	h := telemetry.Middleware(testMux(log), nil, m, log)

	// A valid incoming ID is kept and echoed.
	req := httptest.NewRequest("GET", "/api/v1/experiments/e-1", nil)
	req.Header.Set("X-Request-ID", "client-id.42")
	rec := serve(h, req)
	require.Equal(t, 200, rec.Code)
	require.Equal(t, "client-id.42", rec.Header().Get("X-Request-ID"))

	got := lines(t, buf.buffer())
	require.Len(t, got, 2)
	require.Equal(t, "loading experiment", got[0]["msg"])
	require.Equal(t, "client-id.42", got[0]["request_id"], "the handler's own log line carries the ID")
	access := got[1]
	require.Equal(t, "request", access["msg"])
	require.Equal(t, "INFO", access["level"])
	require.Equal(t, "GET", access["method"])
	require.Equal(t, "/api/v1/experiments/{id}", access["route"])
	require.Equal(t, "/api/v1/experiments/e-1", access["path"])
	require.EqualValues(t, 200, access["status"])
	require.EqualValues(t, len(`{"id":"e-1"}`), access["bytes"])
	require.Contains(t, access, "duration")
	require.Equal(t, "client-id.42", access["request_id"])

	// An invalid incoming ID is replaced.
	req = httptest.NewRequest("POST", "/api/v1/experiments", nil)
	req.Header.Set("X-Request-ID", "bad id\nlevel=ERROR")
	rec = serve(h, req)
	require.Equal(t, 503, rec.Code)
	id := rec.Header().Get("X-Request-ID")
	require.Regexp(t, `^[0-9a-f]{32}$`, id)
	got = lines(t, buf.buffer())
	access = got[len(got)-1]
	require.Equal(t, "ERROR", access["level"], "5xx are logged at error")
	require.Equal(t, id, access["request_id"])
	require.Equal(t, "/api/v1/experiments", access["route"])

	// No ID at all gets a new one.
	rec = serve(h, httptest.NewRequest("GET", "/api/v1/experiments/e-2", nil))
	require.Regexp(t, `^[0-9a-f]{32}$`, rec.Header().Get("X-Request-ID"))
	require.NotEqual(t, id, rec.Header().Get("X-Request-ID"))

	// Unmatched paths share one label.
	rec = serve(h, httptest.NewRequest("GET", "/no/such/path/123", nil))
	require.Equal(t, 404, rec.Code)
	got = lines(t, buf.buffer())
	require.Equal(t, telemetry.UnmatchedRoute, got[len(got)-1]["route"])

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_http_requests_total HTTP requests served, by route pattern, method and status code.
# TYPE phoenix_http_requests_total counter
phoenix_http_requests_total{code="200",method="GET",route="/api/v1/experiments/{id}"} 2
phoenix_http_requests_total{code="404",method="GET",route="unmatched"} 1
phoenix_http_requests_total{code="503",method="POST",route="/api/v1/experiments"} 1
`), "phoenix_http_requests_total"))
}

func TestMiddlewarePanicIsCountedAndRepanics(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	reg := prometheus.NewRegistry()
	h := telemetry.Middleware(testMux(log), nil, telemetry.NewMetrics(reg), log)
	require.PanicsWithValue(t, "handler bug", func() {
		serve(h, httptest.NewRequest("GET", "/panic", nil))
	})
	got := lines(t, buf.buffer())
	require.Len(t, got, 1)
	require.EqualValues(t, 500, got[0]["status"])
	require.Equal(t, true, got[0]["panic"])
	require.Equal(t, "ERROR", got[0]["level"])
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP phoenix_http_requests_total HTTP requests served, by route pattern, method and status code.
# TYPE phoenix_http_requests_total counter
phoenix_http_requests_total{code="500",method="GET",route="/panic"} 1
`), "phoenix_http_requests_total"))
}

func TestMiddlewareRouteSources(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	lastRoute := func() any {
		got := lines(t, buf.buffer())
		return got[len(got)-1]["route"]
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /named/{id}", func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetRoute(r.Context(), "/named/:id")
	})
	mux.HandleFunc("example.com/hosted", func(w http.ResponseWriter, r *http.Request) {})

	// A middleware that copies the request hides r.Pattern from the outer
	// one; SetRoute still names the route.
	type copyKey struct{}
	copying := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), copyKey{}, 1)))
	})
	h := telemetry.Middleware(copying, nil, nil, log)
	serve(h, httptest.NewRequest("GET", "/items/1", nil))
	require.Equal(t, telemetry.UnmatchedRoute, lastRoute())
	serve(h, httptest.NewRequest("GET", "/named/1", nil))
	require.Equal(t, "/named/:id", lastRoute())

	// Directly around the mux, the pattern is the route, without its method.
	h = telemetry.Middleware(mux, nil, nil, log)
	serve(h, httptest.NewRequest("GET", "/items/1", nil))
	require.Equal(t, "/items/{id}", lastRoute())
	serve(h, httptest.NewRequest("GET", "http://example.com/hosted", nil))
	require.Equal(t, "example.com/hosted", lastRoute())

	// routeOf decides when given.
	h = telemetry.Middleware(mux, func(r *http.Request) string { return "custom:" + r.Pattern }, nil, log)
	serve(h, httptest.NewRequest("GET", "/items/1", nil))
	require.Equal(t, "custom:GET /items/{id}", lastRoute())
}

func TestMiddlewareLoggerWithoutContextHandler(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	plain := slog.New(slog.NewJSONHandler(&buf, nil))
	h := telemetry.Middleware(http.NotFoundHandler(), nil, nil, plain)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-ID", "abc")
	serve(h, req)
	got := lines(t, buf.buffer())
	require.Len(t, got, 1)
	require.Equal(t, "abc", got[0]["request_id"], "added explicitly when the logger does not add it")
}

func TestMiddlewareKeepsFlushAndHijack(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "b")
	})
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nhello")
		_ = rw.Flush()
	})
	srv := httptest.NewServer(telemetry.Middleware(mux, nil, nil, log))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stream")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, "ab", string(body))

	req, err := http.NewRequest("GET", srv.URL+"/upgrade", nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "test")
	resp, err = http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	greeting, err := bufio.NewReader(resp.Body).ReadString('o')
	require.NoError(t, err)
	require.Equal(t, "hello", greeting)
	require.NoError(t, resp.Body.Close())

	// A hijacked connection is the handler's: the server does not wait for
	// it, so wait for its log line.
	statuses := func() map[any]any {
		out := map[any]any{}
		for _, l := range lines(t, buf.buffer()) {
			out[l["path"]] = l["status"]
		}
		return out
	}
	require.Eventually(t, func() bool { return statuses()["/upgrade"] != nil }, 5*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 200, statuses()["/stream"])
	require.EqualValues(t, 101, statuses()["/upgrade"])
}
