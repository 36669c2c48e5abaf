package topkprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/internal/metricsproc"
)

// Type is the component type of the processor in collector configurations.
var Type = component.MustNewType("phoenix_topk")

// Defaults of the configuration.
const (
	// DefaultK is the default k.
	DefaultK = 20
	// DefaultStateTTL is the default state_ttl.
	DefaultStateTTL = 5 * time.Minute
)

// NewFactory returns the factory of the phoenix_topk processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, component.StabilityLevelDevelopment),
	)
}

// createDefaultConfig keeps the top 20 processes by CPU per host plus every
// critical process, drops the rest, uses the derived exit margin (5 for
// k = 20) and forgets processes unseen for five minutes.
func createDefaultConfig() component.Config {
	return &Config{
		K:          DefaultK,
		RankBy:     RankCPU,
		AlwaysKeep: "critical",
		Action:     ActionDrop,
		StateTTL:   DefaultStateTTL,
	}
}

// createMetrics builds the processor. It implements processor.Metrics itself
// (metricsproc.Processor) rather than through processorhelper, whose cost per
// batch was a large share of the ranking's.
func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newTopK(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	mp, err := metricsproc.New(set, next, p.processMetrics)
	if err != nil {
		return nil, err
	}
	return mp, nil
}
