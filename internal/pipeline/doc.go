// Package pipeline is Phoenix's catalog of process-metrics pipelines and
// the place where pipelines become collector configs.
//
// A pipeline is an ordered chain of OpenTelemetry Collector processors
// (a Document). The catalog (Default) holds the five PRD strategies as
// embedded YAML templates (catalog/*.yaml): process-baseline-v1,
// process-priority-filter-v1, process-topk-v1, process-aggregated-v1 and
// process-adaptive-filter-v1. Each declares typed parameters (Param) with
// defaults and bounds, checked before its body is rendered with
// text/template into a Document.
//
// A Spec names what to run: a catalog template with parameters, or a user
// Document. Validate, ValidateSpec, ValidateDocument and
// ValidateAssignment report every problem at once as a *ValidationError
// whose FieldErrors carry the path of the offending key
// (`processors[1]: unknown processor type "phoenix_topq"`). Processor and
// exporter configs are checked the way the collector itself checks them:
// the factory's default config, the user's keys unmarshalled on top, then
// the config's Validate methods. ValidateCollectorConfig checks a stock
// collector config as `otelcol validate` does with the Phoenix distribution
// (github.com/phoenix/platform/collector).
//
// Compose renders an Assignment (the agent's active pipeline, concurrent
// experiments and exporters) into one collector config in which a single
// hostmetrics receiver feeds every pipeline, each pipeline framed by a
// pair of phoenix_meter processors.
//
// Everything here is pure: no I/O beyond the embedded catalog, safe for
// concurrent use.
package pipeline
