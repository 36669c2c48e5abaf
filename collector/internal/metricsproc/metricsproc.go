// Package metricsproc is the processor.Metrics the Phoenix processors are
// built on: it runs a processing function and hands the result to the
// next consumer, recording the component telemetry processorhelper
// records, without processorhelper's cost per batch.
package metricsproc

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ProcessFunc processes one batch in place and returns what goes to the next
// consumer; it must not call the next consumer itself.
type ProcessFunc func(context.Context, pmetric.Metrics) (pmetric.Metrics, error)

// Processor is the processor.Metrics a Phoenix factory returns: it runs a
// ProcessFunc and hands the result to the next consumer, with the component
// telemetry of a processor built with processorhelper (see obsReport), but
// without processorhelper's cost per batch. processorhelper counts the data
// points of every batch twice, whether or not the counts are exported, and
// that walk over every metric of the batch cost as much as the processing
// itself.
type Processor struct {
	// StartFunc and ShutdownFunc implement component.Component; nil ones do
	// nothing.
	component.StartFunc
	component.ShutdownFunc

	process ProcessFunc
	next    consumer.Metrics
	obs     *obsReport
}

var _ processor.Metrics = (*Processor)(nil)

// New returns a processor running process for the component described by
// set. Its StartFunc and ShutdownFunc are nil; the caller sets them when
// there is work to do.
func New(set processor.Settings, next consumer.Metrics, process ProcessFunc) (*Processor, error) {
	obs, err := newObsReport(set)
	if err != nil {
		return nil, err
	}
	return &Processor{process: process, next: next, obs: obs}, nil
}

// Capabilities implements consumer.Metrics: batches are changed in place.
func (*Processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeMetrics processes md and passes the result to the next consumer.
func (m *Processor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	c := m.obs.begin(ctx, md)
	md, err := m.process(ctx, md)
	m.obs.end(ctx, &c, md, err)
	if err != nil {
		return err
	}
	return m.next.ConsumeMetrics(ctx, md)
}

// obsMeterName is the meter processorhelper records its measurements with;
// the collector's telemetry views select these instruments by it.
const obsMeterName = "go.opentelemetry.io/collector/processor/processorhelper"

// obsReport records what processorhelper records for each batch: the
// otelcol_processor_incoming_items and otelcol_processor_outgoing_items
// counters (data points) and the otelcol_processor_internal_duration
// histogram, with the same names, units, meter name and attributes
// (processor and otel.signal), and the "Start processing." and "End
// processing." events on the caller's span.
//
// Unlike processorhelper it counts data points only when the counters are
// enabled and times the processing only when the histogram is: Phoenix's
// composed collectors run with internal telemetry off (level none), where
// the counts would be thrown away, and the collector's default views drop the
// histogram below level detailed.
type obsReport struct {
	attrs     metric.MeasurementOption
	spanAttrs trace.EventOption
	incoming  metric.Int64Counter
	outgoing  metric.Int64Counter
	duration  metric.Float64Histogram
}

// obsCall is what obsReport.begin measured before the processing.
type obsCall struct {
	counting bool
	pointsIn int
	timing   bool
	start    time.Time
}

func newObsReport(set processor.Settings) (*obsReport, error) {
	meter := set.MeterProvider.Meter(obsMeterName)
	incoming, err := meter.Int64Counter("otelcol_processor_incoming_items",
		metric.WithDescription("Number of items passed to the processor. [Alpha]"),
		metric.WithUnit("{item}"))
	if err != nil {
		return nil, err
	}
	outgoing, err := meter.Int64Counter("otelcol_processor_outgoing_items",
		metric.WithDescription("Number of items emitted from the processor. [Alpha]"),
		metric.WithUnit("{item}"))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("otelcol_processor_internal_duration",
		metric.WithDescription("Duration of time taken to process a batch of telemetry data through the processor. [Alpha]"),
		metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	return &obsReport{
		attrs: metric.WithAttributeSet(attribute.NewSet(
			attribute.String("processor", set.ID.String()),
			attribute.String("otel.signal", pipeline.SignalMetrics.String()),
		)),
		spanAttrs: trace.WithAttributes(attribute.String("processor", set.ID.String())),
		incoming:  incoming,
		outgoing:  outgoing,
		duration:  duration,
	}, nil
}

// begin measures md before it is processed.
func (o *obsReport) begin(ctx context.Context, md pmetric.Metrics) obsCall {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("Start processing.", o.spanAttrs)
	}
	var c obsCall
	if c.counting = o.incoming.Enabled(ctx) || o.outgoing.Enabled(ctx); c.counting {
		c.pointsIn = md.DataPointCount()
	}
	if c.timing = o.duration.Enabled(ctx); c.timing {
		c.start = time.Now()
	}
	return c
}

// end records the measurements of one batch; md is the processed batch,
// ignored when err is not nil.
func (o *obsReport) end(ctx context.Context, c *obsCall, md pmetric.Metrics, err error) {
	if c.timing {
		o.duration.Record(ctx, time.Since(c.start).Seconds(), o.attrs)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("End processing.", o.spanAttrs)
	}
	if !c.counting {
		return
	}
	pointsOut := 0
	if err == nil {
		pointsOut = md.DataPointCount()
	}
	o.incoming.Add(ctx, int64(c.pointsIn), o.attrs)
	o.outgoing.Add(ctx, int64(pointsOut), o.attrs)
}
