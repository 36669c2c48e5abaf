// Package priorityprocessor provides the phoenix_priority processor, which
// classifies every process resource of hostmetrics output into one of the
// priority classes critical, high, medium or low and records the class as the
// resource attribute phoenix.priority (proc.AttrPriority).
//
// Rules are evaluated in order and the first rule whose regular expressions
// all match wins. A rule may test the executable name
// (process.executable.name), the command line (process.command_line) and the
// owner (process.owner); it must set at least one of them. Processes that no
// rule matches get default_priority. Regular expressions use Go's RE2 syntax
// and are unanchored unless written with ^ and $.
//
//	processors:
//	  phoenix_priority:
//	    rules:
//	      - priority: critical
//	        executable: '^(nginx|postgres|java)$'
//	      - priority: high
//	        owner: '^root$'
//	    default_priority: low
//	    overwrite: true
//
// Resources that are not processes (no process.pid and no
// process.executable.name, such as the system.* resources of the cpu or memory
// scrapers) pass through untouched. With overwrite set to false a resource
// that already carries phoenix.priority keeps it.
//
// Performance: a host's processes change rarely between scrapes, so the class
// of every distinct (executable, command line, owner) triple is memoized; only
// the fields that some rule tests are part of the memo key. Scrapes also list
// processes in the same order every time, so each resource is first compared
// with the triple classified at the same place of the previous batch, and
// the memo is consulted only when that differs. A steady host costs one
// attribute pass, one comparison and one attribute write per resource;
// regular expressions run only for triples not seen before. The memo is
// cleared when it grows past 16,384 entries, which bounds its memory on hosts
// with unbounded command-line churn.
//
// The processor is safe for concurrent use: each batch is classified under
// one lock.
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
package priorityprocessor
