package adaptiveprocessor

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/phoenix/platform/collector/internal/proc"
)

// Ranking criteria for top_k.
const (
	// RankByCPU ranks processes by CPU utilization (cores).
	RankByCPU = "cpu"
	// RankByMemory ranks processes by resident memory (process.memory.usage).
	RankByMemory = "memory"
)

// Config configures the phoenix_adaptive processor.
type Config struct {
	// RankBy is what top_k ranks processes by: "cpu" (default) or "memory".
	RankBy string `mapstructure:"rank_by"`
	// AlwaysKeep is the lowest priority that is never dropped, whatever the
	// mode: "critical" (default), "high", "medium" or "low".
	AlwaysKeep string `mapstructure:"always_keep"`
	// CPUCount is the number of logical CPUs of the monitored hosts, the
	// denominator of the host CPU percentage. Zero means the CPUs of the
	// machine the collector runs on (runtime.NumCPU()).
	CPUCount int `mapstructure:"cpu_count"`
	// StateTTL is how long a host's mode and CPU readings are remembered
	// without a batch from it; a host seen again after that starts over in
	// the first mode. Must be positive (default 5m).
	StateTTL time.Duration `mapstructure:"state_ttl"`
	// Label writes the phoenix.adaptive.mode attribute, the host's current
	// mode, on every process resource kept (default true). A resource
	// attribute is part of the identity of every series exported from it,
	// so when a host changes mode all its series start anew in a
	// Prometheus-style backend; with Label off the mode is still exported
	// as the phoenix_adaptive_mode gauge.
	Label bool `mapstructure:"label"`
	// Modes are the filtering modes, from the most relaxed to the tightest.
	// The first is the starting mode and has no thresholds; each later mode
	// names when to step into it from the previous one and back out.
	Modes []Mode `mapstructure:"modes"`
}

// Mode is one filtering level.
type Mode struct {
	// Name identifies the mode in the phoenix.adaptive.mode attribute and in
	// the mode label of the processor's metrics. Unique and non-empty.
	Name string `mapstructure:"name"`
	// DropBelow drops processes whose priority is below this class ("low",
	// "medium", "high" or "critical"); Unknown counts as low. Empty keeps
	// every priority.
	DropBelow string `mapstructure:"drop_below"`
	// TopK keeps only the TopK highest-ranked processes (by rank_by) among
	// those that survive drop_below and are not protected by always_keep;
	// protected processes are kept in addition. Zero means no limit.
	TopK int `mapstructure:"top_k"`
	// Enter moves a host into this mode from the previous one when any of
	// its thresholds is reached. Required on every mode but the first.
	Enter Thresholds `mapstructure:"enter"`
	// Exit moves a host back to the previous mode when every threshold is
	// below its value. It must set exactly the thresholds Enter sets, each
	// below Enter's, so that a host never leaves a mode only to re-enter it
	// on the next batch.
	Exit Thresholds `mapstructure:"exit"`
}

// Thresholds are host pressure levels. A zero field is unused.
type Thresholds struct {
	// ProcessCount is a number of process resources of one host in a batch.
	ProcessCount int `mapstructure:"process_count"`
	// CPUPercent is the host's total process CPU utilization in percent of
	// cpu_count logical CPUs (0-100).
	CPUPercent float64 `mapstructure:"cpu_percent"`
}

func (t Thresholds) isZero() bool { return t.ProcessCount == 0 && t.CPUPercent == 0 }

func createDefaultConfig() *Config {
	return &Config{
		RankBy:     RankByCPU,
		AlwaysKeep: proc.Critical.String(),
		StateTTL:   5 * time.Minute,
		Label:      true,
		Modes: []Mode{
			{Name: "relaxed"},
			{
				Name:      "tight",
				DropBelow: proc.Medium.String(),
				TopK:      20,
				Enter:     Thresholds{ProcessCount: 500, CPUPercent: 80},
				Exit:      Thresholds{ProcessCount: 400, CPUPercent: 60},
			},
		},
	}
}

// Validate checks the configuration without side effects; each message names
// the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	switch cfg.RankBy {
	case RankByCPU, RankByMemory:
	default:
		errs = append(errs, fmt.Errorf("rank_by: must be %q or %q, got %q", RankByCPU, RankByMemory, cfg.RankBy))
	}
	if _, err := proc.ParsePriority(cfg.AlwaysKeep); err != nil {
		errs = append(errs, fmt.Errorf("always_keep: %w", err))
	}
	if cfg.CPUCount < 0 {
		errs = append(errs, fmt.Errorf("cpu_count: must not be negative, got %d", cfg.CPUCount))
	}
	if cfg.StateTTL <= 0 {
		errs = append(errs, fmt.Errorf("state_ttl: must be positive, got %s", cfg.StateTTL))
	}
	if len(cfg.Modes) == 0 {
		errs = append(errs, errors.New("modes: at least one mode is required"))
	}
	seen := make(map[string]int, len(cfg.Modes))
	for i, m := range cfg.Modes {
		key := fmt.Sprintf("modes[%d]", i)
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", key))
		} else if j, dup := seen[m.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of modes[%d]", key, m.Name, j))
		} else {
			seen[m.Name] = i
		}
		if m.DropBelow != "" {
			if _, err := proc.ParsePriority(m.DropBelow); err != nil {
				errs = append(errs, fmt.Errorf("%s.drop_below: %w", key, err))
			}
		}
		if m.TopK < 0 {
			errs = append(errs, fmt.Errorf("%s.top_k: must not be negative, got %d", key, m.TopK))
		}
		if i == 0 {
			if !m.Enter.isZero() || !m.Exit.isZero() {
				errs = append(errs, fmt.Errorf("%s: the first mode cannot have enter/exit thresholds", key))
			}
			continue
		}
		errs = append(errs, validateThresholds(key, m.Enter, m.Exit)...)
	}
	return errors.Join(errs...)
}

func validateThresholds(key string, enter, exit Thresholds) []error {
	var errs []error
	if enter.ProcessCount < 0 {
		errs = append(errs, fmt.Errorf("%s.enter.process_count: must not be negative, got %d", key, enter.ProcessCount))
	}
	if exit.ProcessCount < 0 {
		errs = append(errs, fmt.Errorf("%s.exit.process_count: must not be negative, got %d", key, exit.ProcessCount))
	}
	if !validPercent(enter.CPUPercent) {
		errs = append(errs, fmt.Errorf("%s.enter.cpu_percent: must be a finite number not below 0, got %g", key, enter.CPUPercent))
	}
	if !validPercent(exit.CPUPercent) {
		errs = append(errs, fmt.Errorf("%s.exit.cpu_percent: must be a finite number not below 0, got %g", key, exit.CPUPercent))
	}
	if len(errs) > 0 {
		return errs
	}
	if enter.isZero() {
		return append(errs, fmt.Errorf("%s.enter: at least one of process_count, cpu_percent must be set", key))
	}
	switch {
	case enter.ProcessCount == 0 && exit.ProcessCount != 0:
		errs = append(errs, fmt.Errorf("%s.exit.process_count: set but enter.process_count is not", key))
	case enter.ProcessCount != 0 && exit.ProcessCount == 0:
		errs = append(errs, fmt.Errorf("%s.exit.process_count: required when enter.process_count is set", key))
	case exit.ProcessCount >= enter.ProcessCount && enter.ProcessCount != 0:
		errs = append(errs, fmt.Errorf("%s.exit.process_count: must be below enter.process_count (%d), got %d",
			key, enter.ProcessCount, exit.ProcessCount))
	}
	switch {
	case enter.CPUPercent == 0 && exit.CPUPercent != 0:
		errs = append(errs, fmt.Errorf("%s.exit.cpu_percent: set but enter.cpu_percent is not", key))
	case enter.CPUPercent != 0 && exit.CPUPercent == 0:
		errs = append(errs, fmt.Errorf("%s.exit.cpu_percent: required when enter.cpu_percent is set", key))
	case exit.CPUPercent >= enter.CPUPercent && enter.CPUPercent != 0:
		errs = append(errs, fmt.Errorf("%s.exit.cpu_percent: must be below enter.cpu_percent (%g), got %g",
			key, enter.CPUPercent, exit.CPUPercent))
	}
	return errs
}

func validPercent(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }
