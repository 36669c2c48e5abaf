package priorityprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/internal/metricsproc"
)

// Type is the component type of the processor in collector configurations.
var Type = component.MustNewType("phoenix_priority")

// NewFactory returns the factory of the phoenix_priority processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, component.StabilityLevelDevelopment),
	)
}

// createDefaultConfig returns a configuration without rules that classifies
// every process as low and overwrites existing classes.
func createDefaultConfig() component.Config {
	return &Config{
		DefaultPriority: "low",
		Overwrite:       true,
	}
}

// createMetrics builds the processor. It implements processor.Metrics itself
// (metricsproc.Processor) rather than through processorhelper, whose cost per
// batch exceeded the classification's.
func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newPrioritizer(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	mp, err := metricsproc.New(set, next, p.processMetrics)
	if err != nil {
		return nil, err
	}
	return mp, nil
}
