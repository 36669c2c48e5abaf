// Package meterprocessor is the phoenix_meter processor: it measures what a
// Phoenix pipeline receives and what it would send, and publishes the figures
// of the measurement contract (phoenix_pipeline_*) to a Prometheus registry,
// by default measure.Default().
//
// Every measured pipeline (the active one and each experiment variant) holds
// two instances with the same experiment and variant: one first
// (stage: input) and one last (stage: output):
//
//	metrics/exp-42-candidate:
//	  processors: [phoenix_meter/exp-42-candidate-in, phoenix_priority/..., phoenix_topk/..., phoenix_meter/exp-42-candidate]
//
// No asynchronous processor (batch) may sit between them: the output stage
// runs inside the input stage's call of its next consumer. The input stage
// measures its input, puts a per-call state in the context (keyed by
// experiment and variant) and calls the rest of the pipeline; the output
// stage finds the state, reports which critical processes reached it and how
// long its own next consumer (the exporter) took. When the call returns, the
// input stage knows, for exactly this call, how many critical processes were
// retained and how long the processors in between ran. Concurrent calls each
// carry their own state.
//
// An output stage that finds no state in its context (no input stage, or an
// asynchronous processor in between) still records output series, data
// points and bytes; critical retention and processing time need the in-band
// pairing (the stage logs this once). If the pipeline drops a whole call,
// the output stage never runs and that call retains no critical process.
//
// Measurements, labelled host, experiment and variant (the server adds
// tenant at ingest):
//
//   - phoenix_pipeline_input_series, phoenix_pipeline_output_series: distinct
//     series (metric name + resource attributes + data point attributes) seen
//     by the stage within active_window.
//   - phoenix_pipeline_input_processes: process resources (those naming an
//     executable) in the input of the latest call of that host that carried
//     any: the host's process count as the pipeline sees it.
//   - phoenix_pipeline_input_datapoints_total,
//     phoenix_pipeline_output_datapoints_total: data points.
//   - phoenix_pipeline_output_bytes_total: estimated OTLP protobuf bytes, the
//     ProtoMarshaler size of what the output stage sees.
//   - phoenix_pipeline_critical_expected: distinct critical processes (host,
//     pid, executable) in the input of the latest call of that host;
//     phoenix_pipeline_critical_retained: how many of them reached the
//     output stage with the same pid and executable name;
//     phoenix_pipeline_critical_missing{process}: 1 for each executable name
//     expected but not retained in the latest call.
//   - phoenix_pipeline_processing_seconds_total: wall time of the input
//     stage's next consumer minus the time the output stage spent in its
//     own next consumer, shared among the hosts of a call by data points.
//
// The host label is the resource's host.name, or the configured host when
// there is none. A host whose series have all left the active window is
// forgotten with its gauges. Counters are kept per (host, experiment, variant) by the one
// collector of the registry, so a collector restarted within the process with
// the same pipelines continues them; gauges belong to the live instances
// (registered at Start, removed at Shutdown).
//
// Series identity is a 64-bit hash: resource attributes are hashed once per
// resource, order-independently and without sorting or allocating, then
// mixed with the metric name and each data point's attributes. The distinct
// series of the active window live in an open-addressing table per host.
package meterprocessor
