package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix/platform/internal/telemetry"
)

// These tests replace the global TracerProvider, so they do not run in
// parallel; each restores the provider it found.

func installProvider(t *testing.T, tp trace.TracerProvider) {
	t.Helper()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
}

func clearOTelEnv(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
		"OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(k, "")
	}
}

func TestMiddlewareRecordsServerSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	installProvider(t, tp)

	var buf syncBuffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/experiments/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, child := telemetry.Tracer().Start(r.Context(), "load experiment")
		child.End()
		_, _ = io.WriteString(w, "{}")
	})
	mux.HandleFunc("DELETE /api/v1/experiments/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := telemetry.Middleware(mux, nil, nil, log)

	req := httptest.NewRequest("GET", "/api/v1/experiments/e-1", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code)

	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	child, server := spans[0], spans[1]
	require.Equal(t, "load experiment", child.Name)
	require.Equal(t, "GET /api/v1/experiments/{id}", server.Name, "named after the route")
	require.Equal(t, trace.SpanKindServer, server.SpanKind)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", server.SpanContext.TraceID().String(), "continues the caller's trace")
	require.Equal(t, "00f067aa0ba902b7", server.Parent.SpanID().String())
	require.True(t, server.Parent.IsRemote())
	require.Equal(t, server.SpanContext.SpanID(), child.Parent.SpanID(), "handler spans are children of the server span")
	attrs := attribute.NewSet(server.Attributes...)
	route, _ := attrs.Value("http.route")
	require.Equal(t, "/api/v1/experiments/{id}", route.AsString())
	status, _ := attrs.Value("http.response.status_code")
	require.EqualValues(t, 200, status.AsInt64())
	reqID, _ := attrs.Value("phoenix.request_id")
	require.Equal(t, rec.Header().Get("X-Request-ID"), reqID.AsString())
	require.Equal(t, codes.Unset, server.Status.Code)

	got := lines(t, buf.buffer())
	require.Len(t, got, 1)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", got[0]["trace_id"], "the log line carries the trace")
	require.Equal(t, server.SpanContext.SpanID().String(), got[0]["span_id"])

	// Without a traceparent a new trace starts; a 5xx marks the span failed.
	exp.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/api/v1/experiments/e-1", nil))
	spans = exp.GetSpans()
	require.Len(t, spans, 1)
	require.False(t, spans[0].Parent.IsValid())
	require.Equal(t, codes.Error, spans[0].Status.Code)
	require.Equal(t, "DELETE /api/v1/experiments/{id}", spans[0].Name)
}

func TestSetupTracingWithoutEndpointIsNoop(t *testing.T) {
	clearOTelEnv(t)
	installProvider(t, otel.GetTracerProvider())

	shutdown, err := telemetry.SetupTracing(context.Background(), "phoenix", "v1.2.3")
	require.NoError(t, err)
	_, span := telemetry.Tracer().Start(context.Background(), "x")
	require.False(t, span.IsRecording())
	require.False(t, span.SpanContext().IsValid())
	span.End()
	require.NoError(t, shutdown(context.Background()))
}

func TestSetupTracingDisabledBySDKVariable(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_SDK_DISABLED", "true")
	installProvider(t, otel.GetTracerProvider())

	shutdown, err := telemetry.SetupTracing(context.Background(), "phoenix", "v1.2.3")
	require.NoError(t, err)
	_, span := telemetry.Tracer().Start(context.Background(), "x")
	require.False(t, span.IsRecording())
	require.NoError(t, shutdown(context.Background()))
}

// otlpReceiver is an OTLP/HTTP traces endpoint that keeps what it receives.
type otlpReceiver struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
	errs []error
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	msg := &coltracepb.ExportTraceServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(body, msg)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		o.errs = append(o.errs, http.ErrNotSupported)
	}
	if err != nil {
		o.errs = append(o.errs, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.reqs = append(o.reqs, msg)
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestSetupTracingExportsOverOTLPHTTP(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	installProvider(t, otel.GetTracerProvider())
	prevProp := otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTextMapPropagator(prevProp) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdown, err := telemetry.SetupTracing(ctx, "phoenix-server", "v1.2.3")
	require.NoError(t, err)

	_, span := telemetry.Tracer().Start(ctx, "experiment.start")
	require.True(t, span.IsRecording())
	span.End()
	require.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, otel.GetTextMapPropagator().Fields(),
		"W3C trace context and baggage are the global propagator")
	require.NoError(t, shutdown(ctx), "shutdown flushes the batch")

	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.Empty(t, recv.errs)
	require.Len(t, recv.reqs, 1)
	rs := recv.reqs[0].GetResourceSpans()
	require.Len(t, rs, 1)
	res := map[string]string{}
	for _, kv := range rs[0].GetResource().GetAttributes() {
		res[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	require.Equal(t, "phoenix-server", res["service.name"])
	require.Equal(t, "v1.2.3", res["service.version"])
	require.Equal(t, "opentelemetry", res["telemetry.sdk.name"])
	ss := rs[0].GetScopeSpans()
	require.Len(t, ss, 1)
	require.Equal(t, telemetry.TracerName, ss[0].GetScope().GetName())
	require.Len(t, ss[0].GetSpans(), 1)
	require.Equal(t, "experiment.start", ss[0].GetSpans()[0].GetName())
}

func TestSetupTracingServiceNameFromEnvironment(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	t.Setenv("OTEL_SERVICE_NAME", "phoenix-eu")
	installProvider(t, otel.GetTracerProvider())
	prevProp := otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTextMapPropagator(prevProp) })

	ctx := context.Background()
	shutdown, err := telemetry.SetupTracing(ctx, "phoenix-server", "v1.2.3")
	require.NoError(t, err)
	_, span := telemetry.Tracer().Start(ctx, "x")
	span.End()
	require.NoError(t, shutdown(ctx))

	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.Empty(t, recv.errs)
	require.Len(t, recv.reqs, 1)
	for _, kv := range recv.reqs[0].GetResourceSpans()[0].GetResource().GetAttributes() {
		if kv.GetKey() == "service.name" {
			require.Equal(t, "phoenix-eu", kv.GetValue().GetStringValue())
			return
		}
	}
	t.Fatal("no service.name in the exported resource")
}
