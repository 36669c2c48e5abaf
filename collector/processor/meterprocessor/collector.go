package meterprocessor

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the measurements: the pipeline figures of the measurement contract
// in ARCHITECTURE.md plus input data points, input processes and the missing
// critical processes.
const (
	MetricInputSeries       = "phoenix_pipeline_input_series"
	MetricInputProcesses    = "phoenix_pipeline_input_processes"
	MetricInputDatapoints   = "phoenix_pipeline_input_datapoints_total"
	MetricOutputSeries      = "phoenix_pipeline_output_series"
	MetricOutputDatapoints  = "phoenix_pipeline_output_datapoints_total"
	MetricOutputBytes       = "phoenix_pipeline_output_bytes_total"
	MetricCriticalExpected  = "phoenix_pipeline_critical_expected"
	MetricCriticalRetained  = "phoenix_pipeline_critical_retained"
	MetricCriticalMissing   = "phoenix_pipeline_critical_missing"
	MetricProcessingSeconds = "phoenix_pipeline_processing_seconds_total"
)

// Label names of the measurements. The server adds tenant at ingest.
const (
	LabelHost       = "host"
	LabelExperiment = "experiment"
	LabelVariant    = "variant"
	// LabelProcess names the executable of a phoenix_pipeline_critical_missing series.
	LabelProcess = "process"
)

var labels = []string{LabelHost, LabelExperiment, LabelVariant}

// identity is what the two stages of one measured pipeline share.
type identity struct {
	experiment string
	variant    string
}

// counterKey names one set of counters.
type counterKey struct {
	host string
	identity
}

// counters hold the monotonically growing figures of one (host, experiment,
// variant). They live in the collector, not in a meter instance, so that a
// collector restart within the process continues them.
type counters struct {
	inputDatapoints  atomic.Uint64
	outputDatapoints atomic.Uint64
	outputBytes      atomic.Uint64
	processingNanos  atomic.Uint64
}

// meterCollector is the one prometheus.Collector of a registerer. It
// enumerates the live meter instances (registered at Start, removed at
// Shutdown) for the gauges and keeps the counters of every label set it has
// seen, exposing them while an instance of the owning stage is live.
type meterCollector struct {
	inputSeries, outputSeries          *prometheus.Desc
	inputProcesses                     *prometheus.Desc
	inputDatapoints, outputDatapoints  *prometheus.Desc
	outputBytes, processingSeconds     *prometheus.Desc
	criticalExpected, criticalRetained *prometheus.Desc
	criticalMissing                    *prometheus.Desc

	mu       sync.Mutex
	seq      uint64
	live     map[*meter]uint64
	counters map[counterKey]*counters
}

var _ prometheus.Collector = (*meterCollector)(nil)

func newMeterCollector() *meterCollector {
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), extra...), nil)
	}
	return &meterCollector{
		inputSeries:       d(MetricInputSeries, "Distinct series seen by the input stage of a pipeline within the active window."),
		inputProcesses:    d(MetricInputProcesses, "Process resources (those naming an executable) in the input of the latest call that carried any."),
		inputDatapoints:   d(MetricInputDatapoints, "Data points received by a pipeline."),
		outputSeries:      d(MetricOutputSeries, "Distinct series seen by the output stage of a pipeline within the active window."),
		outputDatapoints:  d(MetricOutputDatapoints, "Data points a pipeline would send."),
		outputBytes:       d(MetricOutputBytes, "Estimated OTLP protobuf bytes a pipeline would send."),
		criticalExpected:  d(MetricCriticalExpected, "Distinct critical processes in the input of the latest call."),
		criticalRetained:  d(MetricCriticalRetained, "Critical processes of the latest call that reached the output stage."),
		criticalMissing:   d(MetricCriticalMissing, "1 for each critical executable expected but not retained in the latest call.", LabelProcess),
		processingSeconds: d(MetricProcessingSeconds, "Time spent in a pipeline's processors between its input and output stages."),
		live:              make(map[*meter]uint64),
		counters:          make(map[counterKey]*counters),
	}
}

// collectorFor returns the collector registered with reg, registering a new
// one unless reg already holds one. A nil reg gets an unregistered collector.
func collectorFor(reg prometheus.Registerer) (*meterCollector, error) {
	c := newMeterCollector()
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*meterCollector); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register phoenix_meter measurements: %w", err)
}

// counter returns the counters of a label set, creating them on first use.
func (c *meterCollector) counter(k counterKey) *counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.counters[k]
	if !ok {
		r = new(counters)
		c.counters[k] = r
	}
	return r
}

// start makes an instance's measurements visible.
func (c *meterCollector) start(m *meter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.live[m] = c.seq
}

// stop hides an instance's measurements; calling it twice is harmless.
func (c *meterCollector) stop(m *meter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, m)
}

// Describe implements prometheus.Collector.
func (c *meterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.inputSeries, c.inputProcesses, c.inputDatapoints, c.outputSeries, c.outputDatapoints, c.outputBytes,
		c.criticalExpected, c.criticalRetained, c.criticalMissing, c.processingSeconds,
	} {
		ch <- d
	}
}

type stagedIdentity struct {
	stage Stage
	identity
}

type counterSnapshot struct {
	key counterKey
	rec *counters
}

// Collect implements prometheus.Collector. When several live instances share
// a stage, experiment and variant (say an old and a new collector overlapping
// during a restart), the most recently started one reports the gauges.
func (c *meterCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	type liveMeter struct {
		m   *meter
		seq uint64
	}
	ms := make([]liveMeter, 0, len(c.live))
	for m, seq := range c.live {
		ms = append(ms, liveMeter{m, seq})
	}
	cs := make([]counterSnapshot, 0, len(c.counters))
	for k, r := range c.counters {
		cs = append(cs, counterSnapshot{k, r})
	}
	c.mu.Unlock()

	sort.Slice(ms, func(i, j int) bool { return ms[i].seq > ms[j].seq })
	reported := make(map[stagedIdentity]bool, len(ms))
	for _, lm := range ms {
		si := stagedIdentity{lm.m.stage, lm.m.id}
		if reported[si] {
			continue
		}
		reported[si] = true
		lm.m.collect(c, ch)
	}

	for _, s := range cs {
		lv := []string{s.key.host, s.key.experiment, s.key.variant}
		if reported[stagedIdentity{StageInput, s.key.identity}] {
			emit(ch, c.inputDatapoints, prometheus.CounterValue, float64(s.rec.inputDatapoints.Load()), lv...)
			emit(ch, c.processingSeconds, prometheus.CounterValue, float64(s.rec.processingNanos.Load())/1e9, lv...)
		}
		if reported[stagedIdentity{StageOutput, s.key.identity}] {
			emit(ch, c.outputDatapoints, prometheus.CounterValue, float64(s.rec.outputDatapoints.Load()), lv...)
			emit(ch, c.outputBytes, prometheus.CounterValue, float64(s.rec.outputBytes.Load()), lv...)
		}
	}
}

// emit sends one sample. Label values are made valid UTF-8 where they are
// first stored, so an error here cannot happen with this package's
// descriptors; a sample that still fails is dropped rather than crashing the
// scrape.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, lv...)
	if err != nil {
		return
	}
	ch <- m
}
