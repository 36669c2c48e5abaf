// Package capture is an exporter that hands every batch it receives to a Go
// consumer, so tests can run the real collector and look at what each
// pipeline would have sent.
package capture

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Type is the component type of the capture exporter.
var Type = component.MustNewType("capture")

// Config selects the consumer by name from the factory's table.
type Config struct {
	// Sink is the name of the consumer registered with NewFactory.
	Sink string `mapstructure:"sink"`
}

// NewFactory returns a capture exporter factory; an exporter configured with
// `sink: NAME` delivers its metrics to sinks[NAME].
func NewFactory(sinks map[string]consumer.Metrics) exporter.Factory {
	return exporter.NewFactory(Type,
		func() component.Config { return &Config{} },
		exporter.WithMetrics(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
			next := sinks[cfg.(*Config).Sink]
			return exporterhelper.NewMetrics(ctx, set, cfg, func(ctx context.Context, md pmetric.Metrics) error {
				if next == nil {
					return nil
				}
				return next.ConsumeMetrics(ctx, md)
			})
		}, component.StabilityLevelDevelopment))
}
