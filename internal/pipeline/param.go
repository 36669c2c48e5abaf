package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParamType is the kind of value a catalog template parameter takes.
type ParamType string

// Parameter types. Each names how a Spec's value is checked and which Go
// value the template sees.
const (
	// ParamString is a string (template value: string). Bounds limit its length.
	ParamString ParamType = "string"
	// ParamInt is a whole number (template value: int). Bounds limit the value.
	ParamInt ParamType = "int"
	// ParamFloat is a number (template value: float64). Bounds limit the value.
	ParamFloat ParamType = "float"
	// ParamEnum is one of Param.Values (template value: string).
	ParamEnum ParamType = "enum"
	// ParamRegexList is a list of Go regular expressions, or one expression
	// (template value: []string). Bounds limit the number of patterns.
	ParamRegexList ParamType = "regex_list"
	// ParamDuration is a Go duration such as "30s" (template value:
	// time.Duration, which renders as "30s"). Bounds limit the value and are
	// written as durations.
	ParamDuration ParamType = "duration"
)

// Param declares one parameter of a catalog template.
type Param struct {
	// Name is the key under Spec.Params and the template field (.Name).
	Name string `json:"name" yaml:"name"`
	// Type says which values are accepted.
	Type ParamType `json:"type" yaml:"type"`
	// Description says what the parameter changes, for `pipeline show`.
	Description string `json:"description" yaml:"description"`
	// Default is used when a Spec does not set the parameter. A parameter
	// without a default (nil) is required.
	Default any `json:"default,omitempty" yaml:"default,omitempty"`
	// Min and Max bound the value (int, float, duration) or its length
	// (string: characters, regex_list: patterns); nil means unbounded.
	Min any `json:"min,omitempty" yaml:"min,omitempty"`
	Max any `json:"max,omitempty" yaml:"max,omitempty"`
	// Values lists the accepted values of an enum.
	Values []string `json:"values,omitempty" yaml:"values,omitempty"`

	// min and max are Min and Max in the unit measure compares against.
	min, max *float64
}

// init checks the declaration itself and prepares the bounds. It is run
// when a catalog is loaded, so a broken template never reaches a user.
func (p *Param) init() error {
	if !paramNameRE.MatchString(p.Name) {
		return fmt.Errorf("invalid parameter name %q (want lower_snake_case)", p.Name)
	}
	switch p.Type {
	case ParamString, ParamInt, ParamFloat, ParamRegexList, ParamDuration:
		if len(p.Values) > 0 {
			return fmt.Errorf("parameter %s: values are only allowed for enums", p.Name)
		}
	case ParamEnum:
		if len(p.Values) == 0 {
			return fmt.Errorf("parameter %s: an enum needs values", p.Name)
		}
		if p.Min != nil || p.Max != nil {
			return fmt.Errorf("parameter %s: an enum takes no bounds", p.Name)
		}
	default:
		return fmt.Errorf("parameter %s: unknown type %q", p.Name, p.Type)
	}
	var err error
	if p.min, err = p.bound(p.Min); err != nil {
		return fmt.Errorf("parameter %s: min: %w", p.Name, err)
	}
	if p.max, err = p.bound(p.Max); err != nil {
		return fmt.Errorf("parameter %s: max: %w", p.Name, err)
	}
	if p.min != nil && p.max != nil && *p.min > *p.max {
		return fmt.Errorf("parameter %s: min is greater than max", p.Name)
	}
	if p.Default != nil {
		if _, errs := p.resolve(p.Default); len(errs) > 0 {
			return fmt.Errorf("parameter %s: default: %s", p.Name, errs[0].Error())
		}
	}
	return nil
}

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// bound converts a declared bound into the unit measure returns.
func (p *Param) bound(v any) (*float64, error) {
	if v == nil {
		return nil, nil
	}
	var f float64
	if p.Type == ParamDuration {
		d, err := toDuration(v)
		if err != nil {
			return nil, err
		}
		f = float64(d)
	} else {
		n, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		if p.Type != ParamFloat && n != math.Trunc(n) {
			return nil, fmt.Errorf("must be a whole number, got %v", v)
		}
		f = n
	}
	return &f, nil
}

// resolve checks a value given for the parameter and converts it to the Go
// value the template sees. Errors carry paths relative to the parameter
// ("" for the value, "[2]" for the third pattern of a list).
func (p *Param) resolve(v any) (any, errorList) {
	var errs errorList
	var out any
	switch p.Type {
	case ParamString:
		s, ok := v.(string)
		if !ok {
			errs.add("", "must be a string, got %s", describe(v))
			return nil, errs
		}
		out = s
	case ParamInt:
		f, err := toFloat(v)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			errs.add("", "must be an integer, got %s", describe(v))
			return nil, errs
		}
		out = int(f)
	case ParamFloat:
		f, err := toFloat(v)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			errs.add("", "must be a number, got %s", describe(v))
			return nil, errs
		}
		out = f
	case ParamEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(p.Values, s) {
			errs.add("", "must be one of %s, got %s", strings.Join(p.Values, ", "), describe(v))
			return nil, errs
		}
		out = s
	case ParamRegexList:
		list, ok := toStrings(v)
		if !ok {
			errs.add("", "must be a list of regular expressions, got %s", describe(v))
			return nil, errs
		}
		if errs = checkPatterns("", list); len(errs) > 0 {
			return nil, errs
		}
		out = list
	case ParamDuration:
		d, err := toDuration(v)
		if err != nil {
			errs.add("", "must be a duration such as \"30s\", got %s", describe(v))
			return nil, errs
		}
		out = d
	default:
		errs.add("", "unknown parameter type %q", p.Type)
		return nil, errs
	}
	if msg := p.checkBounds(out); msg != "" {
		errs.add("", "%s", msg)
		return nil, errs
	}
	return out, nil
}

// checkBounds returns a message when v lies outside [min, max].
func (p *Param) checkBounds(v any) string {
	if p.min == nil && p.max == nil {
		return ""
	}
	var (
		x    float64
		verb = "be" // lengths read "must have"
		show func(float64) string
	)
	switch val := v.(type) {
	case int:
		x, show = float64(val), formatNumber
	case float64:
		x, show = val, formatNumber
	case time.Duration:
		x, show = float64(val), func(f float64) string { return time.Duration(f).String() }
	case string:
		x, verb, show = float64(len([]rune(val))), "have", func(f float64) string { return formatNumber(f) + " characters" }
	case []string:
		x, verb, show = float64(len(val)), "have", func(f float64) string { return formatNumber(f) + " patterns" }
	default:
		return ""
	}
	lo, hi := p.min, p.max
	if (lo == nil || x >= *lo) && (hi == nil || x <= *hi) {
		return ""
	}
	got := show(x)
	switch {
	case lo != nil && hi != nil:
		from := show(*lo) // "between 1 and 20 patterns" names the unit once
		if verb == "have" {
			from = formatNumber(*lo)
		}
		return fmt.Sprintf("must %s between %s and %s, got %s", verb, from, show(*hi), got)
	case lo != nil:
		return fmt.Sprintf("must %s at least %s, got %s", verb, show(*lo), got)
	default:
		return fmt.Sprintf("must %s at most %s, got %s", verb, show(*hi), got)
	}
}

// formatNumber renders a bound without a trailing ".0".
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// describe renders a rejected value for an error message.
func describe(v any) string {
	switch val := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(val)
	default:
		b, err := json.Marshal(val)
		if err != nil {
			return fmt.Sprintf("%v", val)
		}
		return fmt.Sprintf("%T %s", val, b)
	}
}

// toFloat accepts the numeric shapes YAML, JSON and command-line flags
// produce: Go numbers, json.Number and numeric strings.
func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case int32:
		return float64(n), nil
	case uint:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	case uint32:
		return float64(n), nil
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case json.Number:
		return n.Float64()
	case string:
		return strconv.ParseFloat(strings.TrimSpace(n), 64)
	default:
		return 0, fmt.Errorf("not a number: %s", describe(v))
	}
}

// toDuration accepts a duration string or a time.Duration.
func toDuration(v any) (time.Duration, error) {
	switch d := v.(type) {
	case time.Duration:
		return d, nil
	case string:
		return time.ParseDuration(strings.TrimSpace(d))
	default:
		return 0, fmt.Errorf("not a duration: %s", describe(v))
	}
}

// toStrings accepts a list of strings in any of the shapes decoders produce,
// or a single string as a list of one.
func toStrings(v any) ([]string, bool) {
	switch l := v.(type) {
	case string:
		return []string{l}, true
	case []string:
		return slices.Clone(l), true
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	default:
		return nil, false
	}
}
