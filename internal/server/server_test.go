package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/server"
)

func start(t *testing.T, cfg server.Config) (*server.Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: io.Discard})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	return srv, func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("server did not shut down")
		}
	}
}

func get(t *testing.T, url, key string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

func TestServerServesAndSurvivesRestart(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()

	srv, stop := start(t, cfg)
	key := srv.BootstrapKey
	require.True(t, strings.HasPrefix(key, "phx_"), "a bootstrap key is created on an empty store")
	base := "http://" + srv.Addr()

	res, body := get(t, base+"/healthz", "")
	require.Equal(t, 200, res.StatusCode, body)
	res, body = get(t, base+"/readyz", "")
	require.Equal(t, 200, res.StatusCode, body)
	var ready map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	require.Equal(t, "ok", ready["checks"].(map[string]any)["store"].(map[string]any)["status"])

	res, _ = get(t, base+"/api/v1/experiments", key, "X-Request-ID", "req-123")
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "req-123", res.Header.Get("X-Request-ID"), "the request id is echoed")
	res, _ = get(t, base+"/api/v1/experiments", key)
	require.NotEmpty(t, res.Header.Get("X-Request-ID"), "a request id is generated")

	res, body = get(t, base+"/metrics", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, `phoenix_http_requests_total{code="200",method="GET",route="/api/v1/experiments"}`)
	require.Contains(t, body, `phoenix_experiments{state="running"} 0`)

	res, body = get(t, base+"/api/v1/openapi.json", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, `"openapi": "3.1.0"`)
	stop()

	// Restart on the same data directory: no new bootstrap key, the old one
	// still works.
	srv, stop = start(t, cfg)
	defer stop()
	require.Empty(t, srv.BootstrapKey)
	res, _ = get(t, "http://"+srv.Addr()+"/api/v1/experiments", key)
	require.Equal(t, 200, res.StatusCode)
}

func TestConfigPrecedenceAndValidation(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/phoenix.yaml"
	require.NoError(t, writeFile(file, "listen: 127.0.0.1:9000\nlog_level: warn\ndb_max_open_conns: 10\n"))
	cfg, err := server.Load(file, []string{"PHOENIX_LOG_LEVEL=debug", "PHOENIX_DATA_DIR=" + dir, "HOME=/root"}, nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", cfg.Listen, "file")
	require.Equal(t, "debug", cfg.LogLevel, "environment over file")
	require.Equal(t, 10, cfg.DBMaxOpenConns)
	require.Equal(t, 5*time.Minute, cfg.DBConnMaxLifetime, "default")

	_, err = server.Load("", []string{"PHOENIX_LISTEN=nonsense", "PHOENIX_LOG_FORMAT=xml", "PHOENIX_DB_MAX_OPEN_CONNS=x"}, nil)
	require.ErrorContains(t, err, "PHOENIX_DB_MAX_OPEN_CONNS")
	_, err = server.Load("", []string{"PHOENIX_LISTEN=nonsense", "PHOENIX_LOG_FORMAT=xml"}, nil)
	require.ErrorContains(t, err, "listen:")
	require.ErrorContains(t, err, "log_format:")
	require.NoError(t, writeFile(file, "colour: blue\n"))
	_, err = server.Load(file, nil, nil)
	require.ErrorContains(t, err, `unknown setting "colour"`)
}
