package pipeline

import (
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
)

// catalogNames are the five PRD strategies (FR-PL-02).
var catalogNames = []string{
	"process-adaptive-filter-v1",
	"process-aggregated-v1",
	"process-baseline-v1",
	"process-priority-filter-v1",
	"process-topk-v1",
}

func TestDefaultCatalog(t *testing.T) {
	t.Parallel()
	c := Default()
	var names []string
	for _, tmpl := range c.List() {
		names = append(names, tmpl.Name)
		require.NotEmpty(t, tmpl.Version, tmpl.Name)
		require.NotEmpty(t, tmpl.Description, tmpl.Name)
		require.NotEmpty(t, tmpl.Strategy, tmpl.Name)
		require.NotEmpty(t, tmpl.ExpectedReduction, tmpl.Name)
		p, ok := tmpl.Param("critical_processes")
		require.True(t, ok, "%s has critical_processes", tmpl.Name)
		require.Equal(t, ParamRegexList, p.Type)
		require.Equal(t, DefaultCriticalProcesses, tmpl.Defaults()["critical_processes"], tmpl.Name)
	}
	require.Equal(t, catalogNames, names)

	got, ok := c.Get("process-topk-v1")
	require.True(t, ok)
	require.Equal(t, "topk", got.Strategy)
	_, ok = c.Get("process-topk-v2")
	require.False(t, ok)
}

func TestTemplatesRenderWithDefaults(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"process-baseline-v1":        {},
		"process-priority-filter-v1": {"phoenix_priority", "filter/drop-low"},
		"process-topk-v1":            {"phoenix_priority", "phoenix_topk"},
		"process-aggregated-v1":      {"phoenix_priority", "phoenix_rollup"},
		"process-adaptive-filter-v1": {"phoenix_priority", "phoenix_adaptive"},
	}
	for _, tmpl := range Default().List() {
		d, err := tmpl.Render(nil)
		require.NoError(t, err, tmpl.Name)
		require.Equal(t, tmpl.Name, d.Name)
		require.Equal(t, tmpl.Description, d.Description)
		require.Equal(t, DefaultCriticalProcesses, d.CriticalProcesses)
		ids := []string{}
		for _, p := range d.Processors {
			ids = append(ids, p.ID)
		}
		require.Equal(t, want[tmpl.Name], ids, tmpl.Name)
	}
}

// TestCatalogValidatesAgainstCollector renders every template with its
// defaults and with non-default parameters and checks each processor
// through the distribution's factories.
func TestCatalogValidatesAgainstCollector(t *testing.T) {
	t.Parallel()
	specs := []Spec{
		CatalogSpec("process-topk-v1", map[string]any{"k": 1000, "rank_by": "memory"}),
		CatalogSpec("process-aggregated-v1", map[string]any{"group_by": "other", "keep_priority": "critical", "high_processes": []any{}}),
		CatalogSpec("process-priority-filter-v1", map[string]any{"default_priority": "medium", "low_processes": []any{`^kworker/`, `^(sleep|bash)$`}}),
		CatalogSpec("process-adaptive-filter-v1", map[string]any{"hysteresis": 0.9, "elevated_process_count": 2, "pressure_process_count": 3, "elevated_cpu_percent": 1, "pressure_cpu_percent": 1.5}),
		CatalogSpec("process-adaptive-filter-v1", map[string]any{"hysteresis": 0.05, "elevated_k": 5000, "k": 1000, "rank_by": "memory"}),
	}
	for _, name := range catalogNames {
		specs = append(specs, CatalogSpec(name, nil))
	}
	for _, s := range specs {
		require.NoError(t, ValidateSpec(s), "%s %v", s.Catalog, s.Params)
	}
}

func TestTemplateRenderParams(t *testing.T) {
	t.Parallel()
	tmpl, ok := Default().Get("process-topk-v1")
	require.True(t, ok)
	d, err := tmpl.Render(map[string]any{
		"k":                  "30", // as a --param k=30 flag gives it
		"rank_by":            "memory",
		"critical_processes": []any{`^java\d+$`, `^"odd"$`},
	})
	require.NoError(t, err)
	require.Equal(t, []string{`^java\d+$`, `^"odd"$`}, d.CriticalProcesses)
	require.Equal(t, "phoenix_topk", d.Processors[1].ID)
	require.Equal(t, 30, d.Processors[1].Config["k"])
	require.Equal(t, "memory", d.Processors[1].Config["rank_by"])
	require.Equal(t, "critical", d.Processors[1].Config["always_keep"])
	rules := d.Processors[0].Config["rules"].([]any)
	require.Len(t, rules, 2)
	require.Equal(t, map[string]any{"priority": "critical", "executable": `^java\d+$`}, rules[0])
	require.Equal(t, map[string]any{"priority": "critical", "executable": `^"odd"$`}, rules[1])
}

func TestPriorityFilterDropsLowOnly(t *testing.T) {
	t.Parallel()
	d, err := Render(CatalogSpec("process-priority-filter-v1", nil))
	require.NoError(t, err)
	filter := d.Processors[1]
	require.Equal(t, "filter/drop-low", filter.ID)
	// The filter processor drops what matches, so the condition must name
	// what goes, not what stays.
	require.Equal(t, map[string]any{
		"resource": []any{`resource.attributes["phoenix.priority"] == "low"`},
	}, filter.Config["metrics"])
}

func TestAdaptiveModes(t *testing.T) {
	t.Parallel()
	d, err := Render(CatalogSpec("process-adaptive-filter-v1", map[string]any{
		"k": 10, "elevated_k": 50,
		"elevated_process_count": 100, "elevated_cpu_percent": 50.5,
		"pressure_process_count": 300, "pressure_cpu_percent": 90,
		"hysteresis": 0.25,
	}))
	require.NoError(t, err)
	cfg := d.Processors[1].Config
	require.Equal(t, "phoenix_adaptive", d.Processors[1].ID)
	modes := cfg["modes"].([]any)
	require.Len(t, modes, 3)
	require.Equal(t, map[string]any{"name": "normal", "drop_below": ""}, modes[0])
	require.Equal(t, map[string]any{
		"name": "elevated", "drop_below": "", "top_k": 50,
		"enter": map[string]any{"process_count": 100, "cpu_percent": 50.5},
		"exit":  map[string]any{"process_count": 75, "cpu_percent": 37.88},
	}, modes[1])
	require.Equal(t, map[string]any{
		"name": "pressure", "drop_below": "", "top_k": 10,
		"enter": map[string]any{"process_count": 300, "cpu_percent": 90},
		"exit":  map[string]any{"process_count": 225, "cpu_percent": 67.5},
	}, modes[2])
}

func TestParamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		catalog string
		params  map[string]any
		want    []FieldError
	}{
		{"k below range", "process-topk-v1", map[string]any{"k": 0},
			[]FieldError{{"params.k", "must be between 1 and 1000, got 0"}}},
		{"k above range", "process-topk-v1", map[string]any{"k": 5000},
			[]FieldError{{"params.k", "must be between 1 and 1000, got 5000"}}},
		{"k not integer", "process-topk-v1", map[string]any{"k": 2.5},
			[]FieldError{{"params.k", "must be an integer, got float64 2.5"}}},
		{"k not a number", "process-topk-v1", map[string]any{"k": "many"},
			[]FieldError{{"params.k", `must be an integer, got "many"`}}},
		{"enum", "process-topk-v1", map[string]any{"rank_by": "disk"},
			[]FieldError{{"params.rank_by", `must be one of cpu, memory, got "disk"`}}},
		{"bad regexp", "process-topk-v1", map[string]any{"critical_processes": []any{"^ok$", "(nginx"}},
			[]FieldError{{"params.critical_processes[1]", "invalid regexp \"(nginx\": error parsing regexp: missing closing ): `(nginx`"}}},
		{"regex list of numbers", "process-topk-v1", map[string]any{"critical_processes": []any{1, 2}},
			[]FieldError{{"params.critical_processes", "must be a list of regular expressions, got []interface {} [1,2]"}}},
		{"empty critical list", "process-topk-v1", map[string]any{"critical_processes": []any{}},
			[]FieldError{{"params.critical_processes", "must have at least 1 patterns, got 0 patterns"}}},
		{"unknown parameter", "process-topk-v1", map[string]any{"kk": 3},
			[]FieldError{{"params.kk", "unknown parameter of process-topk-v1 (known: critical_processes, k, rank_by)"}}},
		{"float range", "process-adaptive-filter-v1", map[string]any{"pressure_cpu_percent": 120},
			[]FieldError{{"params.pressure_cpu_percent", "must be between 1 and 100, got 120"}}},
		{"cross-parameter check", "process-adaptive-filter-v1", map[string]any{"k": 50, "elevated_k": 40},
			[]FieldError{{"params.elevated_k", "must be greater than k"}}},
		{"thresholds out of order", "process-adaptive-filter-v1", map[string]any{"pressure_process_count": 100},
			[]FieldError{{"params.pressure_process_count", "must be greater than elevated_process_count"}}},
		{"several at once", "process-aggregated-v1", map[string]any{"group_by": "owner", "keep_priority": "low", "x": 1},
			[]FieldError{
				{"params.x", "unknown parameter of process-aggregated-v1 (known: critical_processes, high_processes, group_by, keep_priority)"},
				{"params.group_by", `must be one of executable, priority, other, got "owner"`},
				{"params.keep_priority", `must be one of medium, high, critical, got "low"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Render(CatalogSpec(tt.catalog, tt.params))
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.want, ve.Errors)
		})
	}
}

// testCatalog builds a catalog with one template exercising every
// parameter type.
func testCatalog(t *testing.T, params string) (*Catalog, error) {
	t.Helper()
	return NewCatalog(fstest.MapFS{"test-v1.yaml": {Data: []byte(`
name: test-v1
version: 0.1.0
strategy: test
description: exercises the parameter types
expected_reduction: none
parameters:
` + params + `
body: |
  processors: []
`)}})
}

const allTypes = `
  - {name: label, type: string, description: a label, min: 2, max: 5, default: abc}
  - {name: ttl, type: duration, description: a ttl, min: 1s, max: 1h, default: 5m}
  - {name: ratio, type: float, description: a ratio, min: 0, max: 1, default: 0.5}
  - {name: count, type: int, description: a count, min: 1}
  - {name: mode, type: enum, description: a mode, values: [a, b], default: a}
  - {name: names, type: regex_list, description: some names, max: 2, default: 'x'}
`

func TestParamTypes(t *testing.T) {
	t.Parallel()
	c, err := testCatalog(t, allTypes)
	require.NoError(t, err)
	tmpl, ok := c.Get("test-v1")
	require.True(t, ok)

	vals, err := tmpl.Resolve(map[string]any{"count": 3})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"label": "abc", "ttl": 5 * time.Minute, "ratio": 0.5, "count": 3, "mode": "a", "names": []string{"x"},
	}, vals)

	tests := []struct {
		name   string
		params map[string]any
		want   []FieldError
	}{
		{"missing required", map[string]any{}, []FieldError{{"params.count", "required parameter of test-v1 (int)"}}},
		{"null is missing", map[string]any{"count": nil}, []FieldError{{"params.count", "required parameter of test-v1 (int)"}}},
		{"count below min", map[string]any{"count": -1}, []FieldError{{"params.count", "must be at least 1, got -1"}}},
		{"string too short", map[string]any{"count": 1, "label": "a"}, []FieldError{{"params.label", "must have between 2 and 5 characters, got 1 characters"}}},
		{"string type", map[string]any{"count": 1, "label": 7}, []FieldError{{"params.label", "must be a string, got int 7"}}},
		{"duration too long", map[string]any{"count": 1, "ttl": "2h"}, []FieldError{{"params.ttl", "must be between 1s and 1h0m0s, got 2h0m0s"}}},
		{"duration syntax", map[string]any{"count": 1, "ttl": "soon"}, []FieldError{{"params.ttl", `must be a duration such as "30s", got "soon"`}}},
		{"float range", map[string]any{"count": 1, "ratio": 1.5}, []FieldError{{"params.ratio", "must be between 0 and 1, got 1.5"}}},
		{"float type", map[string]any{"count": 1, "ratio": true}, []FieldError{{"params.ratio", "must be a number, got bool true"}}},
		{"too many patterns", map[string]any{"count": 1, "names": []string{"a", "b", "c"}}, []FieldError{{"params.names", "must have at most 2 patterns, got 3 patterns"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tmpl.Resolve(tt.params)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.want, ve.Errors)
		})
	}
}

func TestNewCatalogRejectsBrokenTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, params, want string
	}{
		{"unknown type", `  - {name: a, type: color, description: x}`, `parameter a: unknown type "color"`},
		{"enum without values", `  - {name: a, type: enum, description: x}`, "parameter a: an enum needs values"},
		{"default out of bounds", `  - {name: a, type: int, description: x, min: 1, max: 3, default: 4}`, "parameter a: default: must be between 1 and 3, got 4"},
		{"default of the wrong type", `  - {name: a, type: regex_list, description: x, default: ['(']}`, "parameter a: default: [0]: invalid regexp"},
		{"min above max", `  - {name: a, type: int, description: x, min: 3, max: 1}`, "parameter a: min is greater than max"},
		{"bad duration bound", `  - {name: a, type: duration, description: x, min: 5}`, "parameter a: min: not a duration"},
		{"bad name", `  - {name: A-b, type: int, description: x}`, `invalid parameter name "A-b"`},
		{"declared twice", "  - {name: a, type: int, description: x}\n  - {name: a, type: int, description: x}", "parameter a declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := testCatalog(t, tt.params)
			require.ErrorContains(t, err, tt.want)
		})
	}

	_, err := NewCatalog(fstest.MapFS{"other-name.yaml": {Data: []byte("name: test-v1\nversion: 1\nstrategy: s\ndescription: d\nexpected_reduction: r\nbody: 'processors: []'\n")}})
	require.ErrorContains(t, err, `name "test-v1" does not match the file name`)
	_, err = NewCatalog(fstest.MapFS{"t.yaml": {Data: []byte("name: t\nversion: 1\nstrategy: s\ndescription: d\nexpected_reduction: r\nbody: '{{ .x '\n")}})
	require.ErrorContains(t, err, "parse body")
	_, err = NewCatalog(fstest.MapFS{"t.yaml": {Data: []byte("name: t\nversion: 1\nstrategy: s\ndescription: d\nexpected_reduction: r\nbody: 'processors: []'\nextra: 1\n")}})
	require.ErrorContains(t, err, "field extra not found")
	_, err = NewCatalog(fstest.MapFS{"t.yaml": {Data: []byte("name: t\nversion: 1\nbody: 'processors: []'\n")}})
	require.ErrorContains(t, err, "are required")
}

func TestTemplateRenderErrors(t *testing.T) {
	t.Parallel()
	c, err := NewCatalog(fstest.MapFS{"t.yaml": {Data: []byte(`
name: t
version: 1
strategy: s
description: d
expected_reduction: r
body: |
  processors: {{ .missing }}
`)}})
	require.NoError(t, err)
	tmpl, _ := c.Get("t")
	_, err = tmpl.Render(nil)
	require.ErrorContains(t, err, "render t")
	var ve *ValidationError
	require.False(t, errors.As(err, &ve), "a broken template is not the user's mistake")

	c, err = NewCatalog(fstest.MapFS{"t.yaml": {Data: []byte(`
name: t
version: 1
strategy: s
description: d
expected_reduction: r
body: |
  processors: {a: 1}
`)}})
	require.NoError(t, err)
	tmpl, _ = c.Get("t")
	_, err = tmpl.Render(nil)
	require.ErrorContains(t, err, "render t: processors: must be a list")
}
