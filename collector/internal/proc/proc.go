// Package proc holds what the Phoenix processors share about process
// resources in hostmetrics output: the attribute keys that carry a process's
// identity, the priority classes, and how to read them from a resource.
//
// In hostmetrics output the process identity (executable name, command line,
// owner, pid) lives on the resource, not on the data points, so every helper
// here works on pcommon.Resource attributes.
package proc

import (
	"fmt"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Resource attribute keys written by the hostmetrics process scraper.
const (
	AttrExecutableName = "process.executable.name"
	AttrCommandLine    = "process.command_line"
	AttrCommand        = "process.command"
	AttrOwner          = "process.owner"
	AttrPID            = "process.pid"
	AttrHostName       = "host.name"
)

// Resource attribute keys written by the Phoenix processors.
const (
	// AttrPriority holds the class assigned by phoenix_priority.
	AttrPriority = "phoenix.priority"
	// AttrKeep is written by phoenix_topk in mark mode: true when the process
	// keeps its individual series, false when a later stage (phoenix_rollup)
	// should fold it into a group.
	AttrKeep = "phoenix.keep"
	// AttrGroup names the group of a series produced by phoenix_rollup.
	AttrGroup = "phoenix.group"
	// AttrGroupBy names the grouping that produced AttrGroup.
	AttrGroupBy = "phoenix.group_by"
	// AttrGroupMembers is the number of processes folded into a group series.
	AttrGroupMembers = "phoenix.group.members"
)

// Priority is a process's importance class. Higher values are more important;
// the zero value is Unknown, meaning no class was assigned.
type Priority int

// Priority classes, least important first.
const (
	Unknown Priority = iota
	Low
	Medium
	High
	Critical
)

var priorityNames = [...]string{"", "low", "medium", "high", "critical"}

// String returns the lower-case name written to the phoenix.priority attribute.
func (p Priority) String() string {
	if p < Unknown || p > Critical {
		return "priority(" + strconv.Itoa(int(p)) + ")"
	}
	return priorityNames[p]
}

// ParsePriority parses one of "critical", "high", "medium" or "low".
func ParsePriority(s string) (Priority, error) {
	for i, n := range priorityNames {
		if i > 0 && n == s {
			return Priority(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown priority %q (want critical, high, medium or low)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler so that configs can name
// priorities as strings.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// IsProcess reports whether a resource describes a process (it carries a pid
// or an executable name).
func IsProcess(res pcommon.Resource) bool {
	attrs := res.Attributes()
	if _, ok := attrs.Get(AttrPID); ok {
		return true
	}
	_, ok := attrs.Get(AttrExecutableName)
	return ok
}

// PriorityOf returns the priority recorded on a resource by phoenix_priority,
// or Unknown when there is none or it is not a valid class.
func PriorityOf(res pcommon.Resource) Priority {
	v, ok := res.Attributes().Get(AttrPriority)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return Unknown
	}
	p, err := ParsePriority(v.Str())
	if err != nil {
		return Unknown
	}
	return p
}

// Str returns a string attribute of the resource, or "" when it is missing.
// Non-string values are rendered with Value.AsString so that a scraper that
// reports, say, an int owner still classifies.
func Str(res pcommon.Resource, key string) string {
	v, ok := res.Attributes().Get(key)
	if !ok {
		return ""
	}
	return StrValue(v)
}

// StrValue is Str for an attribute value already looked up: the string, or
// the value rendered as one.
func StrValue(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// PID returns the process id of a resource and whether it had a usable one.
func PID(res pcommon.Resource) (int64, bool) {
	v, ok := res.Attributes().Get(AttrPID)
	if !ok {
		return 0, false
	}
	return PIDValue(v)
}

// PIDValue is PID for an attribute value already looked up. A string that
// does not parse is not usable; its pid is what strconv.ParseInt returned.
func PIDValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	default:
		return 0, false
	}
}

// Host returns the host a resource belongs to (host.name), or "" when the
// pipeline did not add one; all processes without a host form one host.
func Host(res pcommon.Resource) string { return Str(res, AttrHostName) }

// Key identifies one process instance across scrapes: pid, executable name and
// the process start time (the StartTimestamp of its cumulative points), so a
// reused pid is a new process.
type Key struct {
	Host  string
	PID   int64
	Name  string
	Start pcommon.Timestamp
}

// KeyOf builds the Key of a process resource. start is the start timestamp of
// any of its cumulative data points (0 when unknown).
func KeyOf(res pcommon.Resource, start pcommon.Timestamp) Key {
	pid, _ := PID(res)
	return Key{Host: Host(res), PID: pid, Name: Str(res, AttrExecutableName), Start: start}
}
