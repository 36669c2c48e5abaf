package pipeline

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Document is a user pipeline: an ordered chain of collector processors, the
// format `phoenix pipeline validate FILE` checks and the form every catalog
// template renders to:
//
//	name: my-pipeline
//	description: drop low-priority processes
//	critical_processes: ['^(nginx|postgres)$']
//	processors:
//	  - phoenix_priority: {rules: [{priority: critical, executable: '^nginx$'}]}
//	  - filter/drop-low: {metrics: {resource: ['resource.attributes["phoenix.priority"] == "low"']}}
type Document struct {
	// Name identifies the pipeline (lower case letters, digits, '.', '_', '-').
	Name string `json:"name" yaml:"name"`
	// Description is free text.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// CriticalProcesses are executable-name patterns of the processes the
	// pipeline promises to keep; the meters count how many of them arrive.
	// Empty means the experiment's patterns, or DefaultCriticalProcesses.
	CriticalProcesses []string `json:"critical_processes,omitempty" yaml:"critical_processes,omitempty"`
	// Processors run in order. Phoenix adds memory_limiter, the meters and
	// batch around them, so those types are not allowed here.
	Processors []Processor `json:"processors" yaml:"processors"`
}

// Processor is one collector processor of a pipeline: its component ID
// ("type" or "type/name") and its configuration, as the processor's own
// YAML documents it. A nil Config means the processor's defaults. It is
// written as a one-key mapping: `- filter/drop-low: {...}`.
type Processor struct {
	ID     string
	Config map[string]any
}

// MarshalYAML writes the processor as a one-key mapping.
func (p Processor) MarshalYAML() (any, error) {
	var cfg any // a nil map would be written as {}, not null
	if p.Config != nil {
		cfg = p.Config
	}
	return map[string]any{p.ID: cfg}, nil
}

// UnmarshalYAML reads a one-key mapping.
func (p *Processor) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	q, errs := processorFromValue(v, "")
	if len(errs) > 0 {
		return errs.err()
	}
	*p = q
	return nil
}

// MarshalJSON writes the processor as a one-key object.
func (p Processor) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{p.ID: p.Config})
}

// UnmarshalJSON reads a one-key object.
func (p *Processor) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	q, errs := processorFromValue(v, "")
	if len(errs) > 0 {
		return errs.err()
	}
	*p = q
	return nil
}

// ParseDocument reads a user pipeline document. It reports structural
// problems (unknown keys, wrong shapes) as a *ValidationError; it does not
// check the processors against the collector (see Validate).
func ParseDocument(doc []byte) (*Document, error) {
	v, err := decodeYAML(doc)
	if err != nil {
		return nil, err
	}
	d, errs := documentFromValue(v, "")
	if err := errs.err(); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeYAML parses one YAML (or JSON) document into generic values.
func decodeYAML(doc []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, &ValidationError{Errors: []FieldError{{Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	if v == nil {
		return nil, &ValidationError{Errors: []FieldError{{Message: "empty document"}}}
	}
	return normalize(v), nil
}

// normalize turns the map[any]any YAML produces for non-string keys into
// map[string]any, recursively, so every consumer sees one shape.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	default:
		return v
	}
}

var documentKeys = []string{"name", "description", "critical_processes", "processors"}

// documentFromValue reads a Document from generic values, collecting every
// structural problem under path.
func documentFromValue(v any, path string) (*Document, errorList) {
	var errs errorList
	m, ok := v.(map[string]any)
	if !ok {
		errs.add(path, "must be a mapping with name and processors, got %s", kind(v))
		return nil, errs
	}
	errs.unknownKeys(path, m, documentKeys)
	d := &Document{}
	d.Name = stringField(m, "name", path, &errs)
	d.Description = stringField(m, "description", path, &errs)
	if c, ok := m["critical_processes"]; ok && c != nil {
		list, ok := toStrings(c)
		if !ok {
			errs.add(join(path, "critical_processes"), "must be a list of regular expressions, got %s", kind(c))
		}
		d.CriticalProcesses = list
	}
	procs, ok := m["processors"]
	switch {
	case !ok:
		errs.add(join(path, "processors"), "required (use [] for a pipeline that changes nothing)")
	case procs == nil:
		d.Processors = []Processor{}
	default:
		list, ok := procs.([]any)
		if !ok {
			errs.add(join(path, "processors"), "must be a list of one-key mappings (`- type/name: {config}`), got %s", kind(procs))
			break
		}
		d.Processors = make([]Processor, 0, len(list))
		for i, e := range list {
			p, perrs := processorFromValue(e, index(join(path, "processors"), i))
			errs = append(errs, perrs...)
			d.Processors = append(d.Processors, p)
		}
	}
	return d, errs
}

// processorFromValue reads one `- id: config` entry.
func processorFromValue(v any, path string) (Processor, errorList) {
	var errs errorList
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		errs.add(path, "must be a mapping with exactly one key, the processor id (`- type/name: {config}`), got %s", kind(v))
		return Processor{}, errs
	}
	var p Processor
	for id, cfg := range m {
		p.ID = id
		switch c := cfg.(type) {
		case nil:
		case map[string]any:
			p.Config = c
		default:
			errs.add(join(path, id), "config must be a mapping, got %s", kind(cfg))
		}
	}
	return p, errs
}

// stringField reads an optional string key ("" when absent or invalid).
func stringField(m map[string]any, key, path string, errs *errorList) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		errs.add(join(path, key), "must be a string, got %s", kind(v))
	}
	return s
}

// unknownKeys reports keys of m that are not in known.
func (l *errorList) unknownKeys(path string, m map[string]any, known []string) {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		l.add(join(path, k), "unknown key (known: %s)", strings.Join(known, ", "))
	}
}

// kind names the shape of a generic value for error messages.
func kind(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		if len(t) == 0 {
			return "an empty mapping"
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprintf("a mapping with keys %s", strings.Join(keys, ", "))
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", t)
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", t)
	default:
		return fmt.Sprintf("%T", v)
	}
}

var documentNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
