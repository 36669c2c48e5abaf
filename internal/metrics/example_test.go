package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/phoenix/platform/internal/metrics"
)

// A server mounts the remote-write handler and the query API of one store;
// an agent writes its measurements; analysis reads them back with PromQL.
func Example() {
	dir, _ := os.MkdirTemp("", "phoenix-metrics-")
	defer os.RemoveAll(dir)
	st, err := metrics.Open(dir, metrics.Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	// The tenant comes from the credential, never from the samples.
	auth := func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") == "Bearer agent-token" {
			return "acme", nil
		}
		return "", errors.New("unknown credential")
	}
	write, err := metrics.NewWriteHandler(st, auth, metrics.WriteConfig{}, metrics.WriteSettings{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(metrics.WritePath, write)
	mux.Handle(metrics.APIPrefix, metrics.NewAPI(st, auth, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var batch []prompb.TimeSeries
	for variant, value := range map[string]float64{"baseline": 1000, "candidate": 400} {
		batch = append(batch, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "phoenix_pipeline_output_series"},
				{Name: "experiment", Value: "exp-1"},
				{Name: "host", Value: "web-1"},
				{Name: "variant", Value: variant},
			},
			Samples: []prompb.Sample{{Timestamp: at.UnixMilli(), Value: value}},
		})
	}
	ctx := context.Background()
	if err := metrics.WriteRequest(ctx, srv.URL+metrics.WritePath, map[string]string{"Authorization": "Bearer agent-token"}, batch); err != nil {
		panic(err)
	}

	var src metrics.Source = st
	res, err := src.Query(ctx, `1 - sum(phoenix_pipeline_output_series{tenant="acme",variant="candidate"}) / sum(phoenix_pipeline_output_series{tenant="acme",variant="baseline"})`, at)
	if err != nil {
		panic(err)
	}
	fmt.Printf("reduction: %.0f%%\n", 100*res[0].Samples[0].V)
	// Output: reduction: 60%
}
