package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/experiment"
)

// scenario is the experiment file of the PRD:
//
//	experimentName: topk-vs-baseline
//	duration: 30m
//	targetHosts: [web-1, web-2]        # or targetHost: web-1
//	variantA: process-baseline-v1      # the baseline
//	variantB:                          # the candidate
//	  pipeline: process-topk-v1
//	  params: {k: 10}
//	criticalProcessRegex: '^(nginx|postgres|java)$'   # or a list
//	comparisonMetrics: [output_series, datapoints, cpu]
//
// targetSelector (agent labels), mode (shadow|live), minReduction (a
// fraction) and minRuntime (a duration such as 3m) may be added. Unknown
// keys are refused.
type scenario struct {
	ExperimentName       string            `yaml:"experimentName"`
	Duration             string            `yaml:"duration"`
	TargetHost           string            `yaml:"targetHost"`
	TargetHosts          []string          `yaml:"targetHosts"`
	TargetSelector       map[string]string `yaml:"targetSelector"`
	VariantA             *variant          `yaml:"variantA"`
	VariantB             *variant          `yaml:"variantB"`
	CriticalProcessRegex stringList        `yaml:"criticalProcessRegex"`
	ComparisonMetrics    []string          `yaml:"comparisonMetrics"`
	Mode                 string            `yaml:"mode"`
	MinReduction         *float64          `yaml:"minReduction"`
	MinRuntime           string            `yaml:"minRuntime"`
}

// variant is a pipeline name, or a mapping {pipeline, params}.
type variant struct {
	Pipeline string         `yaml:"pipeline"`
	Params   map[string]any `yaml:"params"`
}

// UnmarshalYAML accepts a pipeline name or {pipeline, params}.
func (v *variant) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&v.Pipeline)
	}
	type plain variant
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*v = variant(p)
	return nil
}

// decodeStrict decodes a node refusing unknown keys (Node.Decode does not
// know KnownFields).
func decodeStrict(n *yaml.Node, out any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// stringList is one string or a list of strings.
type stringList []string

// UnmarshalYAML accepts a string or a sequence of strings.
func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var one string
		if err := n.Decode(&one); err != nil {
			return err
		}
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := n.Decode(&many); err != nil {
		return err
	}
	*s = many
	return nil
}

// comparisonMetrics maps the names a scenario may list to the analysis'
// KPIs (and the report's other figures).
var comparisonMetrics = map[string]string{
	analysis.KPIOutputSeries: analysis.KPIOutputSeries,
	"cardinality":            analysis.KPIOutputSeries,
	"series":                 analysis.KPIOutputSeries,
	analysis.KPIDatapoints:   analysis.KPIDatapoints,
	"datapoints":             analysis.KPIDatapoints,
	"datapoints_per_min":     analysis.KPIDatapoints,
	analysis.KPIBytes:        analysis.KPIBytes,
	"bytes":                  analysis.KPIBytes,
	"bytes_per_min":          analysis.KPIBytes,
	"ingest":                 analysis.KPIBytes,
	analysis.KPIProcessing:   analysis.KPIProcessing,
	"cpu":                    analysis.KPIProcessing,
	"overhead":               analysis.KPIProcessing,
	analysis.KPIInputSeries:  analysis.KPIInputSeries,
	"critical_retention":     "critical_retention",
	"critical_processes":     "critical_retention",
	"cost":                   "cost",
}

func knownMetrics() string {
	names := make([]string, 0, len(comparisonMetrics))
	for k := range comparisonMetrics {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// loadScenario reads a scenario file ("-": r) into an experiment create
// request and the comparison metrics it lists (resolved to report names).
// Problems are usage errors naming the file and key.
func loadScenario(path string, r io.Reader) (name string, spec experiment.Spec, metrics []string, err error) {
	var b []byte
	if path == "-" {
		b, err = io.ReadAll(r)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", spec, nil, &UsageError{Err: fmt.Errorf("read scenario: %w", err)}
	}
	bad := func(format string, args ...any) error {
		return &UsageError{Err: fmt.Errorf("scenario %s: %s", path, fmt.Sprintf(format, args...))}
	}
	var s scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return "", spec, nil, bad("is empty")
		}
		return "", spec, nil, bad("%v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var problems []string
	if s.VariantA == nil || s.VariantA.Pipeline == "" {
		problems = append(problems, "variantA: required (the baseline pipeline)")
	}
	if s.VariantB == nil || s.VariantB.Pipeline == "" {
		problems = append(problems, "variantB: required (the candidate pipeline)")
	}
	hosts := slices.Clone(s.TargetHosts)
	if s.TargetHost != "" {
		hosts = append([]string{s.TargetHost}, hosts...)
	}
	if len(hosts) == 0 && len(s.TargetSelector) == 0 {
		problems = append(problems, "targetHost, targetHosts or targetSelector: required")
	}
	if s.Duration != "" {
		d, err := time.ParseDuration(s.Duration)
		if err != nil {
			problems = append(problems, fmt.Sprintf("duration: %q is not a duration such as 30m", s.Duration))
		}
		spec.Duration = experiment.Duration(d)
	}
	for _, m := range s.ComparisonMetrics {
		kpi, ok := comparisonMetrics[strings.ToLower(strings.TrimSpace(m))]
		if !ok {
			problems = append(problems, fmt.Sprintf("comparisonMetrics: unknown metric %q (known: %s)", m, knownMetrics()))
			continue
		}
		if !slices.Contains(metrics, kpi) {
			metrics = append(metrics, kpi)
		}
	}
	if len(problems) > 0 {
		return "", spec, nil, bad("%s", strings.Join(problems, "; "))
	}
	spec.Baseline = experiment.PipelineRef{Name: s.VariantA.Pipeline, Params: s.VariantA.Params}
	spec.Candidate = experiment.PipelineRef{Name: s.VariantB.Pipeline, Params: s.VariantB.Params}
	spec.Target = experiment.Target{Hosts: hosts, Selector: s.TargetSelector}
	spec.CriticalProcesses = s.CriticalProcessRegex
	spec.Mode = s.Mode
	if s.MinReduction != nil {
		spec.Criteria.MinReduction = *s.MinReduction
	}
	if s.MinRuntime != "" {
		d, err := time.ParseDuration(s.MinRuntime)
		if err != nil || d <= 0 {
			return "", spec, nil, bad("minRuntime: must be a positive duration such as 3m, got %q", s.MinRuntime)
		}
		spec.Criteria.MinRuntime = experiment.Duration(d)
	}
	return s.ExperimentName, spec, metrics, nil
}
