package promtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix/platform/internal/metrics/promtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartPrometheus(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var url string
	t.Run("running", func(t *testing.T) {
		url = promtest.StartPrometheus(t)
		require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
		resp, err := client.Get(url + "/-/ready")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)

		// The remote-write receiver is on: an empty body is a bad
		// request, not an unknown path.
		resp, err = client.Post(url+"/api/v1/write", "application/x-protobuf", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	if url == "" {
		t.Skip(promtest.NotInstalled)
	}
	// The subtest's cleanup stopped the process: nothing listens any more.
	_, err := client.Get(url + "/-/ready")
	require.Error(t, err)
}
