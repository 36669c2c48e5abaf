// Package telemetry is how Phoenix's control plane observes itself: request
// IDs, structured logs that carry them, OpenTelemetry traces, and Phoenix's
// own Prometheus metrics, tied together by one HTTP [Middleware].
//
// A request's ID and, when a span is active, its trace and span IDs ride in
// the request's context; a logger from [NewLogger] adds them to every record
// logged with that context (logger.InfoContext(ctx, ...)).
package telemetry
