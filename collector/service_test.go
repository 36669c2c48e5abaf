package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/phoenix/platform/collector"
	"github.com/phoenix/platform/collector/internal/capture"
)

// withCapture returns the distribution's factories plus the capture exporter.
func withCapture(sinks map[string]consumer.Metrics) func() (otelcol.Factories, error) {
	return func() (otelcol.Factories, error) {
		f, err := collector.Components()
		if err != nil {
			return f, err
		}
		cf := capture.NewFactory(sinks)
		f.Exporters[cf.Type()] = cf
		return f, nil
	}
}

func TestServiceRunsHostmetrics(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	cfg := `
receivers:
  hostmetrics:
    collection_interval: 200ms
    scrapers:
      cpu:
      memory:
      process:
        mute_process_name_error: true
        mute_process_exe_error: true
        mute_process_io_error: true
        mute_process_user_error: true
exporters:
  capture:
    sink: out
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [hostmetrics]
      exporters: [capture]
`
	svc := collector.NewService([]byte(cfg), collector.WithFactories(withCapture(map[string]consumer.Metrics{"out": sink})))
	ctx := context.Background()
	require.NoError(t, svc.Start(ctx, 30*time.Second))
	require.Eventually(t, func() bool { return sink.DataPointCount() > 0 }, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, svc.Shutdown(ctx))
	require.NoError(t, svc.Shutdown(ctx), "Shutdown is idempotent")
	<-svc.Done()
}

func TestServiceStartFailsOnBadConfig(t *testing.T) {
	svc := collector.NewService([]byte("receivers: {nosuch: {}}\nservice: {pipelines: {metrics: {receivers: [nosuch], exporters: [nop]}}}\nexporters: {nop: {}}\n"))
	err := svc.Start(context.Background(), 10*time.Second)
	require.Error(t, err)
	require.Contains(t, err.Error(), "nosuch")
	require.NoError(t, svc.Shutdown(context.Background()))
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	good := "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}\nexporters: {nop: {}}\nservice: {pipelines: {metrics: {receivers: [otlp], exporters: [nop]}}}\n"
	require.NoError(t, collector.Validate(ctx, []byte(good)))

	bad := "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}\nprocessors: {batch: {send_batch_max_size: 1, send_batch_size: 10}}\nexporters: {nop: {}}\nservice: {pipelines: {metrics: {receivers: [otlp], processors: [batch], exporters: [nop]}}}\n"
	err := collector.Validate(ctx, []byte(bad))
	require.Error(t, err)
	require.Contains(t, err.Error(), "batch")
}
