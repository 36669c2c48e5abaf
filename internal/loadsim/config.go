package loadsim

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of the overrides.
const (
	MaxProcesses = 5000
	MaxChurnRate = 200.0
)

// Config is what a simulator runs. Build it with [NewConfig], which takes
// the profile's defaults, then override fields. Keys in Validate's messages
// are the command's flag names.
type Config struct {
	// Profile is the name of a built-in profile (key "profile").
	Profile string
	// Processes is the number of long-running processes, 1 to
	// [MaxProcesses] (key "process-count").
	Processes int
	// ChurnRate is the number of short-lived processes started per second,
	// 0 (none) to [MaxChurnRate] (key "churn-rate").
	ChurnRate float64
	// Duration is how long the simulator runs, from when Start returns,
	// before it stops by itself; zero runs it until Stop (key "duration").
	Duration time.Duration
	// Seed picks the command lines and workloads; zero draws one, so that
	// two runs differ.
	Seed uint64
	// IdleOnly makes every process idle (no CPU or memory load): the
	// cheapest load, for cardinality alone. It needs a sleep program.
	IdleOnly bool
	// TempDir is where the simulator makes its private directory of
	// executable names; empty is the system's temporary directory.
	TempDir string
}

// Settings are the simulator's dependencies.
type Settings struct {
	// Logger receives the simulator's events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the simulator's own metrics (see [Simulator]);
	// nil registers none. They are unregistered when the simulator stops.
	Registerer prometheus.Registerer
}

// NewConfig returns the configuration of a profile with its defaults; the
// error names the known profiles.
func NewConfig(profile string) (Config, error) {
	p, err := Lookup(profile)
	if err != nil {
		return Config{Profile: profile}, &FieldError{Field: "profile", Message: err.Error()}
	}
	return Config{Profile: p.Name, Processes: p.Processes, ChurnRate: p.ChurnRate}, nil
}

// FieldError is a bad field of a [Config].
type FieldError struct {
	// Field is the key: profile, process-count, churn-rate or duration.
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate reports every bad field, each as a *[FieldError], joined.
func (c Config) Validate() error {
	var errs []error
	if _, err := Lookup(c.Profile); err != nil {
		errs = append(errs, &FieldError{Field: "profile", Message: err.Error()})
	}
	if c.Processes < 1 || c.Processes > MaxProcesses {
		errs = append(errs, &FieldError{Field: "process-count", Message: fmt.Sprintf("must be between 1 and %d", MaxProcesses)})
	}
	if !(c.ChurnRate >= 0 && c.ChurnRate <= MaxChurnRate) { // also refuses NaN
		errs = append(errs, &FieldError{Field: "churn-rate", Message: fmt.Sprintf("must be between 0 and %g per second", MaxChurnRate)})
	}
	if c.Duration < 0 {
		errs = append(errs, &FieldError{Field: "duration", Message: "must not be negative (0 runs until stopped)"})
	}
	return errors.Join(errs...)
}
