// Package topkprocessor provides the phoenix_topk processor, which keeps the
// individual series of the top K processes of every host by a ranking, with
// hysteresis, and always keeps processes whose priority is at or above a
// configured class.
//
//	processors:
//	  phoenix_topk:
//	    k: 20
//	    rank_by: cpu        # or memory
//	    always_keep: critical
//	    exit_margin: 5      # unset: ceil(k/4)
//	    action: drop        # or mark
//	    state_ttl: 5m
//
// # The rule
//
// Each batch is split by host (host.name; resources without it form one
// unnamed host) and the process resources of each host are ranked by score,
// highest first. Ties are broken by lower process.pid, then earlier start
// time, then executable name, so the ranking is deterministic. A process is
// kept when any of these holds:
//
//   - it ranks within the top k of its host in this batch;
//   - it was kept by rank in the previous batch it appeared in (it is a
//     member) and it still ranks within k+exit_margin;
//   - its phoenix.priority (proc.PriorityOf; written by phoenix_priority) is
//     at or above always_keep. A missing or invalid priority counts as low.
//
// Membership therefore starts as soon as a process reaches the top k and
// ends only when it falls below rank k+exit_margin, so a process oscillating
// around rank k does not flap between kept and dropped. Processes kept only
// by priority are ranked like the others: they count towards k when they
// rank within it, and are kept on top of k when they do not.
//
// # Scores
//
// rank_by: cpu scores a process by its CPU utilization in cores: the delta of
// the cumulative process.cpu.time (the first such sum of the resource, all
// states summed) since the previous batch that carried the process, divided
// by the time between the two readings. A counter that went backwards counts from zero, as after a
// restart. On the first sighting there is no previous reading; the score is
// then the average utilization over the process's lifetime, the cumulative
// CPU time divided by the time since the process started (the start
// timestamp of its cumulative points), or 0 when the start is unknown. So
// the very first batch already ranks busy processes first, without waiting
// for a second scrape. process.cpu.utilization is not read.
//
// rank_by: memory scores a process by its resident memory
// (process.memory.usage, sum or gauge). Processes without the metric score 0.
//
// Processes are identified by host, pid, executable name and start time
// (proc.Key), so a reused pid is a new process with no history, and so is a
// process that exec'd another executable. The start time is the earliest
// start timestamp of the ranking metric's points, or of any cumulative sum of
// the resource when those have none; hostmetrics gives all points of a
// process its creation time.
//
// # Actions
//
// action: drop removes the process resources that are not kept. action: mark
// keeps every resource and writes the bool resource attribute phoenix.keep
// (proc.AttrKeep) on each process, true or false, for a later phoenix_rollup.
// Resources that are not processes (no process.pid and no
// process.executable.name, such as the system.* resources of the cpu or
// memory scrapers) pass through untouched in both modes.
//
// # State
//
// The processor remembers, per process, the previous CPU reading and the
// membership. A process not seen for state_ttl is forgotten (a later
// sighting is a first sighting); memory is reclaimed by a sweep that runs at
// most every state_ttl/4. The state is also bounded to about a million
// processes.
//
// Ranking is per batch: place the processor before anything that splits a
// host's scrape into several batches. The processor is safe for concurrent
// use; each batch is processed under one lock.
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
package topkprocessor
