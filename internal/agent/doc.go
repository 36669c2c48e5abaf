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
// One collector runs at a time. Two never overlap, not even for a switch:
// building a hostmetrics receiver writes gopsutil's process-wide
// boot-time cache switches (host.EnableBootTimeCache and
// process.EnableBootTimeCache), which a running process scraper reads
// without synchronisation, a data race the race detector reports; two
// collectors would also bind the same ports and double-count the meters
// of the same pipelines.
//
// A new configuration is validated (collector.Validate, receivers not
// built, for the same reason) while the current collector keeps running;
// a configuration that fails validation is rejected and nothing stops.
// Otherwise the agent waits for the running collector's next scrape: it
// reads the running configuration's output meters (every 25 ms) and
// switches as soon as one grows, or after one scrape interval and
// settleTime when none does. Switching right after a scrape, whose data
// the old collector's shutdown flushes, leaves the new collector, or the
// last-known-good restored after it, nearly a whole interval before the
// production pipeline misses a scrape. The current collector is then
// stopped and a new one started on the new configuration: one
// hostmetrics scrape at a time, and no port held twice.
//
// The new configuration is on probation for the grace period. It fails,
// and the last-known-good is started again at once:
//
//   - if it does not start (the failed start and the restart together
//     stay within 10 s at the default start timeout of 5 s);
//   - if the collector stops during the grace period, the first stop of
//     a crash loop;
//   - if a measured pipeline (a metrics pipeline ending in a
//     phoenix_meter with stage: output) has not increased
//     phoenix_pipeline_output_datapoints_total within its first scrape
//     interval. The interval and the first scrape's initial_delay are the
//     pipeline's receivers' collection_interval and initial_delay (1 s
//     unless set). A pipeline with an input meter (stage: input) is
//     silent once that meter has counted the second scrape and
//     settleTime (500 ms, plus the timeout of any batch processor between
//     the meters) has passed without output; one whose input meter saw
//     nothing, or that has none, is silent one interval and settleTime
//     after its first scrape was due. A pipeline whose receivers state no
//     collection_interval is judged at the end of the grace period, and
//     so is every pipeline that has produced nothing by then. A
//     configuration without any phoenix_meter output stage has nothing to
//     measure and passes on surviving the grace period.
//
// Each failure is reported FAILED with the reason. Because the switch
// follows a scrape, the production pipeline's next data point after the
// old collector's last comes, for a good configuration, a collector start
// and its initial_delay later; for one that does not start, the failed
// start, a collector start and the last-known-good's initial_delay later;
// for one that stops, at most a collector start and the initial_delay
// after the stop; for a silent one, after its initial_delay, one
// interval, settleTime, a poll, two collector starts and the
// last-known-good's initial_delay. The production pipeline's gap, the
// time it goes without data beyond its normal cadence (the longest
// spacing of its data points less one interval), is thus none for a
// rejected or good configuration, none or a fraction of the interval for
// one that does not start or stops, and about two initial_delays and
// settleTime for a silent one. Phoenix composes its hostmetrics receiver
// with initial_delay 0s, so that is settleTime and the switches (0.7 s in
// TestAgentBadPushProductionGap), within the smallest collection interval
// the fleet allows (1 s); with the receiver's default initial_delay of
// 1 s it would be 2.7 s.
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
