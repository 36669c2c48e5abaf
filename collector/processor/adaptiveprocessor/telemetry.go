package adaptiveprocessor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the metrics the processor publishes.
const (
	// MetricMode is a gauge per host, mode and pipeline: 1 for the host's
	// current mode, 0 for the others.
	MetricMode = "phoenix_adaptive_mode"
	// MetricTransitions counts mode changes per host, from, to and pipeline.
	MetricTransitions = "phoenix_adaptive_transitions_total"
)

// telemetry is a prometheus.Collector that reports the state of the live
// processor instances. One is registered per registry and shared by every
// instance created against it, so that any number of instances, and
// instances restarted under the same component ID, register nothing twice.
type telemetry struct {
	modeDesc  *prometheus.Desc
	transDesc *prometheus.Desc

	mu   sync.Mutex
	live []*adaptiveProcessor // in Start order
}

var _ prometheus.Collector = (*telemetry)(nil)

func newTelemetry() *telemetry {
	return &telemetry{
		modeDesc: prometheus.NewDesc(MetricMode,
			"Current filtering mode of a host in a phoenix_adaptive processor: 1 for the current mode, 0 for the others.",
			[]string{"host", "mode", "pipeline"}, nil),
		transDesc: prometheus.NewDesc(MetricTransitions,
			"Mode changes of a host in a phoenix_adaptive processor.",
			[]string{"host", "from", "to", "pipeline"}, nil),
	}
}

// telemetryFor registers a telemetry collector in reg, or returns the one
// already registered there. A nil reg means no metrics.
func telemetryFor(reg prometheus.Registerer) (*telemetry, error) {
	if reg == nil {
		return nil, nil
	}
	t := newTelemetry()
	if err := reg.Register(t); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*telemetry); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("register %s metrics: %w", Type, err)
	}
	return t, nil
}

func (t *telemetry) add(p *adaptiveProcessor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.live, p) {
		t.live = append(t.live, p)
	}
}

func (t *telemetry) remove(p *adaptiveProcessor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live = slices.DeleteFunc(t.live, func(q *adaptiveProcessor) bool { return q == p })
}

// Describe implements prometheus.Collector.
func (t *telemetry) Describe(ch chan<- *prometheus.Desc) {
	ch <- t.modeDesc
	ch <- t.transDesc
}

// Collect implements prometheus.Collector. When two live instances report
// the same label set (one component ID used in two pipelines), the mode of
// the instance started first wins and transitions are added up.
func (t *telemetry) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	live := slices.Clone(t.live)
	t.mu.Unlock()

	modes := make(map[[3]string]bool)
	var modeOrder [][3]string
	trans := make(map[[4]string]uint64)
	var transOrder [][4]string
	for _, p := range live {
		p.snapshot(func(host, mode string, current bool) {
			k := [3]string{label(host), label(mode), label(p.pipeline)}
			if _, dup := modes[k]; dup {
				return
			}
			modes[k] = current
			modeOrder = append(modeOrder, k)
		}, func(host, from, to string, n uint64) {
			k := [4]string{label(host), label(from), label(to), label(p.pipeline)}
			if _, ok := trans[k]; !ok {
				transOrder = append(transOrder, k)
			}
			trans[k] += n
		})
	}
	for _, k := range modeOrder {
		v := 0.0
		if modes[k] {
			v = 1
		}
		emit(ch, t.modeDesc, prometheus.GaugeValue, v, k[:]...)
	}
	for _, k := range transOrder {
		emit(ch, t.transDesc, prometheus.CounterValue, float64(trans[k]), k[:]...)
	}
}

// emit sends one sample; a sample that cannot be built is left out rather
// than failing the whole scrape.
func emit(ch chan<- prometheus.Metric, desc *prometheus.Desc, vt prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(desc, vt, v, labels...); err == nil {
		ch <- m
	}
}

// label repairs a label value that is not valid UTF-8 (host names come from
// pipeline data).
func label(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// snapshot reports every live host's modes and transition counts. Hosts not
// seen for longer than the state TTL report no mode.
func (p *adaptiveProcessor) snapshot(mode func(host, mode string, current bool), trans func(host, from, to string, n uint64)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, hs := range p.hosts {
		if now.Sub(hs.lastSeen) <= p.ttl {
			for i := range p.modes {
				mode(hs.name, p.modes[i].name, i == hs.mode)
			}
		}
		for _, tr := range hs.transitions {
			trans(hs.name, p.modes[tr.from].name, p.modes[tr.to].name, tr.n)
		}
	}
}
