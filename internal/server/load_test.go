package server_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/server"
	"github.com/phoenix/platform/internal/store/postgres/pgtest"
)

var (
	loadTest     = flag.Bool("load", false, "run the API load test (make loadtest)")
	loadRate     = flag.Int("load-rate", 1000, "requests per second")
	loadDuration = flag.Duration("load-duration", 10*time.Second, "how long each attack lasts")
	loadStore    = flag.String("load-store", "sqlite", "sqlite or postgres")
)

// TestLoad drives a real phoenix server with a fixed request rate of GETs
// and lists of experiments, and prints p50/p99 latency and the error count.
// It runs only with -load: go test ./internal/server -run TestLoad -load.
func TestLoad(t *testing.T) {
	if !*loadTest {
		t.Skip("load test: run with -load (make loadtest)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "error"
	if *loadStore == "postgres" {
		cfg.DatabaseURL = pgtest.DSN(t)
		cfg.DBSchema = pgtest.Schema(t, "phoenix_load_")
	}
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: io.Discard})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	key := srv.BootstrapKey
	require.NotEmpty(t, key)

	// Seed 1,000 experiments through the service.
	tenant := tenantOfKey(t, srv, key)
	var ids []string
	for i := 0; i < 1000; i++ {
		e, err := srv.Experiments().Create(ctx, experiment.CreateParams{TenantID: tenant, Name: fmt.Sprintf("load-%04d", i), Spec: experiment.Spec{
			Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
			Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
			Target:    experiment.Target{Hosts: []string{"web-1"}},
			Duration:  experiment.Duration(5 * time.Minute),
		}})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	base := "http://" + srv.Addr()
	header := http.Header{"Authorization": {"Bearer " + key}}

	for _, attack := range []struct {
		name    string
		targets []vegeta.Target
	}{
		{"GET /api/v1/experiments/{id}", func() []vegeta.Target {
			var ts []vegeta.Target
			for _, id := range ids[:200] {
				ts = append(ts, vegeta.Target{Method: "GET", URL: base + "/api/v1/experiments/" + id, Header: header})
			}
			return ts
		}()},
		{"GET /api/v1/experiments?limit=20", []vegeta.Target{{Method: "GET", URL: base + "/api/v1/experiments?limit=20", Header: header}}},
	} {
		attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(64), vegeta.Workers(32))
		var m vegeta.Metrics
		for res := range attacker.Attack(vegeta.NewStaticTargeter(attack.targets...), vegeta.Rate{Freq: *loadRate, Per: time.Second}, *loadDuration, attack.name) {
			m.Add(res)
		}
		m.Close()
		errs := int(float64(m.Requests) * (1 - m.Success))
		fmt.Printf("loadtest store=%s %-34s rate=%d/s requests=%d p50=%s p90=%s p99=%s max=%s errors=%d\n",
			*loadStore, attack.name, *loadRate, m.Requests, m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max, errs)
		if errs > 0 {
			t.Errorf("%s: %d errors: %v", attack.name, errs, m.Errors)
		}
	}
	cancel()
	require.NoError(t, <-done)
}
