package telemetry

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix/platform/internal/version"
)

// ExperimentCollectTimeout bounds the call of the experiment counter at each
// scrape.
const ExperimentCollectTimeout = 2 * time.Second

// DurationBuckets are the bounds, in seconds, of the request duration
// histogram: from half a millisecond (a cached read) to ten seconds.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ExperimentCounter returns how many experiments are in each state, e.g.
// {"running": 2, "draft": 5}. It is called at scrape time with a context
// bounded by [ExperimentCollectTimeout], possibly concurrently.
type ExperimentCounter func(ctx context.Context) (map[string]int, error)

// Metrics are Phoenix's own Prometheus metrics:
//
//   - phoenix_http_requests_total{route,method,code}
//   - phoenix_http_request_duration_seconds{route,method} (histogram)
//   - phoenix_experiments{state}, read at scrape time from the
//     [ExperimentCounter] given to [Metrics.SetExperimentCounter]
//   - phoenix_metrics_collect_errors_total, the scrapes at which that counter
//     failed or timed out
//   - phoenix_build_info{version,goversion}, always 1
//
// Methods are safe for concurrent use. A nil *Metrics records nothing.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	collectErrors prometheus.Counter
	experiments   *experimentCollector
	buildInfo     prometheus.Collector
}

// NewMetrics creates Phoenix's metrics and registers them with reg; a nil reg
// registers nothing. It panics if reg already holds metrics of these names,
// which is a wiring mistake at start-up.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phoenix_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "phoenix_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
		collectErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_metrics_collect_errors_total",
			Help: "Scrapes at which a metric read from Phoenix's state failed or timed out.",
		}),
		buildInfo: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "phoenix_build_info",
			Help:        "Phoenix build, always 1.",
			ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	}
	m.experiments = &experimentCollector{
		desc:    prometheus.NewDesc("phoenix_experiments", "Experiments by state.", []string{"state"}, nil),
		errors:  m.collectErrors,
		timeout: ExperimentCollectTimeout,
		seen:    make(map[string]bool),
	}
	if reg != nil {
		// The experiment collector exposes collectErrors itself, after a
		// failed read has counted, so that one scrape reports its own
		// failure (collectors of one Gather run concurrently).
		reg.MustRegister(m.requests, m.duration, m.experiments, m.buildInfo)
	}
	return m
}

// SetExperimentCounter sets the function phoenix_experiments is read from;
// until it is set, or after it is set to nil, the gauge has no series.
func (m *Metrics) SetExperimentCounter(fn ExperimentCounter) {
	if m == nil {
		return
	}
	if fn == nil {
		m.experiments.fn.Store(nil)
		return
	}
	m.experiments.fn.Store(&fn)
}

// ObserveRequest records one served request. Methods other than the standard
// HTTP ones are recorded as "OTHER", so clients cannot create series at will.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	method = normalizeMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

func normalizeMethod(method string) string {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE":
		return method
	}
	return "OTHER"
}

// experimentCollector reads experiment counts at scrape time. States seen at
// an earlier scrape but absent now are reported as 0, so their series do not
// vanish.
type experimentCollector struct {
	desc    *prometheus.Desc
	errors  prometheus.Counter
	timeout time.Duration
	fn      atomic.Pointer[ExperimentCounter]

	mu   sync.Mutex
	seen map[string]bool
}

func (c *experimentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	c.errors.Describe(ch)
}

func (c *experimentCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	fn := c.fn.Load()
	if fn == nil {
		return
	}
	counts, ok := c.call(*fn)
	if !ok {
		c.errors.Inc()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for state := range counts {
		c.seen[state] = true
	}
	for state := range c.seen {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}

// call runs fn bounded by the timeout. A counter that ignores its context
// cannot hold up the scrape: it is abandoned and finishes on its own.
func (c *experimentCollector) call(fn ExperimentCounter) (map[string]int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type result struct {
		counts map[string]int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: errPanic}
			}
		}()
		counts, err := fn(ctx)
		done <- result{counts, err}
	}()
	select {
	case r := <-done:
		return r.counts, r.err == nil
	case <-ctx.Done():
		return nil, false
	}
}

var errPanic = errors.New("experiment counter panicked")
