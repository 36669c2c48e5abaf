package pipeline

import "strings"

// Spec says which pipeline to run: a catalog template with parameters, or
// a user Document. Exactly one of Catalog and Document is set. In YAML or
// JSON:
//
//	catalog: process-topk-v1
//	params: {k: 30, rank_by: memory}
//
// or
//
//	document: {name: my-pipeline, processors: [...]}
type Spec struct {
	// Catalog names a template of the catalog, e.g. "process-topk-v1".
	Catalog string `json:"catalog,omitempty" yaml:"catalog,omitempty"`
	// Params sets template parameters; unset ones take their defaults.
	Params map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
	// Document is a user pipeline, used instead of a catalog template.
	Document *Document `json:"document,omitempty" yaml:"document,omitempty"`
}

// CatalogSpec returns a Spec referring to the named catalog template.
func CatalogSpec(name string, params map[string]any) Spec {
	return Spec{Catalog: name, Params: params}
}

// Name returns the catalog template's name or the document's name.
func (s Spec) Name() string {
	if s.Document != nil {
		return s.Document.Name
	}
	return s.Catalog
}

var specKeys = []string{"catalog", "params", "document"}

// specFromValue reads a Spec from generic values, collecting structural
// problems under path.
func specFromValue(v any, path string) (Spec, errorList) {
	var errs errorList
	m, ok := v.(map[string]any)
	if !ok {
		errs.add(path, "must be a mapping with catalog and params, or document, got %s", kind(v))
		return Spec{}, errs
	}
	errs.unknownKeys(path, m, specKeys)
	var s Spec
	s.Catalog = stringField(m, "catalog", path, &errs)
	if p, ok := m["params"]; ok && p != nil {
		pm, ok := p.(map[string]any)
		if !ok {
			errs.add(join(path, "params"), "must be a mapping of parameter names to values, got %s", kind(p))
		}
		s.Params = pm
	}
	if d, ok := m["document"]; ok && d != nil {
		doc, derrs := documentFromValue(d, join(path, "document"))
		errs = append(errs, derrs...)
		s.Document = doc
	}
	return s, errs
}

// render turns a Spec into its Document, checking parameters first.
// Error paths are relative to the Spec ("params.k", "document.processors[1]").
func (c *Catalog) render(s Spec) (*Document, errorList) {
	var errs errorList
	switch {
	case s.Document != nil && s.Catalog != "":
		errs.add("", "set either catalog or document, not both")
		return nil, errs
	case s.Document != nil:
		if len(s.Params) > 0 {
			errs.add("params", "parameters apply to catalog pipelines only")
			return nil, errs
		}
		return s.Document, nil
	case s.Catalog == "":
		errs.add("catalog", "required: name a catalog pipeline (%s) or give a document", strings.Join(c.names, ", "))
		return nil, errs
	}
	t, ok := c.Get(s.Catalog)
	if !ok {
		errs.add("catalog", "unknown pipeline %q (known: %s)", s.Catalog, strings.Join(c.names, ", "))
		return nil, errs
	}
	d, err := t.Render(s.Params)
	if err != nil {
		errs.addErr("", err)
		return nil, errs
	}
	return d, nil
}

// Render returns the Document a Spec stands for: the user document itself,
// or the catalog template of the default catalog rendered with the Spec's
// parameters. It checks parameters but not processor configs; use
// ValidateSpec for the full check.
func Render(s Spec) (*Document, error) {
	d, errs := Default().render(s)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return d, nil
}
