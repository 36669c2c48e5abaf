package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of Phoenix's spans.
const TracerName = "github.com/phoenix/platform"

// Tracer returns Phoenix's tracer from the global TracerProvider. It follows
// a provider installed later, so it may be called at any time.
func Tracer() trace.Tracer {
	return otel.Tracer(TracerName)
}

// SetupTracing installs the global TracerProvider and returns the function
// that flushes and stops it.
//
// When OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
// set (and OTEL_SDK_DISABLED is not "true" nor OTEL_TRACES_EXPORTER "none"),
// spans go through a batch span processor to an OTLP/HTTP exporter configured
// by the standard OTEL_EXPORTER_OTLP_* variables, with a resource naming
// serviceName and version (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// override them), and the W3C trace context and baggage propagators become
// the global propagator. Otherwise a no-op provider is installed and shutdown
// does nothing. Sampling follows OTEL_TRACES_SAMPLER (default: parent-based,
// always on).
func SetupTracing(ctx context.Context, serviceName, version string) (shutdown func(context.Context) error, err error) {
	if !tracingEnabled() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("setup tracing: create otlp exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", serviceName),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("setup tracing: build resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown tracing: %w", err)
		}
		return nil
	}, nil
}

func tracingEnabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}
