package pipeline

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"text/template"

	"gopkg.in/yaml.v3"
)

// DefaultCriticalProcesses is the critical-process pattern of the PRD, used
// when neither an experiment nor a pipeline names its own.
var DefaultCriticalProcesses = []string{`^(nginx|java|postgres|mysql|redis|kubelet|dockerd?)$`}

//go:embed catalog/*.yaml
var catalogFS embed.FS

// Metadata describes a catalog pipeline.
type Metadata struct {
	// Name is the catalog key, e.g. "process-topk-v1".
	Name string `json:"name" yaml:"name"`
	// Version is the template's semantic version.
	Version string `json:"version" yaml:"version"`
	// Description says what the pipeline does to process metrics.
	Description string `json:"description" yaml:"description"`
	// Strategy names the technique: baseline, priority-filter, topk,
	// aggregation or adaptive.
	Strategy string `json:"strategy" yaml:"strategy"`
	// ExpectedReduction is the range of process-series reduction the
	// strategy aims at, as text ("60-95% on hosts with > 100 processes");
	// experiments measure the real figure.
	ExpectedReduction string `json:"expected_reduction" yaml:"expected_reduction"`
}

// Template is one catalog pipeline: metadata, typed parameters, and a body
// that text/template renders, with the resolved parameters as its data,
// into a pipeline Document (critical_processes and processors keys; name and
// description come from the metadata).
//
// Functions available to a body: json (a value as JSON, which is valid YAML
// flow syntax: `executable: {{ json . }}`), exitCount and exitPercent (an
// enter threshold lowered by a hysteresis fraction), and fail (stop rendering
// with a message about the parameters).
type Template struct {
	Metadata `yaml:",inline"`
	// Params declares the parameters, in display order.
	Params []Param `json:"parameters" yaml:"parameters"`
	// Body is the text/template source.
	Body string `json:"body" yaml:"body"`

	tmpl *template.Template
}

// Param returns the declaration of the named parameter.
func (t *Template) Param(name string) (*Param, bool) {
	for i := range t.Params {
		if t.Params[i].Name == name {
			return &t.Params[i], true
		}
	}
	return nil, false
}

// Defaults returns every parameter's default, converted as Resolve would.
func (t *Template) Defaults() map[string]any {
	out := make(map[string]any, len(t.Params))
	for i := range t.Params {
		p := &t.Params[i]
		if p.Default == nil {
			continue
		}
		if v, errs := p.resolve(p.Default); len(errs) == 0 {
			out[p.Name] = v
		}
	}
	return out
}

// Resolve checks params against the declarations, before anything is
// rendered: unknown names, missing required parameters, types and bounds.
// It returns every parameter's value (given or default) as the template
// sees it. Error paths are "params.<name>".
func (t *Template) Resolve(params map[string]any) (map[string]any, error) {
	var errs errorList
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := t.Param(k); !ok {
			errs.add(join("params", k), "unknown parameter of %s (known: %s)", t.Name, strings.Join(t.paramNames(), ", "))
		}
	}
	out := make(map[string]any, len(t.Params))
	for i := range t.Params {
		p := &t.Params[i]
		v, given := params[p.Name]
		if !given || v == nil {
			if p.Default == nil {
				errs.add(join("params", p.Name), "required parameter of %s (%s)", t.Name, p.Type)
				continue
			}
			v = p.Default
		}
		val, perrs := p.resolve(v)
		errs.merge(join("params", p.Name), perrs)
		out[p.Name] = val
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *Template) paramNames() []string {
	names := make([]string, len(t.Params))
	for i, p := range t.Params {
		names[i] = p.Name
	}
	return names
}

// Render resolves params and renders the template into a Document. Problems
// with the parameters come back as a *ValidationError with "params.<name>"
// paths; the Document is not validated against the collector (see
// ValidateSpec).
func (t *Template) Render(params map[string]any) (*Document, error) {
	vals, err := t.Resolve(params)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&buf, vals); err != nil {
		var pe paramError
		if errors.As(err, &pe) {
			return nil, &ValidationError{Errors: []FieldError{{Path: join("params", pe.param), Message: pe.msg}}}
		}
		return nil, fmt.Errorf("render %s: %w", t.Name, err)
	}
	v, err := decodeYAML(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", t.Name, err)
	}
	if m, ok := v.(map[string]any); ok {
		m["name"], m["description"] = t.Name, t.Description
	}
	d, errs := documentFromValue(v, "")
	if err := errs.err(); err != nil {
		return nil, fmt.Errorf("render %s: %w", t.Name, err)
	}
	return d, nil
}

// paramError is what the fail template function returns.
type paramError struct{ param, msg string }

func (e paramError) Error() string { return e.param + ": " + e.msg }

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	},
	// exitCount lowers a count threshold by the fraction h, keeping it
	// between 1 and n-1 (for n >= 2).
	"exitCount": func(n int, h float64) int {
		e := int(float64(n) * (1 - h))
		if e >= n {
			e = n - 1
		}
		return max(e, 1)
	},
	// exitPercent lowers a percentage threshold by the fraction h.
	"exitPercent": func(f, h float64) float64 {
		return float64(int64(f*(1-h)*100+0.5)) / 100
	},
	"fail": func(param, msg string) (string, error) {
		return "", paramError{param: param, msg: msg}
	},
}

// Catalog is a set of templates keyed by name. It is immutable and safe for
// concurrent use.
type Catalog struct {
	templates map[string]*Template
	names     []string
}

// NewCatalog loads every *.yaml file at the top of fsys as a Template,
// checking each declaration (parameter types, defaults within bounds,
// template syntax).
func NewCatalog(fsys fs.FS) (*Catalog, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list catalog: %w", err)
	}
	c := &Catalog{templates: make(map[string]*Template, len(files))}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read catalog %s: %w", f, err)
		}
		t, err := parseTemplate(b)
		if err != nil {
			return nil, fmt.Errorf("load catalog %s: %w", f, err)
		}
		if want := strings.TrimSuffix(path.Base(f), ".yaml"); t.Name != want {
			return nil, fmt.Errorf("load catalog %s: name %q does not match the file name", f, t.Name)
		}
		c.templates[t.Name] = t
		c.names = append(c.names, t.Name)
	}
	sort.Strings(c.names)
	return c, nil
}

// parseTemplate reads and checks one template file.
func parseTemplate(b []byte) (*Template, error) {
	var t Template
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, err
	}
	if !documentNameRE.MatchString(t.Name) {
		return nil, fmt.Errorf("invalid name %q", t.Name)
	}
	if t.Version == "" || t.Description == "" || t.Strategy == "" || t.ExpectedReduction == "" {
		return nil, errors.New("version, description, strategy and expected_reduction are required")
	}
	seen := map[string]bool{}
	for i := range t.Params {
		p := &t.Params[i]
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter %s declared twice", p.Name)
		}
		seen[p.Name] = true
		if err := p.init(); err != nil {
			return nil, err
		}
	}
	tmpl, err := template.New(t.Name).Funcs(funcs).Option("missingkey=error").Parse(t.Body)
	if err != nil {
		return nil, fmt.Errorf("parse body: %w", err)
	}
	t.tmpl = tmpl
	return &t, nil
}

// List returns the templates sorted by name.
func (c *Catalog) List() []*Template {
	out := make([]*Template, len(c.names))
	for i, n := range c.names {
		out[i] = c.templates[n]
	}
	return out
}

// Get returns the named template.
func (c *Catalog) Get(name string) (*Template, bool) {
	t, ok := c.templates[name]
	return t, ok
}

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) {
	sub, err := fs.Sub(catalogFS, "catalog")
	if err != nil {
		return nil, err
	}
	return NewCatalog(sub)
})

// Default returns the catalog embedded in the binary: the five PRD
// strategies. The embedded files are checked by this package's tests; a
// broken one makes Default panic on first use, like regexp.MustCompile.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic(fmt.Sprintf("pipeline: embedded catalog: %v", err))
	}
	return c
}
