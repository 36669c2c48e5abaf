package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/phoenix/platform/internal/health"
)

func ExampleChecker_Readiness() {
	c := health.NewChecker(
		health.Check{Name: "store", Fn: func(context.Context) error { return nil }},
		health.Check{Name: "redis", Timeout: time.Second, Fn: func(context.Context) error {
			return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
		}},
	)
	rec := httptest.NewRecorder()
	c.Readiness(rec, httptest.NewRequest("GET", "/readyz", nil))
	rep := c.Run(context.Background())
	fmt.Println(rec.Code, rep.Status)
	fmt.Println(rep.Checks["store"].Status)
	fmt.Println(rep.Checks["redis"].Error)
	// Output:
	// 503 fail
	// ok
	// redis: dial tcp 127.0.0.1:6379: connect: connection refused
}
