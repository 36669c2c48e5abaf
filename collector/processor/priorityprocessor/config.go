package priorityprocessor

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/phoenix/platform/collector/internal/proc"
)

// Config is the configuration of the phoenix_priority processor.
type Config struct {
	// Rules are evaluated in order; the first rule that matches a process
	// decides its priority. An empty list classifies every process with
	// DefaultPriority.
	Rules []Rule `mapstructure:"rules"`
	// DefaultPriority is the class of processes no rule matches: one of
	// critical, high, medium or low. Empty means low.
	DefaultPriority string `mapstructure:"default_priority"`
	// Overwrite replaces a phoenix.priority attribute that is already on the
	// resource when true (the default); when false the existing value is
	// kept.
	Overwrite bool `mapstructure:"overwrite"`
}

// Rule assigns Priority to the processes whose attributes match every regular
// expression it sets. Empty expressions are not tested; at least one must be
// set.
type Rule struct {
	// Priority is the class assigned on a match: critical, high, medium or low.
	Priority string `mapstructure:"priority"`
	// Executable is a regular expression tested against process.executable.name.
	Executable string `mapstructure:"executable"`
	// CommandLine is a regular expression tested against process.command_line.
	CommandLine string `mapstructure:"command_line"`
	// Owner is a regular expression tested against process.owner.
	Owner string `mapstructure:"owner"`
}

// Validate checks the configuration without side effects. Every message names
// the YAML key it is about.
func (c *Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if _, err := r.compile(i); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DefaultPriority != "" {
		if _, err := proc.ParsePriority(c.DefaultPriority); err != nil {
			errs = append(errs, fmt.Errorf("default_priority: %w", err))
		}
	}
	return errors.Join(errs...)
}

// defaultPriority returns the parsed DefaultPriority, low when empty.
func (c *Config) defaultPriority() (proc.Priority, error) {
	if c.DefaultPriority == "" {
		return proc.Low, nil
	}
	return proc.ParsePriority(c.DefaultPriority)
}

// compiledRule is a Rule with its expressions compiled; a nil expression is
// not tested.
type compiledRule struct {
	priority    proc.Priority
	executable  *regexp.Regexp
	commandLine *regexp.Regexp
	owner       *regexp.Regexp
}

// compile parses the rule at index i of the rules list. Every error names
// its key, such as rules[2].executable; several are joined.
func (r Rule) compile(i int) (compiledRule, error) {
	var (
		cr   compiledRule
		errs []error
		err  error
	)
	if r.Priority == "" {
		errs = append(errs, fmt.Errorf("rules[%d].priority: required (critical, high, medium or low)", i))
	} else if cr.priority, err = proc.ParsePriority(r.Priority); err != nil {
		errs = append(errs, fmt.Errorf("rules[%d].priority: %w", i, err))
	}
	if r.Executable == "" && r.CommandLine == "" && r.Owner == "" {
		errs = append(errs, fmt.Errorf("rules[%d]: set at least one of executable, command_line, owner", i))
	}
	for _, f := range []struct {
		key  string
		expr string
		dst  **regexp.Regexp
	}{
		{"executable", r.Executable, &cr.executable},
		{"command_line", r.CommandLine, &cr.commandLine},
		{"owner", r.Owner, &cr.owner},
	} {
		if f.expr == "" {
			continue
		}
		re, err := regexp.Compile(f.expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules[%d].%s: invalid regexp: %w", i, f.key, err))
			continue
		}
		*f.dst = re
	}
	if len(errs) > 0 {
		return compiledRule{}, errors.Join(errs...)
	}
	return cr, nil
}
