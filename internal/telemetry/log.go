package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the attributes the logger adds from a record's context.
const (
	LogKeyRequestID = "request_id"
	LogKeyTraceID   = "trace_id"
	LogKeySpanID    = "span_id"
)

// NewLogger returns a logger writing records at level and above to w, as
// JSON lines when format is "json" (or anything but "text") and as
// key=value text when format is "text". Every record logged with a context
// (InfoContext and friends) carries request_id when the context has one, and
// trace_id and span_id when it holds a valid span context. These attributes
// are top-level even inside WithGroup.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(NewContextHandler(h))
}

// NewContextHandler wraps h so that every record gets request_id, trace_id
// and span_id from its context, as described at [NewLogger].
func NewContextHandler(h slog.Handler) slog.Handler {
	if ch, ok := h.(*contextHandler); ok {
		return ch
	}
	return &contextHandler{base: h, full: h}
}

// contextHandler adds context attributes to records. base is the wrapped
// handler with every WithAttrs applied before the first WithGroup; ops are
// the WithAttrs/WithGroup calls made after it, replayed on top of the context
// attributes so that those stay at the top level. full is base with the ops
// applied, for records without context attributes.
type contextHandler struct {
	base slog.Handler
	ops  []handlerOp
	full slog.Handler
}

type handlerOp struct {
	group string      // WithGroup(group) when attrs is nil
	attrs []slog.Attr // WithAttrs(attrs) otherwise
}

func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	attrs := contextAttrs(ctx)
	if len(attrs) == 0 {
		return h.full.Handle(ctx, r)
	}
	if len(h.ops) == 0 {
		r.AddAttrs(attrs...)
		return h.base.Handle(ctx, r)
	}
	return h.apply(h.base.WithAttrs(attrs)).Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.ops) == 0 {
		b := h.base.WithAttrs(attrs)
		return &contextHandler{base: b, full: b}
	}
	return &contextHandler{base: h.base, ops: append(h.ops[:len(h.ops):len(h.ops)], handlerOp{attrs: attrs}), full: h.full.WithAttrs(attrs)}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &contextHandler{base: h.base, ops: append(h.ops[:len(h.ops):len(h.ops)], handlerOp{group: name}), full: h.full.WithGroup(name)}
}

// apply replays the ops on top of base.
func (h *contextHandler) apply(base slog.Handler) slog.Handler {
	for _, op := range h.ops {
		if op.attrs != nil {
			base = base.WithAttrs(op.attrs)
		} else {
			base = base.WithGroup(op.group)
		}
	}
	return base
}

func contextAttrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	var attrs []slog.Attr
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, slog.String(LogKeyRequestID, id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String(LogKeyTraceID, sc.TraceID().String()), slog.String(LogKeySpanID, sc.SpanID().String()))
	}
	return attrs
}
