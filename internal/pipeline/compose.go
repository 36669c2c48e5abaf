package pipeline

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"
	"gopkg.in/yaml.v3"
)

// Mode says whether an experiment's candidate is exported.
type Mode string

// Experiment modes.
const (
	// ModeShadow measures both variants and exports neither (the default):
	// an experiment does not add to the ingest bill.
	ModeShadow Mode = "shadow"
	// ModeLive also exports the candidate through the assignment's
	// exporters, its resources tagged with phoenix.variant and
	// phoenix.experiment.id. The baseline stays in shadow.
	ModeLive Mode = "live"
)

// Defaults Compose applies to zero fields of an Assignment.
const (
	DefaultCollectionInterval = 10 * time.Second
	DefaultLogLevel           = "info"
	DefaultMemoryLimitMiB     = 512
	// BaselinePipeline is the catalog pipeline run when Assignment.Active is nil.
	BaselinePipeline = "process-baseline-v1"
)

// Resource attributes a live candidate's data carries.
const (
	AttrVariant      = "phoenix.variant"
	AttrExperimentID = "phoenix.experiment.id"
)

// Assignment is everything one agent runs: which pipeline is active, which
// experiments run beside it, and where data goes. Compose renders it into
// one collector config. The zero value is valid: the baseline pipeline,
// exported nowhere.
type Assignment struct {
	// Host is the agent's host name, recorded by the meters ("" = unnamed).
	Host string `json:"host,omitempty" yaml:"host,omitempty"`
	// CollectionInterval is the hostmetrics scrape interval (0 = 10s).
	CollectionInterval time.Duration `json:"collection_interval,omitempty" yaml:"collection_interval,omitempty"`
	// RootPath is the host's root directory as mounted in a container
	// ("" = /), passed to the hostmetrics receiver.
	RootPath string `json:"root_path,omitempty" yaml:"root_path,omitempty"`
	// Exporters receive the active pipeline (and live candidates). None
	// means the data is measured and dropped (nop exporter).
	Exporters []Exporter `json:"exporters,omitempty" yaml:"exporters,omitempty"`
	// Active is the pipeline whose output is exported (nil = process-baseline-v1).
	Active *Spec `json:"active,omitempty" yaml:"active,omitempty"`
	// Experiments run beside the active pipeline on the same scrape.
	Experiments []Experiment `json:"experiments,omitempty" yaml:"experiments,omitempty"`
	// LogLevel is the collector's log level: debug, info, warn or error ("" = info).
	LogLevel string `json:"log_level,omitempty" yaml:"log_level,omitempty"`
	// MemoryLimitMiB is the memory_limiter's hard limit (0 = 512; at least 32).
	MemoryLimitMiB int `json:"memory_limit_mib,omitempty" yaml:"memory_limit_mib,omitempty"`
}

// Exporter is one collector exporter: its component ID ("otlp",
// "otlphttp/backup", "prometheusremotewrite", "debug") and its config as the
// exporter documents it (nil = defaults).
type Exporter struct {
	ID     string         `json:"id" yaml:"id"`
	Config map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
}

// Experiment is an A/B comparison of two pipelines on the agent's host.
type Experiment struct {
	// ID names the experiment in pipeline and component names and in the
	// meters' labels: letters, digits, '_' and '-', at most 64.
	ID string `json:"id" yaml:"id"`
	// Baseline and Candidate are the compared pipelines.
	Baseline  Spec `json:"baseline" yaml:"baseline"`
	Candidate Spec `json:"candidate" yaml:"candidate"`
	// Mode is shadow ("" means shadow) or live.
	Mode Mode `json:"mode,omitempty" yaml:"mode,omitempty"`
	// CriticalPatterns are the executable-name patterns whose retention the
	// experiment proves. They feed both meters and become the
	// critical_processes parameter of catalog variants that do not set it.
	// Empty means the candidate's own critical_processes.
	CriticalPatterns []string `json:"critical_patterns,omitempty" yaml:"critical_patterns,omitempty"`
}

// PipelineID returns the collector pipeline name of one of the experiment's
// variants ("baseline" or "candidate"): "exp-<id>-<variant>".
func (e Experiment) PipelineID(variant string) string {
	return "exp-" + e.ID + "-" + variant
}

var experimentIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// logLevels are the levels the collector's logger accepts.
var logLevels = []string{"debug", "info", "warn", "error"}

// ActivePipeline is the collector pipeline name of the active pipeline.
const ActivePipeline = "active"

// HostMetricsReceiver is the receiver type of the composed configs'
// shared scrape: host_metrics, the hostmetrics receiver's current name
// (hostmetrics is a deprecated alias that logs a warning at every start).
const HostMetricsReceiver = "host_metrics"

// hostmetricsScrapers are the scrapers of the shared receiver. The process
// scraper mutes the errors it reports for processes it may not read (other
// users' processes, exited ones) so an unprivileged agent stays quiet.
func hostmetricsScrapers() map[string]any {
	return map[string]any{
		"cpu":        map[string]any{},
		"memory":     map[string]any{},
		"load":       map[string]any{},
		"filesystem": map[string]any{},
		"network":    map[string]any{},
		"process": map[string]any{
			"mute_process_name_error": true,
			"mute_process_exe_error":  true,
			"mute_process_io_error":   true,
			"mute_process_user_error": true,
		},
	}
}

// plan is a validated Assignment with defaults applied and specs rendered.
type plan struct {
	a           Assignment
	active      *Document
	experiments []plannedExperiment
}

type plannedExperiment struct {
	Experiment
	baseline, candidate *Document
	critical            []string
}

// ValidateAssignment checks an Assignment the way Compose does, reporting
// every problem with its path (exporters[0], active.params.k,
// experiments[1].candidate.document.processors[2], ...).
func ValidateAssignment(a Assignment) error {
	f, err := factories()
	if err != nil {
		return err
	}
	_, errs := planAssignment(Default(), f, a)
	return errs.err()
}

// planAssignment validates a and renders its specs.
func planAssignment(c *Catalog, f otelcol.Factories, a Assignment) (*plan, errorList) {
	var errs errorList
	p := &plan{a: a}
	if p.a.CollectionInterval == 0 {
		p.a.CollectionInterval = DefaultCollectionInterval
	}
	if p.a.CollectionInterval < time.Second {
		errs.add("collection_interval", "must be at least 1s, got %s", p.a.CollectionInterval)
	}
	if p.a.LogLevel == "" {
		p.a.LogLevel = DefaultLogLevel
	}
	if !slices.Contains(logLevels, p.a.LogLevel) {
		errs.add("log_level", "must be one of debug, info, warn, error, got %q", p.a.LogLevel)
	}
	if p.a.MemoryLimitMiB == 0 {
		p.a.MemoryLimitMiB = DefaultMemoryLimitMiB
	}
	if p.a.MemoryLimitMiB < 32 {
		errs.add("memory_limit_mib", "must be at least 32, got %d", p.a.MemoryLimitMiB)
	}
	if p.a.RootPath != "" && p.a.RootPath[0] != '/' {
		errs.add("root_path", "must be an absolute path, got %q", p.a.RootPath)
	}
	errs = append(errs, checkExporters(f, p.a.Exporters)...)

	active := CatalogSpec(BaselinePipeline, nil)
	if a.Active != nil {
		active = *a.Active
	}
	var aerrs errorList
	p.active, aerrs = validateSpec(c, f, active)
	errs.merge("active", aerrs)

	seen := map[string]int{}
	for i, e := range a.Experiments {
		path := index("experiments", i)
		switch {
		case !experimentIDRE.MatchString(e.ID):
			errs.add(join(path, "id"), "invalid experiment id %q: use letters, digits, '_' and '-' (at most 64)", e.ID)
		default:
			if j, dup := seen[e.ID]; dup {
				errs.add(join(path, "id"), "duplicate experiment id %q (also experiments[%d])", e.ID, j)
			}
			seen[e.ID] = i
		}
		if e.Mode == "" {
			e.Mode = ModeShadow
		}
		if e.Mode != ModeShadow && e.Mode != ModeLive {
			errs.add(join(path, "mode"), "must be shadow or live, got %q", e.Mode)
		}
		errs.merge(path, checkPatterns("critical_patterns", e.CriticalPatterns))
		pe := plannedExperiment{Experiment: e}
		var berrs, cerrs errorList
		pe.baseline, berrs = validateSpec(c, f, withCritical(c, e.Baseline, e.CriticalPatterns))
		pe.candidate, cerrs = validateSpec(c, f, withCritical(c, e.Candidate, e.CriticalPatterns))
		errs.merge(join(path, "baseline"), berrs)
		errs.merge(join(path, "candidate"), cerrs)
		if len(berrs) == 0 && len(cerrs) == 0 {
			pe.critical = firstNonEmpty(e.CriticalPatterns, pe.candidate.CriticalProcesses, pe.baseline.CriticalProcesses, DefaultCriticalProcesses)
		}
		p.experiments = append(p.experiments, pe)
	}
	return p, errs
}

// withCritical sets a catalog Spec's critical_processes parameter to the
// experiment's patterns when the Spec leaves it unset, so the variant
// protects the processes the experiment checks.
func withCritical(c *Catalog, s Spec, patterns []string) Spec {
	if len(patterns) == 0 || s.Document != nil {
		return s
	}
	if _, set := s.Params["critical_processes"]; set {
		return s
	}
	t, ok := c.Get(s.Catalog)
	if !ok {
		return s
	}
	if _, ok := t.Param("critical_processes"); !ok {
		return s
	}
	params := maps.Clone(s.Params)
	if params == nil {
		params = map[string]any{}
	}
	params["critical_processes"] = slices.Clone(patterns)
	s.Params = params
	return s
}

// firstNonEmpty returns the first non-empty list.
func firstNonEmpty(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

// checkExporters validates the assignment's exporters through their factories.
func checkExporters(f otelcol.Factories, exps []Exporter) errorList {
	var errs errorList
	seen := map[component.ID]int{}
	for i, e := range exps {
		path := index("exporters", i)
		var id component.ID
		if err := id.UnmarshalText([]byte(e.ID)); err != nil {
			errs.add(join(path, "id"), "invalid exporter id %q: %v", e.ID, err)
			continue
		}
		if j, dup := seen[id]; dup {
			errs.add(join(path, "id"), "duplicate exporter id %q (also exporters[%d])", e.ID, j)
			continue
		}
		seen[id] = i
		known, cerrs := checkComponent(f.Exporters, id.Type(), e.Config)
		if !known {
			errs.add(path, "unknown exporter type %q (this distribution has: %s)", id.Type(), typeList(f.Exporters))
			continue
		}
		errs.merge(join(path, "config"), cerrs)
	}
	return errs
}

// Compose renders an Assignment into one complete collector config (YAML):
//
//   - one hostmetrics receiver (process, cpu, memory, load, filesystem and
//     network scrapers) feeding every pipeline, so all variants see the same
//     scrape;
//   - metrics/active: memory_limiter, phoenix_meter/active-in, the active
//     pipeline's processors, phoenix_meter/active, batch -> the assignment's
//     exporters (nop when there are none);
//   - per experiment, metrics/exp-<id>-baseline and metrics/exp-<id>-candidate:
//     phoenix_meter/exp-<id>-<variant>-in, the variant's processors, (live
//     candidate: resource/exp-<id>-candidate-tag setting phoenix.variant and
//     phoenix.experiment.id), phoenix_meter/exp-<id>-<variant> -> nop, or the
//     assignment's exporters for a live candidate;
//   - service telemetry: internal metrics off (level none, so an embedded
//     collector binds no port) and the assignment's log level.
//
// Each pipeline's processors are renamed with the pipeline's name
// (phoenix_topk -> phoenix_topk/exp-42-candidate, filter/drop-low ->
// filter/drop-low-active) so pipelines never share a component. Output is
// deterministic: mapping keys sorted, lists in pipeline order. An invalid
// assignment returns a *ValidationError; the rendered config is checked
// with ValidateCollectorConfig before it is returned.
func Compose(a Assignment) ([]byte, error) {
	f, err := factories()
	if err != nil {
		return nil, err
	}
	p, errs := planAssignment(Default(), f, a)
	if err := errs.err(); err != nil {
		return nil, err
	}
	cfg, err := p.render()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("compose: encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("compose: encode config: %w", err)
	}
	if err := ValidateCollectorConfig(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("compose: rendered config is rejected by the collector: %w", err)
	}
	return buf.Bytes(), nil
}

// config is the collector config under construction.
type config struct {
	processors map[string]any
	exporters  map[string]any
	pipelines  map[string]any
	// nop is set once a pipeline sends to the nop exporter.
	nop bool
}

// render builds the collector config of a validated plan.
func (p *plan) render() (map[string]any, error) {
	c := &config{processors: map[string]any{}, exporters: map[string]any{}, pipelines: map[string]any{}}

	var exported []string
	for _, e := range p.a.Exporters {
		cfg := e.Config
		if cfg == nil {
			cfg = map[string]any{}
		}
		c.exporters[e.ID] = cfg
		exported = append(exported, e.ID)
	}
	if len(exported) == 0 {
		exported = []string{"nop"}
	}

	hm := map[string]any{
		"collection_interval": p.a.CollectionInterval.String(),
		// The first scrape at start, not a second later: a configuration
		// switch then costs the production pipeline less than an interval.
		"initial_delay": "0s",
		"scrapers":      hostmetricsScrapers(),
	}
	if p.a.RootPath != "" {
		hm["root_path"] = p.a.RootPath
	}

	// Active: memory_limiter, meter-in, strategy, meter-out, batch.
	limit := p.a.MemoryLimitMiB
	if err := c.addProcessor("memory_limiter", map[string]any{
		"check_interval":  "1s",
		"limit_mib":       limit,
		"spike_limit_mib": limit / 4,
	}); err != nil {
		return nil, err
	}
	if err := c.addProcessor("batch", map[string]any{}); err != nil {
		return nil, err
	}
	critical := firstNonEmpty(p.active.CriticalProcesses, DefaultCriticalProcesses)
	chain, err := c.measured(ActivePipeline, p.active, meterLabels{variant: ActivePipeline, host: p.a.Host, critical: critical}, nil)
	if err != nil {
		return nil, err
	}
	c.addPipeline(ActivePipeline, append(append([]string{"memory_limiter"}, chain...), "batch"), exported)

	for _, e := range p.experiments {
		for _, v := range []struct {
			name string
			doc  *Document
			live bool
		}{
			{"baseline", e.baseline, false},
			{"candidate", e.candidate, e.Mode == ModeLive},
		} {
			name := e.PipelineID(v.name)
			labels := meterLabels{experiment: e.ID, variant: v.name, host: p.a.Host, critical: e.critical}
			var tag map[string]any
			if v.live {
				tag = map[string]any{"attributes": []any{
					map[string]any{"key": AttrVariant, "value": v.name, "action": "upsert"},
					map[string]any{"key": AttrExperimentID, "value": e.ID, "action": "upsert"},
				}}
			}
			chain, err := c.measured(name, v.doc, labels, tag)
			if err != nil {
				return nil, err
			}
			exps := []string{"nop"}
			if v.live {
				exps = exported
			}
			c.addPipeline(name, chain, exps)
		}
	}
	if c.nop {
		c.exporters["nop"] = map[string]any{}
	}

	return map[string]any{
		"receivers":  map[string]any{HostMetricsReceiver: hm},
		"processors": c.processors,
		"exporters":  c.exporters,
		"service": map[string]any{
			"telemetry": map[string]any{
				"metrics": map[string]any{"level": "none"},
				"logs":    map[string]any{"level": p.a.LogLevel},
			},
			"pipelines": c.pipelines,
		},
	}, nil
}

// meterLabels are what a pipeline's two meters report about it.
type meterLabels struct {
	experiment, variant, host string
	critical                  []string
}

// meter returns a phoenix_meter config for one stage.
func (l meterLabels) meter(stage string) map[string]any {
	return map[string]any{
		"stage":                stage,
		"experiment":           l.experiment,
		"variant":              l.variant,
		"host":                 l.host,
		"critical_executables": slices.Clone(l.critical),
	}
}

// measured adds a pipeline's processors and returns their ids in order:
// the input meter, the document's processors renamed for the pipeline, the
// optional resource tagging, the output meter.
func (c *config) measured(pipeline string, d *Document, labels meterLabels, tag map[string]any) ([]string, error) {
	in, out := "phoenix_meter/"+pipeline+"-in", "phoenix_meter/"+pipeline
	if err := c.addProcessor(in, labels.meter("input")); err != nil {
		return nil, err
	}
	chain := []string{in}
	for _, proc := range d.Processors {
		var id component.ID
		if err := id.UnmarshalText([]byte(proc.ID)); err != nil {
			return nil, fmt.Errorf("compose %s: processor %q: %w", pipeline, proc.ID, err)
		}
		name := pipeline
		if id.Name() != "" {
			name = id.Name() + "-" + pipeline
		}
		rid := component.NewIDWithName(id.Type(), name).String()
		cfg := proc.Config
		if cfg == nil {
			cfg = map[string]any{}
		}
		if err := c.addProcessor(rid, cfg); err != nil {
			return nil, err
		}
		chain = append(chain, rid)
	}
	if tag != nil {
		// "-tag" keeps the id apart from a document's own resource
		// processors, whose names always end with the pipeline name.
		rid := "resource/" + pipeline + "-tag"
		if err := c.addProcessor(rid, tag); err != nil {
			return nil, err
		}
		chain = append(chain, rid)
	}
	if err := c.addProcessor(out, labels.meter("output")); err != nil {
		return nil, err
	}
	return append(chain, out), nil
}

// addProcessor records a processor config; two pipelines producing the same
// id would silently share it, so that is an error.
func (c *config) addProcessor(id string, cfg map[string]any) error {
	if _, dup := c.processors[id]; dup {
		return &ValidationError{Errors: []FieldError{{Message: fmt.Sprintf("processor id %q would be used by two pipelines; rename the processor or the experiment", id)}}}
	}
	c.processors[id] = cfg
	return nil
}

// addPipeline adds metrics/<name> fed by the shared receiver.
func (c *config) addPipeline(name string, processors, exporters []string) {
	if slices.Contains(exporters, "nop") {
		c.nop = true
	}
	c.pipelines["metrics/"+name] = map[string]any{
		"receivers":  []string{HostMetricsReceiver},
		"processors": processors,
		"exporters":  slices.Clone(exporters),
	}
}
