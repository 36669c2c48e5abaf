package topkprocessor

import (
	"errors"
	"fmt"
	"time"

	"github.com/phoenix/platform/collector/internal/proc"
)

// Ranking names accepted by rank_by.
const (
	// RankCPU ranks processes by CPU utilization in cores, derived from the
	// deltas of the cumulative process.cpu.time summed over its states.
	RankCPU = "cpu"
	// RankMemory ranks processes by resident memory (process.memory.usage).
	RankMemory = "memory"
)

// Action names accepted by action.
const (
	// ActionDrop removes the process resources that are not kept.
	ActionDrop = "drop"
	// ActionMark keeps every resource and writes the bool resource attribute
	// phoenix.keep on each process, for a later phoenix_rollup.
	ActionMark = "mark"
)

// Limits of the configuration.
const (
	// MaxK is the largest k accepted.
	MaxK = 10000
	// MaxExitMargin is the largest exit_margin accepted.
	MaxExitMargin = 10000
)

// Config is the configuration of the phoenix_topk processor.
type Config struct {
	// K is how many processes per host keep their series by rank, 1 to
	// 10000. Processes at or above AlwaysKeep are kept on top of these.
	K int `mapstructure:"k"`
	// RankBy is the ranking: cpu (default when empty) or memory.
	RankBy string `mapstructure:"rank_by"`
	// AlwaysKeep is the priority (phoenix.priority, written by
	// phoenix_priority) at or above which a process is always kept: critical,
	// high, medium or low. Empty means critical. Processes without a priority
	// count as low, so low keeps everything.
	AlwaysKeep string `mapstructure:"always_keep"`
	// ExitMargin is the hysteresis: a process kept in the previous batch stays
	// kept while it ranks within K+ExitMargin. Unset (nil) means ceil(K/4);
	// 0 disables hysteresis.
	ExitMargin *int `mapstructure:"exit_margin"`
	// Action is drop (default when empty) or mark.
	Action string `mapstructure:"action"`
	// StateTTL is how long the processor remembers a process (its previous
	// CPU reading and its membership) after it was last seen. Must be
	// positive.
	StateTTL time.Duration `mapstructure:"state_ttl"`
}

// Validate checks the configuration without side effects. Every message names
// the YAML key it is about.
func (c *Config) Validate() error {
	var errs []error
	if c.K < 1 || c.K > MaxK {
		errs = append(errs, fmt.Errorf("k: must be between 1 and %d, got %d", MaxK, c.K))
	}
	if _, err := c.rankByMemory(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.alwaysKeep(); err != nil {
		errs = append(errs, err)
	}
	if c.ExitMargin != nil && (*c.ExitMargin < 0 || *c.ExitMargin > MaxExitMargin) {
		errs = append(errs, fmt.Errorf("exit_margin: must be between 0 and %d, got %d", MaxExitMargin, *c.ExitMargin))
	}
	if _, err := c.mark(); err != nil {
		errs = append(errs, err)
	}
	if c.StateTTL <= 0 {
		errs = append(errs, fmt.Errorf("state_ttl: must be positive, got %s", c.StateTTL))
	}
	return errors.Join(errs...)
}

// exitMargin returns ExitMargin, or ceil(K/4) when it is unset.
func (c *Config) exitMargin() int {
	if c.ExitMargin != nil {
		return *c.ExitMargin
	}
	return (c.K + 3) / 4
}

func (c *Config) rankByMemory() (bool, error) {
	switch c.RankBy {
	case "", RankCPU:
		return false, nil
	case RankMemory:
		return true, nil
	default:
		return false, fmt.Errorf("rank_by: unknown ranking %q (want cpu or memory)", c.RankBy)
	}
}

func (c *Config) alwaysKeep() (proc.Priority, error) {
	if c.AlwaysKeep == "" {
		return proc.Critical, nil
	}
	p, err := proc.ParsePriority(c.AlwaysKeep)
	if err != nil {
		return proc.Unknown, fmt.Errorf("always_keep: %w", err)
	}
	return p, nil
}

func (c *Config) mark() (bool, error) {
	switch c.Action {
	case "", ActionDrop:
		return false, nil
	case ActionMark:
		return true, nil
	default:
		return false, fmt.Errorf("action: unknown action %q (want drop or mark)", c.Action)
	}
}
