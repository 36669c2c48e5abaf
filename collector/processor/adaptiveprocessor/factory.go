package adaptiveprocessor

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/internal/metricsproc"
	"github.com/phoenix/platform/collector/measure"
)

// Type is the component type of the processor in collector configurations.
var Type = component.MustNewType("phoenix_adaptive")

// NewFactory returns the phoenix_adaptive processor factory, publishing its
// metrics in measure.Default().
func NewFactory() processor.Factory {
	return NewFactoryWithRegisterer(measure.Default())
}

// NewFactoryWithRegisterer returns the phoenix_adaptive processor factory
// publishing its metrics (MetricMode, MetricTransitions) in reg; nil
// publishes none. Any number of factories and processor instances may share
// one registerer.
func NewFactoryWithRegisterer(reg prometheus.Registerer) processor.Factory {
	f := &factory{reg: reg}
	return processor.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithMetrics(f.createMetrics, component.StabilityLevelDevelopment))
}

type factory struct {
	reg prometheus.Registerer
}

// createMetrics builds the processor. It implements processor.Metrics itself
// (metricsproc.Processor) rather than through processorhelper, whose cost per
// batch was a large share of the processing's.
func (f *factory) createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("create %s processor: config is %T, want *Config", Type, cfg)
	}
	tel, err := telemetryFor(f.reg)
	if err != nil {
		return nil, fmt.Errorf("create %s processor: %w", Type, err)
	}
	p, err := newProcessor(set.ID, c, tel)
	if err != nil {
		return nil, fmt.Errorf("create %s processor: %w", Type, err)
	}
	mp, err := metricsproc.New(set, next, p.processMetrics)
	if err != nil {
		return nil, fmt.Errorf("create %s processor: %w", Type, err)
	}
	mp.StartFunc = p.start
	mp.ShutdownFunc = p.shutdown
	return mp, nil
}
