package api_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIdempotencyKeySimultaneousFirstUse sends one create many times at
// once with one Idempotency-Key: exactly one experiment is created, every
// other answer is its replay or a refusal while it is being served.
func TestIdempotencyKeySimultaneousFirstUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		const n = 12
		body := experimentBody("once")
		var wg sync.WaitGroup
		res := make([]resp, n)
		for i := range n {
			wg.Go(func() { res[i] = e.do(e.keyA, "POST", "/api/v1/experiments", body, "Idempotency-Key", "same") })
		}
		wg.Wait()
		created, id := 0, ""
		for _, r := range res {
			switch {
			case r.status == http.StatusCreated && r.header.Get("Idempotent-Replayed") == "":
				created++
				id = r.json(t)["id"].(string)
			case r.status == http.StatusCreated:
			case r.status == http.StatusConflict:
				require.Equal(t, "1", r.header.Get("Retry-After"), "%s", r.body)
			default:
				t.Fatalf("unexpected answer %d %s", r.status, r.body)
			}
		}
		require.Equal(t, 1, created)
		list := e.do(e.keyA, "GET", "/api/v1/experiments", nil).json(t)["items"].([]any)
		require.Len(t, list, 1, "one experiment whatever the race")
		r := e.do(e.keyA, "POST", "/api/v1/experiments", body, "Idempotency-Key", "same")
		require.Equal(t, http.StatusCreated, r.status)
		require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
		require.Equal(t, id, r.json(t)["id"])
	})
}
