// Package adaptiveprocessor implements phoenix_adaptive, a metrics processor
// that tightens process filtering on a host under pressure and relaxes it
// when the pressure is gone.
//
// For every batch and every host (host.name; processes without one form one
// host) it measures the pressure: the number of process resources of that
// host in the batch, and their total CPU utilization in percent of cpu_count
// CPUs, derived from process.cpu.time deltas between batches. A host starts
// in the first configured mode. Each batch moves it at most one mode: up when
// any enter threshold of the next mode is reached, down when every exit
// threshold of the current mode is not reached. Exit thresholds lie below
// enter thresholds, so a load that hovers between the two keeps its mode.
//
// The mode then decides which process resources of that host stay: those at
// or above always_keep (critical by default) always stay; below that a mode
// drops priorities under drop_below (phoenix.priority, Unknown counting as
// low) and keeps only the top_k remaining processes ranked by CPU or memory.
// Kept process resources get the phoenix.adaptive.mode attribute unless
// label is false; resources that are not processes pass through untouched.
// The attribute is part of every exported series' identity, so a mode
// change starts all of a host's series anew in a Prometheus-style backend;
// Phoenix's catalog turns it off and relies on the mode gauge.
//
// The processor publishes phoenix_adaptive_mode{host,mode,pipeline} (1 for
// the current mode, 0 for the others) and
// phoenix_adaptive_transitions_total{host,from,to,pipeline} in the registry
// given to NewFactoryWithRegisterer (measure.Default() for NewFactory), for
// every instance between its Start and Shutdown.
//
// Configuration:
//
//	phoenix_adaptive:
//	  rank_by: cpu          # cpu | memory
//	  always_keep: critical
//	  cpu_count: 0          # 0 = runtime.NumCPU()
//	  state_ttl: 5m
//	  label: true           # write phoenix.adaptive.mode on kept processes
//	  modes:
//	    - name: relaxed
//	    - name: tight
//	      drop_below: medium
//	      top_k: 20
//	      enter: {process_count: 500, cpu_percent: 80}
//	      exit:  {process_count: 400, cpu_percent: 60}
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
package adaptiveprocessor
