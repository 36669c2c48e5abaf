package pipeline

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// fieldErrors returns the field errors of a validation, failing the test
// when err is not a *ValidationError.
func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.NotEmpty(t, ve.Errors)
	return ve.Errors
}

// requireFieldError checks that errs holds an error at path whose message
// contains msg.
func requireFieldError(t *testing.T, errs []FieldError, path, msg string) {
	t.Helper()
	for _, fe := range errs {
		if fe.Path == path && strings.Contains(fe.Message, msg) {
			return
		}
	}
	t.Fatalf("no error at %q containing %q in:\n%v", path, msg, (&ValidationError{Errors: errs}).Error())
}

const stockOnlyDoc = `
name: drop-idle
description: drop the idle processes, rename a metric
critical_processes: ['^(nginx|postgres)$']
processors:
  - filter/drop-idle:
      error_mode: ignore
      metrics:
        resource:
          - 'resource.attributes["process.executable.name"] == "sleep"'
  - transform:
      metric_statements:
        - context: resource
          statements:
            - set(attributes["team"], "web")
  - resource/tag: {attributes: [{key: env, value: prod, action: upsert}]}
  - groupbyattrs:
`

func TestValidateUserDocument(t *testing.T) {
	t.Parallel()
	require.NoError(t, Validate([]byte(stockOnlyDoc)))

	d, err := ParseDocument([]byte(stockOnlyDoc))
	require.NoError(t, err)
	require.Equal(t, "drop-idle", d.Name)
	require.Equal(t, []string{"^(nginx|postgres)$"}, d.CriticalProcesses)
	require.Len(t, d.Processors, 4)
	require.Equal(t, "groupbyattrs", d.Processors[3].ID)
	require.Nil(t, d.Processors[3].Config)
	require.NoError(t, ValidateDocument(d))
	require.NoError(t, ValidateSpec(Spec{Document: d}))
}

func TestValidatePhoenixDocument(t *testing.T) {
	t.Parallel()
	require.NoError(t, Validate([]byte(`
name: my-pipeline
processors:
  - phoenix_priority:
      rules: [{priority: critical, executable: '^nginx$'}, {priority: high, owner: '^postgres$'}]
  - filter/drop-low: {metrics: {resource: ['resource.attributes["phoenix.priority"] == "low"']}}
  - phoenix_topk: {k: 5, rank_by: memory}
`)))
}

func TestValidateDocumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, path, msg string
	}{
		{"unknown processor type", "name: x\nprocessors:\n  - filter: {}\n  - phoenix_topq: {k: 3}\n",
			"processors[1]", `unknown processor type "phoenix_topq" (this distribution has: `},
		{"bad critical regexp", "name: x\ncritical_processes: ['(nginx']\nprocessors: []\n",
			"critical_processes[0]", `invalid regexp "(nginx"`},
		{"critical not a list", "name: x\ncritical_processes: {a: 1}\nprocessors: []\n",
			"critical_processes", "must be a list of regular expressions"},
		{"batch is reserved", "name: x\nprocessors:\n  - batch:\n",
			"processors[0]", `processor type "batch" is not allowed in a pipeline`},
		{"meter is reserved", "name: x\nprocessors:\n  - phoenix_meter/x: {stage: input}\n",
			"processors[0]", `processor type "phoenix_meter" is not allowed`},
		{"memory_limiter is reserved", "name: x\nprocessors:\n  - memory_limiter: {}\n",
			"processors[0]", `processor type "memory_limiter" is not allowed`},
		{"duplicate id", "name: x\nprocessors:\n  - filter/a: {}\n  - filter/a: {}\n",
			"processors[1]", `duplicate processor id "filter/a" (also processors[0])`},
		{"invalid id", "name: x\nprocessors:\n  - 'filter/': {}\n",
			"processors[0]", `invalid processor id "filter/"`},
		{"unknown config key", "name: x\nprocessors:\n  - filter: {metric: {}}\n",
			"processors[0].filter", "has invalid keys: metric"},
		{"config rejected by Validate", "name: x\nprocessors:\n  - filter: {metrics: {resource: ['attributes[\"a\" == 1']}}\n",
			"processors[0].filter", "unable to parse OTTL condition"},
		{"config of the wrong shape", "name: x\nprocessors:\n  - filter: [1, 2]\n",
			"processors[0].filter", "config must be a mapping, got a list"},
		{"entry with two keys", "name: x\nprocessors:\n  - {filter: {}, transform: {}}\n",
			"processors[0]", "must be a mapping with exactly one key"},
		{"entry as a string", "name: x\nprocessors:\n  - filter\n",
			"processors[0]", `got the string "filter"`},
		{"processors missing", "name: x\n",
			"processors", "required"},
		{"processors not a list", "name: x\nprocessors: {filter: {}}\n",
			"processors", "must be a list of one-key mappings"},
		{"unknown key", "name: x\nprocesors: []\nprocessors: []\n",
			"procesors", "unknown key (known: name, description, critical_processes, processors)"},
		{"missing name", "processors: []\n",
			"name", "required"},
		{"invalid name", "name: My Pipeline\nprocessors: []\n",
			"name", `invalid name "My Pipeline"`},
		{"name not a string", "name: [a]\nprocessors: []\n",
			"name", "must be a string, got a list"},
		{"invalid YAML", "name: x\nprocessors: [\n",
			"", "invalid YAML: line 2: did not find expected node content"},
		{"empty document", "  \n",
			"", "empty document"},
		{"not a mapping", "- a\n- b\n",
			"", "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireFieldError(t, fieldErrors(t, Validate([]byte(tt.doc))), tt.path, tt.msg)
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	t.Parallel()
	err := Validate([]byte(`
name: x
processors:
  - filter/a: {}
  - phoenix_topq: {}
  - filter/a: {}
  - batch: {}
`))
	errs := fieldErrors(t, err)
	require.Len(t, errs, 3)
	require.Equal(t, "processors[1]", errs[0].Path)
	require.Equal(t, "processors[2]", errs[1].Path)
	require.Equal(t, "processors[3]", errs[2].Path)
	require.True(t, strings.HasPrefix(err.Error(), `processors[1]: unknown processor type "phoenix_topq"`), err.Error())
	require.Len(t, strings.Split(err.Error(), "\n"), 3)
}

func TestValidateSpecErrors(t *testing.T) {
	t.Parallel()
	d := &Document{Name: "x", Processors: []Processor{{ID: "phoenix_topq"}}}
	tests := []struct {
		name string
		spec Spec
		path string
		msg  string
	}{
		{"unknown catalog pipeline", Spec{Catalog: "process-topk-v9"}, "catalog", `unknown pipeline "process-topk-v9" (known: process-adaptive-filter-v1, `},
		{"neither", Spec{}, "catalog", "required"},
		{"both", Spec{Catalog: "process-topk-v1", Document: d}, "", "either catalog or document"},
		{"params on a document", Spec{Document: &Document{Name: "x"}, Params: map[string]any{"k": 1}}, "params", "catalog pipelines only"},
		{"k out of range", CatalogSpec("process-topk-v1", map[string]any{"k": 1001}), "params.k", "must be between 1 and 1000, got 1001"},
		{"unknown parameter", CatalogSpec("process-baseline-v1", map[string]any{"k": 3}), "params.k", "unknown parameter of process-baseline-v1"},
		{"bad document", Spec{Document: d}, "document.processors[0]", `unknown processor type "phoenix_topq"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireFieldError(t, fieldErrors(t, ValidateSpec(tt.spec)), tt.path, tt.msg)
		})
	}
}

func TestValidateSpecDocuments(t *testing.T) {
	t.Parallel()
	require.NoError(t, Validate([]byte("catalog: process-baseline-v1\nparams: {critical_processes: ['^sshd$']}\n")))
	requireFieldError(t, fieldErrors(t, Validate([]byte("catalog: process-baseline-v1\nparams: {critical_processes: ['^(sshd$']}\n"))),
		"params.critical_processes[0]", "invalid regexp")
	requireFieldError(t, fieldErrors(t, Validate([]byte("catalog: process-baseline-v1\nparams: [1]\n"))),
		"params", "must be a mapping of parameter names to values")
	requireFieldError(t, fieldErrors(t, Validate([]byte("catalog: process-baseline-v1\nparameters: {}\n"))),
		"parameters", "unknown key (known: catalog, params, document)")
	requireFieldError(t, fieldErrors(t, Validate([]byte("document: {name: x, processors: [{batch: {}}]}\n"))),
		"document.processors[0]", `processor type "batch" is not allowed`)
	require.NoError(t, Validate([]byte("document: {name: x, processors: [{filter: {}}]}\n")))
}

func TestSpecEncoding(t *testing.T) {
	t.Parallel()
	s := Spec{Document: &Document{Name: "x", Processors: []Processor{
		{ID: "filter/a", Config: map[string]any{"error_mode": "ignore"}},
		{ID: "groupbyattrs"},
	}}}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"document":{"name":"x","processors":[{"filter/a":{"error_mode":"ignore"}},{"groupbyattrs":null}]}}`, string(b))
	var back Spec
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s, back)

	y, err := yaml.Marshal(s)
	require.NoError(t, err)
	var fromYAML Spec
	require.NoError(t, yaml.Unmarshal(y, &fromYAML))
	require.Equal(t, s, fromYAML)

	var p Processor
	err = json.Unmarshal([]byte(`{"a": {}, "b": {}}`), &p)
	require.ErrorContains(t, err, "exactly one key")
	err = yaml.Unmarshal([]byte(`a: 3`), &p)
	require.ErrorContains(t, err, "config must be a mapping")
}

const stockConfig = `
receivers:
  hostmetrics:
    collection_interval: 30s
    root_path: /hostfs-that-is-not-here
    scrapers:
      cpu:
      process:
        mute_process_name_error: true
processors:
  batch:
  filter/drop:
    metrics:
      resource: ['resource.attributes["process.executable.name"] == "sleep"']
exporters:
  otlp:
    endpoint: collector.example:4317
  debug:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [hostmetrics]
      processors: [filter/drop, batch]
      exporters: [otlp, debug]
`

func TestValidateCollectorConfig(t *testing.T) {
	t.Parallel()
	require.NoError(t, Validate([]byte(stockConfig)))
	require.NoError(t, ValidateCollectorConfig([]byte(stockConfig)))

	tests := []struct {
		name, old, new, msg string
		path                string
	}{
		{"unknown exporter", "  debug:\n", "  kafka:\n", `unknown type: "kafka"`, ""},
		{"unknown processor", "  batch:\n", "  phoenix_topq:\n", `unknown type: "phoenix_topq"`, ""},
		{"unknown receiver", "  hostmetrics:\n", "  prometheus:\n", `unknown type: "prometheus"`, ""},
		{"unconfigured component", "[filter/drop, batch]", "[filter/keep, batch]", `references processor "filter/keep" which is not configured`, ""},
		{"invalid component config", "collection_interval: 30s", "collection_interval: -1s", "collection_interval", ""},
		{"invalid OTTL", `== "sleep"`, `== `, "filter/drop", ""},
		{"unknown key", "mute_process_name_error", "mute_process_nam_error", "mute_process_nam_error", ""},
		{"environment is not read", "collector.example:4317", "${env:HOME}", `scheme "env"`, ""},
		{"relative root path", "/hostfs-that-is-not-here", "hostfs", `must be an absolute path, got the string "hostfs"`, "receivers.hostmetrics.root_path"},
		{"bad telemetry", "level: none", "level: loud", "loud", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := strings.Replace(stockConfig, tt.old, tt.new, 1)
			require.NotEqual(t, stockConfig, doc)
			requireFieldError(t, fieldErrors(t, Validate([]byte(doc))), tt.path, tt.msg)
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	var l errorList
	l.add("processors[1]", "unknown processor type %q", "x")
	l.add("", "whole document")
	l.addErr("params", errors.Join(errors.New("a"), errors.New("b")))
	l.merge("experiments[0]", errorList{{Path: "[1]", Message: "m"}, {Path: "id", Message: "n"}})
	err := l.err()
	require.Equal(t, "processors[1]: unknown processor type \"x\"\nwhole document\nparams: a\nparams: b\nexperiments[0][1]: m\nexperiments[0].id: n", err.Error())
	var none errorList
	require.NoError(t, none.err())
}
