package meterprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Stage says where in a pipeline a meter instance sits.
type Stage string

// The two stages of a measured pipeline.
const (
	// StageInput is the first processor of a pipeline: it measures what the
	// pipeline receives, remembers the critical processes of each call and
	// times the processors that follow it.
	StageInput Stage = "input"
	// StageOutput is the last processor of a pipeline: it measures what the
	// pipeline would send and reports which critical processes reached it.
	StageOutput Stage = "output"
)

// DefaultActiveWindow is how long a series counts as active after it was last
// seen when active_window is not set.
const DefaultActiveWindow = 60 * time.Second

// Config is the configuration of one phoenix_meter instance.
type Config struct {
	// Stage is input (first processor) or output (last processor). Required.
	Stage Stage `mapstructure:"stage"`
	// Experiment is the experiment id label; empty for the active pipeline.
	Experiment string `mapstructure:"experiment"`
	// Variant is the variant label: baseline, candidate, active or any
	// [a-z0-9_-]{1,64}. Required.
	Variant string `mapstructure:"variant"`
	// Host is the host label of data that carries no host.name resource
	// attribute. Empty means the name reported by os.Hostname.
	Host string `mapstructure:"host"`
	// CriticalExecutables are regular expressions matched against
	// process.executable.name; matching processes are critical. Only the
	// input stage uses them. Empty means no process is critical.
	CriticalExecutables []string `mapstructure:"critical_executables"`
	// ActiveWindow is how long a series counts as active after it was last
	// seen. Zero in a loaded config is rejected; the default is 60s.
	ActiveWindow time.Duration `mapstructure:"active_window"`
}

var (
	variantPattern    = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	experimentPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,128}$`)
)

// Validate checks the configuration without side effects; every message
// names the YAML key at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Stage != StageInput && c.Stage != StageOutput {
		errs = append(errs, fmt.Errorf("stage: must be input or output, got %q", c.Stage))
	}
	if !experimentPattern.MatchString(c.Experiment) {
		errs = append(errs, fmt.Errorf("experiment: must match %s, got %q", experimentPattern, c.Experiment))
	}
	if !variantPattern.MatchString(c.Variant) {
		errs = append(errs, fmt.Errorf("variant: must match %s, got %q", variantPattern, c.Variant))
	}
	for i, expr := range c.CriticalExecutables {
		if _, err := regexp.Compile(expr); err != nil {
			errs = append(errs, fmt.Errorf("critical_executables[%d]: invalid regexp %q: %w", i, expr, err))
		}
	}
	if c.ActiveWindow <= 0 {
		errs = append(errs, fmt.Errorf("active_window: must be > 0, got %s", c.ActiveWindow))
	}
	return errors.Join(errs...)
}
