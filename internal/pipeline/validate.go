package pipeline

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/service"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/collector"
)

// reservedProcessors are added by Compose around every pipeline; a
// document may not place them itself (a batch between the meters would
// distort what they measure).
var reservedProcessors = map[string]string{
	"batch":          "Phoenix adds batch after the output meter",
	"memory_limiter": "Phoenix adds memory_limiter at the start of the active pipeline",
	"phoenix_meter":  "Phoenix adds the input and output meters around the pipeline",
}

// components returns the factories of the Phoenix collector distribution.
var components = sync.OnceValues(collector.ValidationComponents)

// factories returns the distribution's factories or wraps the error.
func factories() (otelcol.Factories, error) {
	f, err := components()
	if err != nil {
		return otelcol.Factories{}, fmt.Errorf("load collector components: %w", err)
	}
	return f, nil
}

// Validate checks a document as `phoenix pipeline validate FILE` does. It
// accepts three kinds of document, told apart by their top-level keys:
//
//   - a user pipeline Document (name, processors, ...);
//   - a Spec (catalog, params): a catalog pipeline with parameters;
//   - a stock OpenTelemetry Collector config (receivers, service, ...),
//     checked as `otelcol validate` would (see ValidateCollectorConfig).
//
// Every problem found is returned in one *ValidationError.
func Validate(doc []byte) error {
	v, err := decodeYAML(doc)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return &ValidationError{Errors: []FieldError{{Message: "must be a mapping: a pipeline (name, processors), a catalog reference (catalog, params) or a collector config (receivers, exporters, service), got " + kind(v)}}}
	}
	switch {
	case isCollectorConfig(m):
		return ValidateCollectorConfig(doc)
	case m["catalog"] != nil || m["document"] != nil:
		s, errs := specFromValue(m, "")
		if len(errs) > 0 {
			return errs.err()
		}
		return ValidateSpec(s)
	default:
		d, errs := documentFromValue(m, "")
		if len(errs) > 0 {
			return errs.err()
		}
		return ValidateDocument(d)
	}
}

// isCollectorConfig reports whether a document has the top-level keys of a
// collector config rather than of a Phoenix pipeline.
func isCollectorConfig(m map[string]any) bool {
	for _, k := range []string{"receivers", "exporters", "service", "extensions", "connectors"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// ValidateSpec checks a Spec against the default catalog and the collector
// distribution: the catalog name, every parameter (before rendering), then
// each processor of the rendered or given document through its factory.
// Errors in a rendered template are reported at "params", since the
// parameters are what a user can change.
func ValidateSpec(s Spec) error {
	f, err := factories()
	if err != nil {
		return err
	}
	_, errs := validateSpec(Default(), f, s)
	return errs.err()
}

// validateSpec renders and checks s, returning its document when valid.
func validateSpec(c *Catalog, f otelcol.Factories, s Spec) (*Document, errorList) {
	d, errs := c.render(s)
	if len(errs) > 0 {
		return nil, errs
	}
	derrs := validateDocument(f, d)
	if len(derrs) == 0 {
		return d, nil
	}
	if s.Document != nil {
		errs.merge("document", derrs)
		return nil, errs
	}
	for _, fe := range derrs {
		errs.add("params", "%s renders an invalid pipeline: %s", s.Catalog, fe.Error())
	}
	return nil, errs
}

// ValidateDocument checks a user pipeline document against the collector
// distribution: its name, the critical patterns, and each processor: a
// known type, not one Phoenix adds itself, a unique id, and a config that
// the processor's factory accepts and validates.
func ValidateDocument(d *Document) error {
	f, err := factories()
	if err != nil {
		return err
	}
	return validateDocument(f, d).err()
}

// validateDocument is ValidateDocument with the factories given.
func validateDocument(f otelcol.Factories, d *Document) errorList {
	var errs errorList
	switch {
	case d.Name == "":
		errs.add("name", "required")
	case !documentNameRE.MatchString(d.Name):
		errs.add("name", "invalid name %q: use lower case letters, digits, '.', '_' and '-' (at most 128)", d.Name)
	}
	errs = append(errs, checkPatterns("critical_processes", d.CriticalProcesses)...)
	seen := map[component.ID]int{}
	for i, p := range d.Processors {
		path := index("processors", i)
		var id component.ID
		if err := id.UnmarshalText([]byte(p.ID)); err != nil {
			errs.add(path, "invalid processor id %q: %v", p.ID, err)
			continue
		}
		if j, dup := seen[id]; dup {
			errs.add(path, "duplicate processor id %q (also processors[%d]); give each a distinct /name", p.ID, j)
			continue
		}
		seen[id] = i
		if why, ok := reservedProcessors[id.Type().String()]; ok {
			errs.add(path, "processor type %q is not allowed in a pipeline: %s", id.Type(), why)
			continue
		}
		known, cerrs := checkComponent(f.Processors, id.Type(), p.Config)
		if !known {
			errs.add(path, "unknown processor type %q (this distribution has: %s)", id.Type(), typeList(f.Processors))
			continue
		}
		errs.merge(join(path, p.ID), cerrs)
	}
	return errs
}

// checkComponent builds a component's config the way the collector does
// (factory default, then the user's keys, then confmap.Validate) and
// reports what fails. known is false when the distribution has no factory
// for typ.
func checkComponent[F interface {
	CreateDefaultConfig() component.Config
}](fs map[component.Type]F, typ component.Type, cfg map[string]any) (known bool, errs errorList) {
	fac, ok := fs[typ]
	if !ok {
		return false, nil
	}
	// Unmarshal through a pointer to the interface, as the collector's own
	// config loading does: decoding into the concrete pointer skips the
	// unused-key check for configs with custom unmarshalers.
	conf := fac.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(cfg).Unmarshal(&conf); err != nil {
		errs.add("", "%s", cleanDecodeError(err))
		return true, errs
	}
	errs.addErr("", confmap.Validate(conf))
	return true, errs
}

// typeList renders the component types of a factory map, sorted.
func typeList[F any](fs map[component.Type]F) string {
	names := make([]string, 0, len(fs))
	for t := range fs {
		names = append(names, t.String())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// cleanDecodeError flattens mapstructure's multi-line decode errors into
// one line without their boilerplate.
func cleanDecodeError(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):", "")
	msg = strings.TrimPrefix(strings.TrimSpace(msg), "'' ")
	return strings.Join(strings.Fields(msg), " ")
}

// checkPatterns compiles a list of regular expressions.
func checkPatterns(path string, patterns []string) errorList {
	var errs errorList
	for i, s := range patterns {
		if _, err := regexp.Compile(s); err != nil {
			errs.add(index(path, i), "invalid regexp %q: %v", s, err)
		}
	}
	return errs
}

// ValidateCollectorConfig checks a stock OpenTelemetry Collector config the
// way `otelcol validate` does with the Phoenix distribution: resolve it,
// unmarshal every component through its factory, run the configs' Validate
// methods, and build the pipeline graph without starting it. Two things
// differ, because the config runs on an agent's host, not where it is
// validated: only the yaml provider resolves references (${env:...} and
// ${file:...} are rejected, so validation never reads this process's
// environment or files), and a hostmetrics root_path must be absolute but
// is not looked up on this machine.
func ValidateCollectorConfig(doc []byte) error {
	f, err := factories()
	if err != nil {
		return err
	}
	doc, errs := stripRootPaths(doc)
	if msg := validateCollector(context.Background(), f, doc); msg != "" {
		errs.add("", "%s", msg)
	}
	return errs.err()
}

// stripRootPaths removes root_path from hostmetrics receivers after
// checking it is absolute: the receiver would stat it on this machine and
// remember it process-wide.
func stripRootPaths(doc []byte) ([]byte, errorList) {
	var errs errorList
	v, err := decodeYAML(doc)
	if err != nil {
		return doc, nil // the resolver reports it
	}
	m, _ := v.(map[string]any)
	recv, _ := m["receivers"].(map[string]any)
	changed := false
	for id, cfg := range recv {
		typ, _, _ := strings.Cut(id, "/")
		c, ok := cfg.(map[string]any)
		if typ = strings.TrimSpace(typ); (typ != "host_metrics" && typ != "hostmetrics") || !ok {
			continue
		}
		rp, ok := c["root_path"]
		if !ok {
			continue
		}
		if s, ok := rp.(string); !ok || (s != "" && !strings.HasPrefix(s, "/")) {
			errs.add("receivers."+id+".root_path", "must be an absolute path, got %s", kind(rp))
		}
		delete(c, "root_path")
		changed = true
	}
	if !changed {
		return doc, errs
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return doc, errs
	}
	return out, errs
}

// validateCollector returns what the collector rejects in doc, or "".
func validateCollector(ctx context.Context, f otelcol.Factories, doc []byte) string {
	provider, err := otelcol.NewConfigProvider(otelcol.ConfigProviderSettings{
		ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"yaml:" + string(doc)},
			ProviderFactories: []confmap.ProviderFactory{yamlprovider.NewFactory()},
		},
	})
	if err != nil {
		return err.Error()
	}
	defer func() { _ = provider.Shutdown(ctx) }()
	cfg, err := provider.Get(ctx, f)
	if err != nil {
		return cleanDecodeError(err)
	}
	if err := confmap.Validate(cfg); err != nil {
		return err.Error()
	}
	err = service.Validate(ctx, service.Settings{
		BuildInfo:           component.NewDefaultBuildInfo(),
		ReceiversConfigs:    cfg.Receivers,
		ReceiversFactories:  f.Receivers,
		ProcessorsConfigs:   cfg.Processors,
		ProcessorsFactories: f.Processors,
		ExportersConfigs:    cfg.Exporters,
		ExportersFactories:  f.Exporters,
		ConnectorsConfigs:   cfg.Connectors,
		ConnectorsFactories: f.Connectors,
		TelemetryFactory:    f.Telemetry,
	}, service.Config{Pipelines: cfg.Service.Pipelines})
	if err != nil {
		return err.Error()
	}
	return ""
}
