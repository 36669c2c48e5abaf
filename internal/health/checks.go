package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of the provided checks.
const (
	StoreTimeout = 5 * time.Second
	RedisTimeout = 2 * time.Second
)

// maxDrain bounds how much of an HTTP check's response body is read so the
// connection can be reused.
const maxDrain = 64 << 10

// Pinger is what [StoreCheck] needs of a store; store.Store has it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// StoreCheck checks that the SQL store answers (Store.Ping). Name "store",
// timeout 5s.
func StoreCheck(st Pinger) Check {
	return Check{Name: "store", Timeout: StoreTimeout, Fn: st.Ping}
}

// RedisCheck checks that Redis answers PING. Name "redis", timeout 2s. It
// takes any go-redis client: *redis.Client, *redis.ClusterClient or a
// failover client.
func RedisCheck(client redis.UniversalClient) Check {
	return Check{Name: "redis", Timeout: RedisTimeout, Fn: func(ctx context.Context) error {
		return client.Ping(ctx).Err()
	}}
}

// HTTPCheck checks that a GET of rawURL answers a 2xx status, e.g. the
// readiness endpoint of an external Prometheus used as metrics source
// ("http://prometheus:9090/-/ready"). A zero timeout means DefaultTimeout.
// Errors show the URL without its password.
func HTTPCheck(name, rawURL string, timeout time.Duration) Check {
	return httpCheck(name, rawURL, timeout, http.DefaultClient)
}

func httpCheck(name, rawURL string, timeout time.Duration, client *http.Client) Check {
	u, parseErr := url.Parse(rawURL)
	shown := "(unparsable URL)"
	if parseErr == nil {
		shown = u.Redacted()
	}
	return Check{Name: name, Timeout: timeout, Fn: func(ctx context.Context) error {
		if parseErr != nil {
			return fmt.Errorf("get %s: %w", shown, parseErr)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("get %s: %w", shown, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("get %s: %w", shown, redactURLError(err))
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("get %s: status %s", shown, resp.Status)
		}
		return nil
	}}
}

// redactURLError strips the *url.Error wrapper, whose message would repeat
// the URL already named by the caller.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
