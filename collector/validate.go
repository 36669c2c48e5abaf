package collector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
)

// ValidationComponents returns the distribution's factories for validating
// configs while other collectors run in the same process. Receivers are
// built as no-ops: their configs are still unmarshalled and validated, but
// no receiver is constructed, because building the hostmetrics receiver
// writes process-wide gopsutil settings that running scrapers read.
func ValidationComponents() (otelcol.Factories, error) {
	f, err := Components()
	if err != nil {
		return f, err
	}
	return ValidationFactories(f), nil
}

// ValidationFactories returns f with every receiver built as a no-op, its
// configuration still decoded and validated, for validating configs of a
// custom set of components the way ValidationComponents does for the
// distribution. f's receiver map is not modified.
func ValidationFactories(f otelcol.Factories) otelcol.Factories {
	rs := make(map[component.Type]receiver.Factory, len(f.Receivers))
	for typ, rf := range f.Receivers {
		rs[typ] = validationReceiver(typ, rf)
	}
	f.Receivers = rs
	return f
}

// validationReceiver keeps the key the factory is registered under as its
// type: the map holds deprecated aliases (hostmetrics for host_metrics).
func validationReceiver(typ component.Type, rf receiver.Factory) receiver.Factory {
	return receiver.NewFactory(typ, rf.CreateDefaultConfig,
		receiver.WithMetrics(func(context.Context, receiver.Settings, component.Config, consumer.Metrics) (receiver.Metrics, error) {
			return nopReceiver{}, nil
		}, rf.MetricsStability()),
		receiver.WithTraces(func(context.Context, receiver.Settings, component.Config, consumer.Traces) (receiver.Traces, error) {
			return nopReceiver{}, nil
		}, rf.TracesStability()),
		receiver.WithLogs(func(context.Context, receiver.Settings, component.Config, consumer.Logs) (receiver.Logs, error) {
			return nopReceiver{}, nil
		}, rf.LogsStability()),
	)
}

type nopReceiver struct{}

func (nopReceiver) Start(context.Context, component.Host) error { return nil }
func (nopReceiver) Shutdown(context.Context) error              { return nil }
