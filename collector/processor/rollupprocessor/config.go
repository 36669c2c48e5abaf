package rollupprocessor

import (
	"errors"
	"fmt"
	"time"

	"github.com/phoenix/platform/collector/internal/proc"
)

// GroupBy names how folded processes are grouped.
type GroupBy string

// Groupings accepted by the group_by key.
const (
	// GroupByExecutable folds processes into one group per
	// process.executable.name ("unknown" when the attribute is missing).
	GroupByExecutable GroupBy = "executable"
	// GroupByPriority folds processes into one group per phoenix.priority
	// class; a process without a class goes to the "low" group.
	GroupByPriority GroupBy = "priority"
	// GroupByOther folds every process of a host into one group named "other".
	GroupByOther GroupBy = "other"
)

// Default values of Config.
const (
	DefaultGroupBy      = GroupByExecutable
	DefaultKeepPriority = proc.High
	DefaultStateTTL     = 5 * time.Minute
)

// Config is the configuration of the phoenix_rollup processor.
type Config struct {
	// GroupBy selects the groups folded processes go to: executable,
	// priority or other. Empty is invalid; the default is executable.
	GroupBy GroupBy `mapstructure:"group_by"`
	// KeepPriority is the lowest priority class whose processes keep their
	// own series when they carry no phoenix.keep attribute; a process without
	// a class counts as low. Unknown (the zero value) is invalid; the default
	// is high.
	KeepPriority proc.Priority `mapstructure:"keep_priority"`
	// StateTTL is how long the processor remembers a folded process, and a
	// group, after it was last seen. What a forgotten process contributed stays
	// in its group's counters; a process that reappears after StateTTL counts
	// as a new one. Zero or negative is invalid; the default is 5m.
	StateTTL time.Duration `mapstructure:"state_ttl"`
}

// Validate checks the configuration; it does not modify it. Every message
// names the offending YAML key.
func (c *Config) Validate() error {
	var errs []error
	switch c.GroupBy {
	case GroupByExecutable, GroupByPriority, GroupByOther:
	default:
		errs = append(errs, fmt.Errorf("group_by: must be one of %s, %s or %s, got %q",
			GroupByExecutable, GroupByPriority, GroupByOther, string(c.GroupBy)))
	}
	if c.KeepPriority < proc.Low || c.KeepPriority > proc.Critical {
		errs = append(errs, fmt.Errorf("keep_priority: must be one of low, medium, high or critical, got %q", c.KeepPriority.String()))
	}
	if c.StateTTL <= 0 {
		errs = append(errs, fmt.Errorf("state_ttl: must be positive, got %s", c.StateTTL))
	}
	return errors.Join(errs...)
}
