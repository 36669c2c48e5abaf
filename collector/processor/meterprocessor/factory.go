package meterprocessor

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix/platform/collector/measure"
)

// TypeStr is the component type of the meter in collector configurations.
const TypeStr = "phoenix_meter"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the phoenix_meter factory publishing into
// measure.Default(). Every factory made for the same registry shares one
// collector, so counters continue across collector restarts in a process.
func NewFactory() processor.Factory { return NewFactoryWithRegisterer(measure.Default()) }

// NewFactoryWithRegisterer returns a phoenix_meter factory publishing into
// reg. A nil reg keeps the measurements unpublished. If reg already holds a
// phoenix_meter collector, the new factory shares it; if registration fails
// otherwise, creating a processor returns the error.
func NewFactoryWithRegisterer(reg prometheus.Registerer) processor.Factory {
	return newFactory(reg, time.Now)
}

type factory struct {
	col    *meterCollector
	regErr error
	now    func() time.Time
}

// newFactory is NewFactoryWithRegisterer with an injectable clock for the
// active window.
func newFactory(reg prometheus.Registerer, now func() time.Time) processor.Factory {
	col, err := collectorFor(reg)
	f := &factory{col: col, regErr: err, now: now}
	return processor.NewFactory(componentType, createDefaultConfig,
		processor.WithMetrics(f.createMetrics, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	return &Config{ActiveWindow: DefaultActiveWindow}
}

// createMetrics builds one stage. The meter implements processor.Metrics
// itself instead of through processorhelper: it has to run around its next
// consumer (processorhelper's processing functions may not call it), and it
// saves processorhelper's two data point counts per call on a path that runs
// for every variant.
func (f *factory) createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	if f.regErr != nil {
		return nil, f.regErr
	}
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("create %s: config is %T, want *meterprocessor.Config", TypeStr, cfg)
	}
	m, err := newMeter(c, f.col, f.now, next, set.Logger)
	if err != nil {
		return nil, err
	}
	return m, nil
}
