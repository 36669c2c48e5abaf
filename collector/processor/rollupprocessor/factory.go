package rollupprocessor

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/internal/metricsproc"
	"github.com/phoenix/platform/collector/measure"
)

// TypeStr is the component type of the processor in collector configs.
const TypeStr = "phoenix_rollup"

// Type is the component type of the processor.
var Type = component.MustNewType(TypeStr)

// Settings carries the dependencies of the processors a factory creates.
type Settings struct {
	// Registerer receives the phoenix_rollup_* counters. Nil means the
	// counters are kept but not exported.
	Registerer prometheus.Registerer
}

// NewFactory returns the factory of the phoenix_rollup processor; its
// counters go to the registry of package measure.
func NewFactory() processor.Factory {
	return NewFactoryWithSettings(Settings{Registerer: measure.Default()})
}

// NewFactoryWithSettings returns the factory of the phoenix_rollup processor
// with the given dependencies.
func NewFactoryWithSettings(s Settings) processor.Factory {
	return processor.NewFactory(
		Type,
		createDefaultConfig,
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			return createMetrics(ctx, set, cfg, next, s)
		}, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		GroupBy:      DefaultGroupBy,
		KeepPriority: DefaultKeepPriority,
		StateTTL:     DefaultStateTTL,
	}
}

// createMetrics builds the processor. It implements processor.Metrics itself
// (metricsproc.Processor) rather than through processorhelper, whose cost per
// batch was a large share of the fold's.
func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics, s Settings) (processor.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("create %s processor: unexpected config type %T", TypeStr, cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("create %s processor: %w", TypeStr, err)
	}
	cnt, err := newCounters(s.Registerer, set.ID.String())
	if err != nil {
		return nil, fmt.Errorf("create %s processor: %w", TypeStr, err)
	}
	p := newRollup(*c, cnt)
	mp, err := metricsproc.New(set, next, p.processMetrics)
	if err != nil {
		return nil, fmt.Errorf("create %s processor: %w", TypeStr, err)
	}
	mp.ShutdownFunc = p.shutdown
	return mp, nil
}

// Reasons of phoenix_rollup_dropped_datapoints_total.
const (
	// ReasonUnsupportedType counts histogram, exponential histogram and
	// summary points of folded processes: they cannot be summed and are
	// dropped from the fold.
	ReasonUnsupportedType = "unsupported_type"
	// ReasonInvalidValue counts points without a value, with the
	// no-recorded-value flag, or (cumulative counters) with a negative or
	// non-finite value or a timestamp older than the process's previous one.
	ReasonInvalidValue = "invalid_value"
	// ReasonSeriesLimit counts points whose group reached MaxStatePerGroup.
	ReasonSeriesLimit = "series_limit"
)

// counters are the processor's own measurements, one child per processor id.
type counters struct {
	folded      prometheus.Counter
	unsupported prometheus.Counter
	invalid     prometheus.Counter
	limit       prometheus.Counter
}

func newCounters(reg prometheus.Registerer, id string) (counters, error) {
	folded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phoenix_rollup_folded_processes_total",
		Help: "Process resources folded into group series by phoenix_rollup.",
	}, []string{"processor"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phoenix_rollup_dropped_datapoints_total",
		Help: "Data points of folded processes that phoenix_rollup could not fold, by reason.",
	}, []string{"processor", "reason"})
	var err error
	if folded, err = register(reg, folded); err != nil {
		return counters{}, err
	}
	if dropped, err = register(reg, dropped); err != nil {
		return counters{}, err
	}
	return counters{
		folded:      folded.WithLabelValues(id),
		unsupported: dropped.WithLabelValues(id, ReasonUnsupportedType),
		invalid:     dropped.WithLabelValues(id, ReasonInvalidValue),
		limit:       dropped.WithLabelValues(id, ReasonSeriesLimit),
	}, nil
}

// register registers c, or returns the collector already registered under
// the same name so that several factories can share one registry.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("register counters: %w", err)
}
