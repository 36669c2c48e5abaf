// Package rollupprocessor implements phoenix_rollup, an OpenTelemetry
// Collector metrics processor that folds the process resources that do not
// keep their own series into a few group series, so a host with 1,500 idle
// workers sends one series set per group instead of one per process.
//
// # Which processes are folded
//
// A resource is a process when it carries process.pid or
// process.executable.name (proc.IsProcess); other resources (the system.*
// metrics of the cpu or memory scrapers, for instance) pass through
// untouched. A process whose phoenix.priority is critical is never folded.
// Otherwise a bool phoenix.keep attribute (written by phoenix_topk in mark
// mode) decides: false folds, true keeps. Without it (or when it is not a
// bool), a process is folded when its priority is below keep_priority; a
// process without a priority counts as low. Kept processes pass through
// untouched.
//
// # Configuration
//
//	phoenix_rollup:
//	  group_by: executable   # executable | priority | other
//	  keep_priority: high    # low | medium | high | critical
//	  state_ttl: 5m
//
// # Output
//
// Per host (host.name; absent means one unnamed host) and group, the
// processor emits one resource carrying only host.name (when the inputs had
// it), phoenix.group (the executable name, "unknown" when it is missing; the
// priority class; or "other"), phoenix.group_by (the mode) and
// phoenix.group.members (the number of distinct processes folded in this
// batch, an int); no process.* attribute. That resource takes the place of
// the first process folded into the group in the batch (its attributes and
// points are rewritten, which saves allocating a new one); the other folded
// resources are removed. Scopes, metric names, units, descriptions, types
// and data point attributes are kept, and points with the same scope,
// metric name, type and data point attributes are merged:
//
//   - gauges, non-monotonic sums (process.memory.usage) and delta sums: the
//     sum of the folded points of the batch;
//   - cumulative monotonic sums (process.cpu.time, process.disk.io): the sum,
//     over every process ever folded into the group, of its last value. The
//     processor keeps the last value of every series per group and process;
//     a process is identified as by proc.KeyOf: pid, executable name and
//     start time (the earliest start of its cumulative sum points), so a
//     reused pid is a new process. A new process adds its full value, a
//     counter that grew adds its increase, a counter that went down was
//     reset and adds its new value, and a process that exits (or is kept
//     again) keeps its contribution. The group's total never goes down, and
//     its StartTimestamp is fixed when the group is created (the earliest
//     start among the processes folded in that batch), so the group series
//     is a proper monotonic counter.
//
// The timestamp of a group point is the latest timestamp of the points
// merged into it. Cumulative group points (monotonic or not) carry the
// group's start timestamp, other group points the earliest start of the
// merged points. A series whose first point was an int stays int (double
// points are truncated into it); otherwise it is double.
//
// The stock equivalent (a transform processor deleting the identity
// attributes, then groupbyattrs) only puts the points of the merged
// processes side by side: duplicate series, gauges not added, and counters
// that a plain sum would make go backwards when a process exits. The
// benchmark of this package runs both.
//
// # What is dropped and counted
//
// The processor never fails a batch and never panics on its content. It
// drops, and counts in phoenix_rollup_dropped_datapoints_total{processor,
// reason}, these points of folded processes:
//
//   - unsupported_type: histogram, exponential histogram and summary points
//     (merging them needs bucket-wise state per process that phoenix_rollup
//     does not keep; keep such processes to see them);
//   - invalid_value: points without a value or flagged no-recorded-value,
//     double points that cannot be truncated into an int series, and counter
//     points that are negative, not finite, or older than the process's
//     previous point of the same series;
//   - series_limit: points that would need more scopes, metrics or series
//     than MaxStatePerGroup in their group.
//
// Folded processes are counted in phoenix_rollup_folded_processes_total.
//
// # State
//
// State is kept per host and group behind one mutex, so ConsumeMetrics is
// safe for concurrent use. A process not seen for state_ttl is forgotten
// (its past contribution stays in the group's counters; if it comes back it
// counts as a new process and adds its full value again), and a group not
// seen for state_ttl is forgotten with its counters (it starts again from
// zero with a new start timestamp). Forgetting runs at most every quarter of
// state_ttl, so state is dropped between 1 and 1.25 state_ttl after it was
// last seen. Processes without a pid share one identity per executable name
// and start time.
//
// # Component telemetry
//
// The processor records the measurements of a processor built with the
// collector's processorhelper, under the same names and attributes:
// otelcol_processor_incoming_items, otelcol_processor_outgoing_items (data
// points) and otelcol_processor_internal_duration, and the "Start
// processing." and "End processing." span events. It implements
// processor.Metrics itself, and counts data points only while those counters
// are enabled (not with telemetry level none, which Phoenix's composed
// collectors use): counting walks every metric of a batch, which costs about
// as much as the processing itself.
package rollupprocessor
