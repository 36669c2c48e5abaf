package experiment

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
)

// Modes of the candidate pipeline.
const (
	// ModeShadow measures the candidate without exporting it (the default), so
	// an experiment does not double the ingest bill.
	ModeShadow = "shadow"
	// ModeLive exports the candidate too, tagged with phoenix.variant.
	ModeLive = "live"
)

// Defaults of a Spec.
const (
	DefaultDuration          = 10 * time.Minute
	DefaultMinRuntime        = 3 * time.Minute
	DefaultMinReduction      = 0.2
	DefaultMaxOverhead       = 0.05
	DefaultCriticalRetention = 1.0
	DefaultConfidence        = 0.95
	MaxDuration              = 30 * 24 * time.Hour
)

// DefaultCritical is the critical-process pattern used when a spec names none.
var DefaultCritical = []string{`^(nginx|java|postgres|mysql|redis|kubelet|dockerd?)$`}

// Spec is what an experiment compares, where, for how long, and what a win
// means.
type Spec struct {
	// Baseline is the control pipeline.
	Baseline PipelineRef `json:"baseline"`
	// Candidate is the pipeline under test.
	Candidate PipelineRef `json:"candidate"`
	// Target selects the hosts the experiment runs on.
	Target Target `json:"target"`
	// Duration is how long the experiment collects data.
	Duration Duration `json:"duration"`
	// CriticalProcesses are regexes on process.executable.name of processes
	// that must stay visible.
	CriticalProcesses []string `json:"critical_processes,omitempty"`
	// Mode is ModeShadow (default) or ModeLive.
	Mode string `json:"mode,omitempty"`
	// Criteria is what the candidate must achieve to be promoted.
	Criteria Criteria `json:"criteria"`
}

// PipelineRef names a catalog pipeline or a user pipeline, with parameters.
type PipelineRef struct {
	// Name is a catalog pipeline name (e.g. process-topk-v1) or the name of
	// one of the tenant's pipelines.
	Name string `json:"name"`
	// Params override the pipeline's parameter defaults.
	Params map[string]any `json:"params,omitempty"`
}

// Target selects hosts by name or by agent labels; at least one is set.
type Target struct {
	// Hosts lists host names.
	Hosts []string `json:"hosts,omitempty"`
	// Selector matches agent labels (all must match).
	Selector map[string]string `json:"selector,omitempty"`
}

// Criteria are the success criteria of an experiment.
type Criteria struct {
	// MinReduction is the smallest reduction of output series, as a fraction
	// (0.2 = 20%), that the candidate must show with the required confidence.
	MinReduction float64 `json:"min_reduction"`
	// MaxOverhead is the largest extra processing time of the candidate
	// relative to the baseline, as a fraction.
	MaxOverhead float64 `json:"max_overhead"`
	// CriticalRetention is the fraction of critical processes that must stay
	// visible; 1 means all of them.
	CriticalRetention float64 `json:"critical_retention"`
	// ConfidenceLevel of the intervals and tests, e.g. 0.95.
	ConfidenceLevel float64 `json:"confidence_level"`
	// MinRuntime is the shortest time before an early decision is allowed.
	MinRuntime Duration `json:"min_runtime"`
}

// Duration is a time.Duration written as a Go duration string ("5m") in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts a duration string ("90s", "5m") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\" or a number of seconds")
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

var labelKey = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,128}$`)

// WithDefaults returns s with every unset field at its default.
func (s Spec) WithDefaults() Spec {
	if s.Duration == 0 {
		s.Duration = Duration(DefaultDuration)
	}
	if s.Mode == "" {
		s.Mode = ModeShadow
	}
	if len(s.CriticalProcesses) == 0 {
		s.CriticalProcesses = append([]string(nil), DefaultCritical...)
	}
	c := &s.Criteria
	if c.MinReduction == 0 {
		c.MinReduction = DefaultMinReduction
	}
	if c.MaxOverhead == 0 {
		c.MaxOverhead = DefaultMaxOverhead
	}
	if c.CriticalRetention == 0 {
		c.CriticalRetention = DefaultCriticalRetention
	}
	if c.ConfidenceLevel == 0 {
		c.ConfidenceLevel = DefaultConfidence
	}
	if c.MinRuntime == 0 {
		c.MinRuntime = Duration(min(DefaultMinRuntime, s.Duration.Std()))
	}
	return s
}

// Validate checks the spec's shape and returns a VALIDATION_ERROR naming
// each bad field (paths start at "spec."). Whether the pipelines exist is
// checked by the caller, which knows the catalog and the tenant's pipelines.
func (s Spec) Validate() error {
	var errs []apierror.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, apierror.FieldError{Field: "spec." + field, Message: fmt.Sprintf(format, args...)})
	}
	for _, v := range []struct {
		field string
		ref   PipelineRef
	}{{"baseline", s.Baseline}, {"candidate", s.Candidate}} {
		if strings.TrimSpace(v.ref.Name) == "" {
			add(v.field+".name", "required")
		} else if len(v.ref.Name) > 128 {
			add(v.field+".name", "at most 128 characters")
		}
	}
	if len(s.Target.Hosts) == 0 && len(s.Target.Selector) == 0 {
		add("target", "set hosts or selector")
	}
	if len(s.Target.Hosts) > 10000 {
		add("target.hosts", "at most 10000 hosts")
	}
	for i, h := range s.Target.Hosts {
		if strings.TrimSpace(h) == "" || len(h) > 253 {
			add(fmt.Sprintf("target.hosts[%d]", i), "must be a host name of 1 to 253 characters")
		}
	}
	for k, v := range s.Target.Selector {
		if !labelKey.MatchString(k) {
			add("target.selector."+k, "label key must match %s", labelKey)
		}
		if len(v) > 256 {
			add("target.selector."+k, "label value longer than 256 characters")
		}
	}
	if d := s.Duration.Std(); d < 0 || d > MaxDuration {
		add("duration", "must be between 0 and %s", MaxDuration)
	} else if d != 0 && d < 30*time.Second {
		add("duration", "must be at least 30s")
	}
	if len(s.CriticalProcesses) > 64 {
		add("critical_processes", "at most 64 patterns")
	}
	for i, p := range s.CriticalProcesses {
		if _, err := regexp.Compile(p); err != nil {
			add(fmt.Sprintf("critical_processes[%d]", i), "invalid regexp: %v", err)
		}
	}
	if s.Mode != "" && s.Mode != ModeShadow && s.Mode != ModeLive {
		add("mode", "must be %q or %q", ModeShadow, ModeLive)
	}
	c := s.Criteria
	if c.MinReduction < 0 || c.MinReduction >= 1 {
		add("criteria.min_reduction", "must be a fraction in [0, 1)")
	}
	if c.MaxOverhead < 0 || c.MaxOverhead > 10 {
		add("criteria.max_overhead", "must be a fraction in [0, 10]")
	}
	if c.CriticalRetention < 0 || c.CriticalRetention > 1 {
		add("criteria.critical_retention", "must be a fraction in [0, 1]")
	}
	if c.ConfidenceLevel != 0 && (c.ConfidenceLevel < 0.5 || c.ConfidenceLevel >= 1) {
		add("criteria.confidence_level", "must be in [0.5, 1)")
	}
	if c.MinRuntime < 0 || (s.Duration != 0 && c.MinRuntime > s.Duration) {
		add("criteria.min_runtime", "must be between 0 and the duration")
	}
	if len(errs) > 0 {
		return apierror.Validation(errs...)
	}
	return nil
}
