// Package agent is the Phoenix agent that runs on every host: an OpAMP
// client (github.com/open-telemetry/opamp-go) connected to the Phoenix
// server, a supervisor that runs the Phoenix OpenTelemetry Collector
// in-process (github.com/phoenix/platform/collector) on the configuration
// the server pushes, and a shipper that remote-writes the measurements of
// measure.Default() to the server.
//
// # Protocol
//
// The agent dials ws(s)://<server>/v1/opamp with the header
// "Authorization: Bearer <enrollment token>". It describes itself with the
// identifying attributes service.name=phoenix-agent, service.instance.id
// (the instance UID, kept in the state directory so that restarts keep the
// identity) and host.name, and the non-identifying attributes
// service.version, os.type, host.arch and one attribute per label. Its
// capabilities are ReportsStatus, AcceptsRemoteConfig,
// ReportsEffectiveConfig, ReportsHealth and ReportsRemoteConfig. The
// opamp-go client reconnects on its own with exponential backoff (0.5 s
// growing to 60 s); the collector keeps running meanwhile.
//
// A remote configuration is an AgentConfigMap with two files:
// collector.yaml, the complete collector configuration, and phoenix.yaml
// (PhoenixConfig): where and how often to remote-write the measurements.
// The agent reports APPLYING when it starts applying one, APPLIED when the
// collector runs it and every measured pipeline has produced data, and
// FAILED with the reason otherwise; the effective configuration it reports
// is the pair of files actually running.
//
// # Supervision and last-known-good
//
// A new configuration is validated (collector.Validate) while the current
// collector keeps running; a configuration that fails validation is
// rejected and nothing stops. Otherwise the current collector is stopped
// and a new one started on the new configuration: one hostmetrics scrape
// at a time, and no port held twice. The new configuration is then on
// probation for the grace period. It fails if it does not start, if the
// collector stops during the grace period, or if one of its measured
// pipelines (those ending in a phoenix_meter with stage: output) has not
// increased phoenix_pipeline_output_datapoints_total by the end of the
// grace period. A configuration without any phoenix_meter output stage
// has nothing to measure and passes on surviving the grace period. On
// failure the agent starts the last-known-good configuration again at
// once and reports FAILED with the reason.
//
// A configuration that survives its grace period becomes the
// last-known-good: it is written to the state directory atomically (temp
// file, fsync, rename, fsync of the directory) with its hash and a
// checksum, and it is what the agent runs at its next start before the
// server answers. Before any configuration has been accepted the agent
// runs Config.InitialConfig, by default the process-baseline-v1 pipeline
// composed for the host (BaselineConfig). A last-known-good that later
// stops three times within five minutes is replaced by the one before it
// (kept in memory); any other unexpected stop restarts the same
// configuration with backoff.
//
// # Measurements
//
// The agent registers phoenix_agent_cpu_seconds_total and
// phoenix_agent_memory_bytes (labelled host) in measure.Default(), and
// every remote_write_interval gathers that registry and sends the samples
// with Prometheus remote write 1.0 (snappy-compressed prompb.WriteRequest)
// to remote_write_url, retrying 5xx and network errors with backoff,
// dropping requests answered with another 4xx, and holding at most
// MaxQueuedRequests requests, oldest dropped first.
package agent
