package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/server"
)

// TestRevokedKeyRefusedAtOnce checks the server's wiring of the key cache:
// a key used (and so cached) a moment ago is refused by the very next
// request once it is revoked through the API.
func TestRevokedKeyRefusedAtOnce(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	srv, stop := start(t, cfg)
	defer stop()
	base := "http://" + srv.Addr()

	req, err := http.NewRequest("POST", base+"/api/v1/apikeys", strings.NewReader(`{"name":"ci","role":"viewer"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.BootstrapKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&created))
	require.NotEmpty(t, created.Secret)

	for range 2 {
		res, body := get(t, base+"/api/v1/experiments", created.Secret)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
	}

	req, err = http.NewRequest("DELETE", base+"/api/v1/apikeys/"+created.ID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.BootstrapKey)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Less(t, res.StatusCode, 300)

	res, body := get(t, base+"/api/v1/experiments", created.Secret)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, body)
	require.Contains(t, body, "revoked")
}
