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
// the fields that some rule tests are part of the memo key. A steady host
// costs one attribute pass, one map lookup and one attribute write per
// resource; regular expressions run only for triples not seen before. The memo
// is cleared when it grows past 16,384 entries, which bounds its memory on
// hosts with unbounded command-line churn.
//
// The processor is safe for concurrent use: each batch is classified under
// one lock.
package priorityprocessor
