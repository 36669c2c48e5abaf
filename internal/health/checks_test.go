package health_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/health"
	"github.com/phoenix/platform/internal/store/sqlite"
)

const redisAddr = "127.0.0.1:6379"

// requireRedis fails under CI=true and skips elsewhere when Redis does not
// answer on 127.0.0.1:6379.
func requireRedis(t *testing.T) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	msg := "Redis is not running on 127.0.0.1:6379; start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (%v)", msg, err)
	}
	t.Skip(msg)
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestRedisCheck(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer func() { require.NoError(t, client.Close()) }()

	ch := health.RedisCheck(client)
	require.Equal(t, "redis", ch.Name)
	require.Equal(t, 2*time.Second, ch.Timeout)
	rep := health.NewChecker(ch).Run(context.Background())
	require.Equal(t, health.StatusOK, rep.Status, rep.Checks["redis"].Error)
}

func TestRedisCheckUnreachable(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1})
	defer func() { require.NoError(t, client.Close()) }()
	rep := health.NewChecker(health.RedisCheck(client)).Run(context.Background())
	require.Equal(t, health.StatusFail, rep.Status)
	require.Contains(t, rep.Checks["redis"].Error, "redis: ")
	require.Contains(t, rep.Checks["redis"].Error, "connection refused")
}

func TestStoreCheck(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), sqlite.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	ch := health.StoreCheck(st)
	require.Equal(t, "store", ch.Name)
	require.Equal(t, 5*time.Second, ch.Timeout)

	c := health.NewChecker(ch)
	require.Equal(t, health.StatusOK, c.Run(context.Background()).Status)

	require.NoError(t, st.Close())
	rep := c.Run(context.Background())
	require.Equal(t, health.StatusFail, rep.Status, "a closed store is not ready")
	require.True(t, strings.HasPrefix(rep.Checks["store"].Error, "store: "), rep.Checks["store"].Error)
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("Prometheus is Ready.")) })
	mux.HandleFunc("GET /-/starting", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	cases := []struct {
		name, url string
		timeout   time.Duration
		wantErr   string
	}{
		{"ready", srv.URL + "/-/ready", time.Second, ""},
		{"not ready", srv.URL + "/-/starting", time.Second, "status 503 Service Unavailable"},
		{"not found", srv.URL + "/nope", time.Second, "status 404 Not Found"},
		{"slow", srv.URL + "/slow", 50 * time.Millisecond, "timed out after 50ms"},
		{"refused", "http://" + closedPort(t) + "/-/ready", time.Second, "connection refused"},
		{"bad url", "http://[::1", time.Second, "(unparsable URL)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := health.HTTPCheck("prometheus", c.url, c.timeout)
			require.Equal(t, "prometheus", ch.Name)
			rep := health.NewChecker(ch).Run(context.Background())
			res := rep.Checks["prometheus"]
			if c.wantErr == "" {
				require.Equal(t, health.StatusOK, rep.Status, res.Error)
				return
			}
			require.Equal(t, health.StatusFail, rep.Status)
			require.Contains(t, res.Error, c.wantErr)
			require.True(t, strings.HasPrefix(res.Error, "prometheus: "), res.Error)
		})
	}
}

func TestHTTPCheckHidesPassword(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if user != "phoenix" || pass != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	good := strings.Replace(srv.URL, "http://", "http://phoenix:s3cret@", 1)
	bad := strings.Replace(srv.URL, "http://", "http://phoenix:wrong-s3cret@", 1)

	require.Equal(t, health.StatusOK, health.NewChecker(health.HTTPCheck("m", good, time.Second)).Run(context.Background()).Status)
	res := health.NewChecker(health.HTTPCheck("m", bad, time.Second)).Run(context.Background()).Checks["m"]
	require.Equal(t, health.StatusFail, res.Status)
	require.Contains(t, res.Error, "401")
	require.NotContains(t, res.Error, "wrong-s3cret")
	require.Contains(t, res.Error, "phoenix:xxxxx@")
}
