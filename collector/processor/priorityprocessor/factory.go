package priorityprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
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

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newPrioritizer(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
