package pipeline

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// otlpExporter is the exporter of the golden assignments.
var otlpExporter = Exporter{ID: "otlp", Config: map[string]any{
	"endpoint": "collector.example:4317",
	"tls":      map[string]any{"insecure": true},
}}

// shopDocument is a user pipeline used as an experiment candidate. Its
// unnamed resource processor must be renamed apart from the live
// candidate's tagging processor.
const shopDocument = `
name: shop-filter
description: keep the shop's services, drop the rest
critical_processes: ['^(shop-api|postgres)$']
processors:
  - phoenix_priority:
      rules:
        - {priority: critical, executable: '^(shop-api|postgres)$'}
        - {priority: medium, owner: '^shop$'}
  - filter/drop-low:
      metrics:
        resource: ['resource.attributes["phoenix.priority"] == "low"']
  - resource:
      attributes: [{key: team, value: shop, action: upsert}]
`

// goldenAssignments are the assignments whose rendered configs are kept in
// testdata/golden: each catalog pipeline as the active one, and an active
// pipeline with two concurrent experiments (one live, one shadow).
func goldenAssignments(t *testing.T) map[string]Assignment {
	t.Helper()
	out := map[string]Assignment{}
	for _, name := range catalogNames {
		out["active-"+name] = Assignment{
			Host:      "host-a",
			Exporters: []Exporter{otlpExporter},
			Active:    &Spec{Catalog: name},
		}
	}
	shop, err := ParseDocument([]byte(shopDocument))
	require.NoError(t, err)
	out["experiments"] = Assignment{
		Host:               "host-b",
		CollectionInterval: 15 * time.Second,
		LogLevel:           "warn",
		MemoryLimitMiB:     256,
		Exporters: []Exporter{
			{ID: "prometheusremotewrite", Config: map[string]any{"endpoint": "http://phoenix.example:8080/prometheus/api/v1/write"}},
			{ID: "debug/sample", Config: map[string]any{"verbosity": "basic"}},
		},
		Active: &Spec{Catalog: "process-topk-v1", Params: map[string]any{"k": 30}},
		Experiments: []Experiment{
			{
				ID:               "42",
				Baseline:         CatalogSpec("process-baseline-v1", nil),
				Candidate:        CatalogSpec("process-aggregated-v1", map[string]any{"group_by": "priority"}),
				Mode:             ModeLive,
				CriticalPatterns: []string{`^(nginx|postgres|java)$`},
			},
			{
				ID:        "exp-7",
				Baseline:  CatalogSpec("process-baseline-v1", nil),
				Candidate: Spec{Document: shop},
			},
		},
	}
	return out
}

func TestComposeGolden(t *testing.T) {
	for name, a := range goldenAssignments(t) {
		t.Run(name, func(t *testing.T) {
			got, err := Compose(a)
			require.NoError(t, err)
			path := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/pipeline -update to create it")
			require.Equal(t, string(want), string(got))

			again, err := Compose(a)
			require.NoError(t, err)
			require.Equal(t, string(got), string(again), "output must be deterministic")

			checkComposed(t, a, got)
		})
	}
}

// TestGoldenFilesAreValidCollectorConfigs runs every golden file through
// the stock collector validation, independently of Compose.
func TestGoldenFilesAreValidCollectorConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, len(catalogNames)+1)
	for _, f := range files {
		doc, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, ValidateCollectorConfig(doc), f)
		require.NoError(t, Validate(doc), f)
	}
}

// composed is the part of a collector config the checks read.
type composed struct {
	Receivers  map[string]map[string]any `yaml:"receivers"`
	Processors map[string]map[string]any `yaml:"processors"`
	Exporters  map[string]map[string]any `yaml:"exporters"`
	Service    struct {
		Telemetry struct {
			Metrics map[string]any `yaml:"metrics"`
			Logs    map[string]any `yaml:"logs"`
		} `yaml:"telemetry"`
		Pipelines map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

// checkComposed verifies the composition rules on a rendered config,
// independently of the golden text.
func checkComposed(t *testing.T, a Assignment, doc []byte) {
	t.Helper()
	var c composed
	require.NoError(t, yaml.Unmarshal(doc, &c))

	// One shared hostmetrics receiver with the muted process scraper.
	require.Len(t, c.Receivers, 1)
	hm := c.Receivers[HostMetricsReceiver]
	require.NotNil(t, hm)
	interval := a.CollectionInterval
	if interval == 0 {
		interval = DefaultCollectionInterval
	}
	require.Equal(t, interval.String(), hm["collection_interval"])
	scrapers := hm["scrapers"].(map[string]any)
	for _, s := range []string{"process", "cpu", "memory", "load", "filesystem", "network"} {
		require.Contains(t, scrapers, s)
	}
	for _, k := range []string{"mute_process_name_error", "mute_process_exe_error", "mute_process_io_error", "mute_process_user_error"} {
		require.Equal(t, true, scrapers["process"].(map[string]any)[k], k)
	}

	// Embedded collectors bind no telemetry port.
	require.Equal(t, "none", c.Service.Telemetry.Metrics["level"])
	level := a.LogLevel
	if level == "" {
		level = DefaultLogLevel
	}
	require.Equal(t, level, c.Service.Telemetry.Logs["level"])

	var exported []string
	for _, e := range a.Exporters {
		exported = append(exported, e.ID)
	}
	if len(exported) == 0 {
		exported = []string{"nop"}
	}

	wantPipelines := []string{"metrics/active"}
	for _, e := range a.Experiments {
		wantPipelines = append(wantPipelines, "metrics/"+e.PipelineID("baseline"), "metrics/"+e.PipelineID("candidate"))
	}
	var gotPipelines []string
	for name := range c.Service.Pipelines {
		gotPipelines = append(gotPipelines, name)
	}
	require.ElementsMatch(t, wantPipelines, gotPipelines)

	users := map[string][]string{} // processor id -> pipelines using it
	for name, p := range c.Service.Pipelines {
		id := strings.TrimPrefix(name, "metrics/")
		require.Equal(t, []string{HostMetricsReceiver}, p.Receivers, name)
		procs := p.Processors
		for _, proc := range procs {
			require.Contains(t, c.Processors, proc, "%s uses %s", name, proc)
			users[proc] = append(users[proc], name)
		}
		if id == ActivePipeline {
			require.Equal(t, "memory_limiter", procs[0])
			require.Equal(t, "batch", procs[len(procs)-1])
			procs = procs[1 : len(procs)-1]
			require.Equal(t, exported, p.Exporters)
		}
		// The meters frame the measured chain, with no batch in between.
		require.Equal(t, "phoenix_meter/"+id+"-in", procs[0], name)
		require.Equal(t, "phoenix_meter/"+id, procs[len(procs)-1], name)
		for _, proc := range procs[1 : len(procs)-1] {
			typ, pname, _ := strings.Cut(proc, "/")
			require.NotEqual(t, "batch", typ, name)
			require.NotEqual(t, "phoenix_meter", typ, name)
			require.True(t, strings.HasSuffix(pname, id) || proc == "resource/"+id+"-tag", "%s in %s carries the pipeline name", proc, name)
		}
		in, out := c.Processors[procs[0]], c.Processors[procs[len(procs)-1]]
		require.Equal(t, "input", in["stage"])
		require.Equal(t, "output", out["stage"])
		for _, k := range []string{"experiment", "variant", "host", "critical_executables"} {
			require.Equal(t, in[k], out[k], k)
		}
		require.Equal(t, a.Host, in["host"])
		require.NotEmpty(t, in["critical_executables"])
	}
	for proc, ps := range users {
		if proc != "memory_limiter" && proc != "batch" {
			require.Len(t, ps, 1, "%s is used by one pipeline only", proc)
		}
	}

	for _, e := range a.Experiments {
		for _, variant := range []string{"baseline", "candidate"} {
			id := e.PipelineID(variant)
			p := c.Service.Pipelines["metrics/"+id]
			meter := c.Processors["phoenix_meter/"+id]
			require.Equal(t, e.ID, meter["experiment"])
			require.Equal(t, variant, meter["variant"])
			if len(e.CriticalPatterns) > 0 {
				require.Equal(t, toAny(e.CriticalPatterns), meter["critical_executables"])
			}
			tag := "resource/" + id + "-tag"
			if variant == "candidate" && e.Mode == ModeLive {
				require.Equal(t, exported, p.Exporters, id)
				require.Equal(t, tag, p.Processors[len(p.Processors)-2], id)
				require.Equal(t, []any{
					map[string]any{"key": AttrVariant, "value": "candidate", "action": "upsert"},
					map[string]any{"key": AttrExperimentID, "value": e.ID, "action": "upsert"},
				}, c.Processors[tag]["attributes"])
			} else {
				require.Equal(t, []string{"nop"}, p.Exporters, id)
				require.NotContains(t, p.Processors, tag)
			}
		}
	}
	if slices.Contains(exported, "nop") || len(a.Experiments) > 0 {
		require.Contains(t, c.Exporters, "nop")
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestComposeZeroAssignment(t *testing.T) {
	t.Parallel()
	got, err := Compose(Assignment{})
	require.NoError(t, err)
	checkComposed(t, Assignment{}, got)
	var c composed
	require.NoError(t, yaml.Unmarshal(got, &c))
	require.Equal(t, []string{"memory_limiter", "phoenix_meter/active-in", "phoenix_meter/active", "batch"},
		c.Service.Pipelines["metrics/active"].Processors)
	require.Equal(t, []string{"nop"}, c.Service.Pipelines["metrics/active"].Exporters)
	require.Equal(t, "active", c.Processors["phoenix_meter/active"]["variant"])
	require.Equal(t, "", c.Processors["phoenix_meter/active"]["experiment"])
	require.Equal(t, toAny(DefaultCriticalProcesses), c.Processors["phoenix_meter/active"]["critical_executables"])
	require.NotContains(t, c.Receivers[HostMetricsReceiver], "root_path")
}

func TestComposeCriticalPatterns(t *testing.T) {
	t.Parallel()
	a := Assignment{
		RootPath: "/hostfs",
		Active:   &Spec{Catalog: "process-topk-v1", Params: map[string]any{"critical_processes": []any{"^mine$"}}},
		Experiments: []Experiment{
			// The experiment's patterns go to the meters and to variants
			// that do not set critical_processes themselves.
			{ID: "a", Baseline: CatalogSpec("process-baseline-v1", nil), Candidate: CatalogSpec("process-topk-v1", nil), CriticalPatterns: []string{"^exp$"}},
			// A variant's own parameter wins for its processors.
			{ID: "b", Baseline: CatalogSpec("process-baseline-v1", nil), Candidate: CatalogSpec("process-topk-v1", map[string]any{"critical_processes": "^own$"}), CriticalPatterns: []string{"^exp$"}},
			// Without experiment patterns the candidate's decide.
			{ID: "c", Baseline: CatalogSpec("process-baseline-v1", nil), Candidate: CatalogSpec("process-topk-v1", map[string]any{"critical_processes": "^cand$"})},
		},
	}
	got, err := Compose(a)
	require.NoError(t, err)
	checkComposed(t, a, got)
	var c composed
	require.NoError(t, yaml.Unmarshal(got, &c))
	require.Equal(t, "/hostfs", c.Receivers[HostMetricsReceiver]["root_path"])

	critical := func(meter string) any { return c.Processors[meter]["critical_executables"] }
	rule := func(prio string) any {
		return c.Processors[prio]["rules"].([]any)[0].(map[string]any)["executable"]
	}
	require.Equal(t, []any{"^mine$"}, critical("phoenix_meter/active"))
	require.Equal(t, "^mine$", rule("phoenix_priority/active"))

	require.Equal(t, []any{"^exp$"}, critical("phoenix_meter/exp-a-baseline"))
	require.Equal(t, []any{"^exp$"}, critical("phoenix_meter/exp-a-candidate"))
	require.Equal(t, "^exp$", rule("phoenix_priority/exp-a-candidate"))

	require.Equal(t, []any{"^exp$"}, critical("phoenix_meter/exp-b-candidate"))
	require.Equal(t, "^own$", rule("phoenix_priority/exp-b-candidate"))

	require.Equal(t, []any{"^cand$"}, critical("phoenix_meter/exp-c-baseline"))
	require.Equal(t, []any{"^cand$"}, critical("phoenix_meter/exp-c-candidate"))
}

func TestComposeRejectsInvalidAssignments(t *testing.T) {
	t.Parallel()
	base := CatalogSpec("process-baseline-v1", nil)
	exp := func(mut func(*Experiment)) Assignment {
		e := Experiment{ID: "1", Baseline: base, Candidate: CatalogSpec("process-topk-v1", nil)}
		mut(&e)
		return Assignment{Experiments: []Experiment{e}}
	}
	tests := []struct {
		name string
		a    Assignment
		path string
		msg  string
	}{
		{"unknown exporter type", Assignment{Exporters: []Exporter{{ID: "kafka"}}},
			"exporters[0]", `unknown exporter type "kafka" (this distribution has: `},
		{"exporter config rejected", Assignment{Exporters: []Exporter{{ID: "otlp", Config: map[string]any{"endpointt": "x"}}}},
			"exporters[0].config", "has invalid keys: endpointt"},
		{"exporter config invalid", Assignment{Exporters: []Exporter{{ID: "otlphttp", Config: map[string]any{}}}},
			"exporters[0].config", "at least one endpoint must be specified"},
		{"invalid exporter id", Assignment{Exporters: []Exporter{{ID: "otlp/"}}},
			"exporters[0].id", `invalid exporter id "otlp/"`},
		{"duplicate exporter", Assignment{Exporters: []Exporter{{ID: "debug"}, {ID: "debug"}}},
			"exporters[1].id", `duplicate exporter id "debug" (also exporters[0])`},
		{"active param out of range", Assignment{Active: &Spec{Catalog: "process-topk-v1", Params: map[string]any{"k": 0}}},
			"active.params.k", "must be between 1 and 1000, got 0"},
		{"active unknown processor", Assignment{Active: &Spec{Document: &Document{Name: "x", Processors: []Processor{{ID: "phoenix_topq"}}}}},
			"active.document.processors[0]", `unknown processor type "phoenix_topq"`},
		{"candidate param", exp(func(e *Experiment) { e.Candidate.Params = map[string]any{"k": 5000} }),
			"experiments[0].candidate.params.k", "must be between 1 and 1000, got 5000"},
		{"baseline unknown pipeline", exp(func(e *Experiment) { e.Baseline = CatalogSpec("nope", nil) }),
			"experiments[0].baseline.catalog", `unknown pipeline "nope"`},
		{"experiment id", exp(func(e *Experiment) { e.ID = "a b" }),
			"experiments[0].id", `invalid experiment id "a b"`},
		{"empty experiment id", exp(func(e *Experiment) { e.ID = "" }),
			"experiments[0].id", `invalid experiment id ""`},
		{"mode", exp(func(e *Experiment) { e.Mode = "loud" }),
			"experiments[0].mode", `must be shadow or live, got "loud"`},
		{"critical pattern", exp(func(e *Experiment) { e.CriticalPatterns = []string{"ok", "("} }),
			"experiments[0].critical_patterns[1]", `invalid regexp "("`},
		{"duplicate experiment", Assignment{Experiments: []Experiment{
			{ID: "9", Baseline: base, Candidate: base}, {ID: "9", Baseline: base, Candidate: base},
		}}, "experiments[1].id", `duplicate experiment id "9" (also experiments[0])`},
		{"log level", Assignment{LogLevel: "verbose"}, "log_level", `must be one of debug, info, warn, error, got "verbose"`},
		{"collection interval", Assignment{CollectionInterval: time.Millisecond}, "collection_interval", "must be at least 1s, got 1ms"},
		{"memory limit", Assignment{MemoryLimitMiB: 8}, "memory_limit_mib", "must be at least 32, got 8"},
		{"root path", Assignment{RootPath: "hostfs"}, "root_path", `must be an absolute path, got "hostfs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compose(tt.a)
			requireFieldError(t, fieldErrors(t, err), tt.path, tt.msg)
			requireFieldError(t, fieldErrors(t, ValidateAssignment(tt.a)), tt.path, tt.msg)
		})
	}
}

func TestComposeChecksTheRenderedConfig(t *testing.T) {
	t.Parallel()
	// The remote write exporter rejects a bad endpoint only when it is
	// built, which the final collector validation of Compose does.
	a := Assignment{Exporters: []Exporter{{ID: "prometheusremotewrite", Config: map[string]any{"endpoint": "::not a url"}}}}
	require.NoError(t, ValidateAssignment(a))
	_, err := Compose(a)
	require.ErrorContains(t, err, "compose: rendered config is rejected by the collector")
	require.ErrorContains(t, err, `failed to create "prometheusremotewrite" exporter`)
}

func TestComposeRejectsProcessorIDCollision(t *testing.T) {
	t.Parallel()
	// filter/exp in experiment "A" and an unnamed filter in experiment
	// "exp-A" would both be filter/exp-exp-A-baseline.
	named := &Document{Name: "n", Processors: []Processor{{ID: "filter/exp"}}}
	unnamed := &Document{Name: "u", Processors: []Processor{{ID: "filter"}}}
	base := CatalogSpec("process-baseline-v1", nil)
	_, err := Compose(Assignment{Experiments: []Experiment{
		{ID: "A", Baseline: Spec{Document: named}, Candidate: base},
		{ID: "exp-A", Baseline: Spec{Document: unnamed}, Candidate: base},
	}})
	requireFieldError(t, fieldErrors(t, err), "", `processor id "filter/exp-exp-A-baseline" would be used by two pipelines`)
}
