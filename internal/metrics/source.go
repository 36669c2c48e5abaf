// Package metrics is where Phoenix's measurements live and how they are
// read: an embedded store built on Prometheus's tsdb and promql packages
// (with remote-write ingest and the Prometheus HTTP query API), and a client
// of an external Prometheus-compatible server. Analysis reads both through
// one interface, Source, with the same PromQL.
package metrics

import (
	"context"
	"time"
)

// Sample is one value of a series at a time.
type Sample struct {
	T time.Time
	V float64
}

// Series is a labelled sequence of samples, ordered by time.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Source answers PromQL queries. Implementations: the embedded store and a
// client of an external Prometheus-compatible HTTP API. Queries that need
// tenant isolation carry a tenant="..." matcher; the embedded store's HTTP
// API adds it itself for callers from outside.
//
// Methods are safe for concurrent use. A query that is not valid PromQL
// returns an error wrapping ErrBadQuery.
type Source interface {
	// Query evaluates an instant query at ts. A scalar result is returned
	// as one series without labels.
	Query(ctx context.Context, query string, ts time.Time) ([]Series, error)
	// QueryRange evaluates a range query from start to end every step.
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)
}

// ErrBadQuery marks an invalid PromQL query.
var ErrBadQuery = errorString("bad query")

type errorString string

func (e errorString) Error() string { return string(e) }
