package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/phoenix/platform/internal/telemetry"
)

// lines decodes JSON log lines.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

func spanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

func TestLoggerAddsContextAttributes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	ctx := telemetry.WithRequestID(context.Background(), "req-1")
	ctx = trace.ContextWithSpanContext(ctx, spanContext(t))

	log.InfoContext(ctx, "hello", "k", "v")
	log.Info("no context")
	log.DebugContext(ctx, "below level")
	log.With("svc", "api").WithGroup("g").InfoContext(ctx, "grouped", "k", "v")
	log.WithGroup("g").With("a", 1).WithGroup("h").InfoContext(context.Background(), "nested", "k", "v")

	got := lines(t, &buf)
	require.Len(t, got, 4)

	require.Equal(t, "hello", got[0]["msg"])
	require.Equal(t, "req-1", got[0]["request_id"])
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", got[0]["trace_id"])
	require.Equal(t, "00f067aa0ba902b7", got[0]["span_id"])
	require.Equal(t, "v", got[0]["k"])

	require.NotContains(t, got[1], "request_id")
	require.NotContains(t, got[1], "trace_id")

	// Context attributes stay top-level under a group; the group keeps its own.
	require.Equal(t, "req-1", got[2]["request_id"])
	require.Equal(t, "api", got[2]["svc"])
	require.Equal(t, map[string]any{"k": "v"}, got[2]["g"])

	require.Equal(t, map[string]any{"a": float64(1), "h": map[string]any{"k": "v"}}, got[3]["g"])
}

func TestLoggerText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelDebug, "text")
	log.DebugContext(telemetry.WithRequestID(context.Background(), "abc"), "hello")
	require.Contains(t, buf.String(), "level=DEBUG")
	require.Contains(t, buf.String(), "msg=hello")
	require.Contains(t, buf.String(), "request_id=abc")
}

func TestLoggerInvalidSpanContextIsOmitted(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo, "json")
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), "x")
	got := lines(t, &buf)
	require.NotContains(t, got[0], "trace_id")
	require.NotContains(t, got[0], "span_id")
}
