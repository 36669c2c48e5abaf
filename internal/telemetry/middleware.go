package telemetry

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// UnmatchedRoute is the route of a request no pattern matched.
const UnmatchedRoute = "unmatched"

// traceContext extracts the W3C traceparent/tracestate of incoming requests,
// whatever global propagator is installed, so that a request joins its
// caller's trace (and its logs carry the caller's trace ID) even when Phoenix
// exports no spans itself.
var traceContext = propagation.TraceContext{}

// Middleware observes every request served by next:
//
//   - a valid X-Request-ID from the client is kept, anything else is replaced
//     by [NewRequestID]; the ID is echoed in the response's X-Request-ID and
//     put in the request context ([RequestID]);
//   - a server span is started from [Tracer], continuing an incoming W3C
//     traceparent, and named "METHOD route" once the route is known;
//   - m (when non-nil) records the request's count and duration;
//   - log (when non-nil) gets one line per request, message "request", with
//     method, route, path, status, duration, bytes and request_id (plus
//     trace_id and span_id from a [NewLogger] logger), at Info, or at Error
//     for a 5xx status or a panic.
//
// The route is, in order of preference: the route a handler named with
// [SetRoute]; routeOf(r) evaluated after next has served the request; when
// routeOf is nil, the pattern a Go 1.22+ [http.ServeMux] in next matched
// (r.Pattern, without its method). The mux sets r.Pattern on the request it
// receives, so a middleware between this one and the mux that copies the
// request (r.WithContext) hides it; handlers behind such middleware call
// SetRoute. Requests without a route count as [UnmatchedRoute], so raw paths
// never become metric labels.
func Middleware(next http.Handler, routeOf func(*http.Request) string, m *Metrics, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, addsContext := log.Handler().(*contextHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) {
			id = NewRequestID()
		}
		w.Header().Set(RequestIDHeader, id)

		ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx = WithRequestID(ctx, id)
		holder := new(routeHolder)
		ctx = context.WithValue(ctx, routeKey{}, holder)
		ctx, span := Tracer().Start(ctx, r.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("phoenix.request_id", id),
			))
		req := r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w}

		finish := func(panicked bool) {
			status := rec.status
			if panicked && !rec.wroteHeader {
				status = http.StatusInternalServerError
			}
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			route := routeName(req, holder, routeOf)

			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			m.ObserveRequest(route, r.Method, status, d)

			level := slog.LevelInfo
			if status >= 500 || panicked {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", d),
				slog.Int64("bytes", rec.bytes),
			}
			if !addsContext {
				attrs = append(attrs, slog.String(LogKeyRequestID, id))
			}
			if panicked {
				attrs = append(attrs, slog.Bool("panic", true))
			}
			log.LogAttrs(ctx, level, "request", attrs...)
			span.End()
		}

		defer func() {
			// A panicking handler is still counted and logged (as a 500 when
			// nothing was written); the panic goes on to net/http.
			if p := recover(); p != nil {
				finish(true)
				panic(p)
			}
		}()
		next.ServeHTTP(rec, req)
		finish(false)
	})
}

type routeKey struct{}

// routeHolder receives the route set by [SetRoute] during a request.
type routeHolder struct {
	mu    sync.Mutex
	route string
}

// SetRoute names the route of the request whose context is ctx, for the
// metrics, span and log line of [Middleware]. route must be a pattern (e.g.
// "/api/v1/experiments/{id}"), never a raw path. Outside Middleware it does
// nothing.
func SetRoute(ctx context.Context, route string) {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		h.mu.Lock()
		h.route = route
		h.mu.Unlock()
	}
}

// routeName returns the request's route as documented at [Middleware].
func routeName(r *http.Request, holder *routeHolder, routeOf func(*http.Request) string) string {
	holder.mu.Lock()
	route := holder.route
	holder.mu.Unlock()
	switch {
	case route != "":
	case routeOf != nil:
		route = routeOf(r)
	default:
		route = r.Pattern
		// A pattern is "[METHOD ][HOST]/[PATH]": drop the method, which is a
		// label of its own.
		if i := strings.IndexAny(route, " \t"); i >= 0 && !strings.Contains(route[:i], "/") {
			route = strings.TrimLeft(route[i:], " \t")
		}
	}
	if route == "" {
		return UnmatchedRoute
	}
	return route
}

// recorder captures the status and size of a response. It keeps the
// optional interfaces of the writer it wraps reachable: Flush and Hijack
// directly, everything else through Unwrap (http.ResponseController).
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
		rec.wroteHeader = true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wroteHeader {
		rec.status = http.StatusOK
		rec.wroteHeader = true
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// Flush implements http.Flusher.
func (rec *recorder) Flush() {
	if !rec.wroteHeader {
		rec.status = http.StatusOK
		rec.wroteHeader = true
	}
	_ = http.NewResponseController(rec.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker, for WebSocket upgrades (OpAMP).
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil && !rec.wroteHeader {
		rec.status = http.StatusSwitchingProtocols
		rec.wroteHeader = true
	}
	return conn, rw, err
}

var _ interface {
	http.Flusher
	http.Hijacker
} = (*recorder)(nil)
