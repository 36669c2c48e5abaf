package metricsproc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/goleak"

	"github.com/phoenix/platform/collector/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testType = component.MustNewType("phoenix_test")

// dropEveryOther removes every other resource, so that fewer points go
// out than come in.
func dropEveryOther(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	i := 0
	md.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { i++; return i%2 == 0 })
	return md, nil
}

// TestTelemetryMatchesProcessorhelper checks that Processor records the
// component telemetry that processorhelper records for the same
// processing: the item counters with their values, the duration histogram
// (its values aside) and the span events.
func TestTelemetryMatchesProcessorhelper(t *testing.T) {
	t.Parallel()
	batches := func() []pmetric.Metrics {
		return []pmetric.Metrics{
			proctest.Metrics(proctest.Processes("host-a", 40), 1e9),
			proctest.Metrics(proctest.Processes("host-a", 30), 2e9),
		}
	}
	want := consumeWithTelemetry(t, batches(), func(set processor.Settings, sink *consumertest.MetricsSink) processor.Metrics {
		hp, err := processorhelper.NewMetrics(context.Background(), set, struct{}{}, sink, dropEveryOther)
		require.NoError(t, err)
		return hp
	})
	got := consumeWithTelemetry(t, batches(), func(set processor.Settings, sink *consumertest.MetricsSink) processor.Metrics {
		p, err := New(set, sink, dropEveryOther)
		require.NoError(t, err)
		return p
	})
	require.Equal(t, want.out, got.out)
	require.Equal(t, want.scope, got.scope)
	require.Equal(t, want.events, got.events)
	require.Len(t, got.events, 2*len(batches()), "start and end of every batch")
	require.Len(t, got.metrics, 3)
	for i := range want.metrics {
		opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
		if _, ok := want.metrics[i].Data.(metricdata.Histogram[float64]); ok {
			opts = append(opts, metricdatatest.IgnoreValue())
		}
		metricdatatest.AssertEqual(t, want.metrics[i], got.metrics[i], opts...)
	}
}

func TestProcessingErrorStopsTheBatch(t *testing.T) {
	t.Parallel()
	sink := new(consumertest.MetricsSink)
	boom := errors.New("boom")
	p, err := New(processortest.NewNopSettings(testType), sink, func(context.Context, pmetric.Metrics) (pmetric.Metrics, error) {
		return pmetric.NewMetrics(), boom
	})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.ErrorIs(t, p.ConsumeMetrics(context.Background(), proctest.Metrics(proctest.Processes("h", 2), 1e9)), boom)
	require.Empty(t, sink.AllMetrics())
	require.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Shutdown(context.Background()))
}

// recorded is what consumeWithTelemetry observed.
type recorded struct {
	out     []pmetric.Metrics
	scope   string
	metrics []metricdata.Metrics // sorted by name
	events  []string             // "name processor=id" of every span event
}

// consumeWithTelemetry pushes batches, each inside a span, through the
// processor that build makes with recording telemetry settings.
func consumeWithTelemetry(t *testing.T, batches []pmetric.Metrics, build func(processor.Settings, *consumertest.MetricsSink) processor.Metrics) recorded {
	t.Helper()
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })
	set := processortest.NewNopSettings(testType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.MetricsSink)
	p := build(set, sink)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	for _, md := range batches {
		spanCtx, span := set.TracerProvider.Tracer("test").Start(ctx, "batch")
		require.NoError(t, p.ConsumeMetrics(spanCtx, md))
		span.End()
	}
	require.NoError(t, p.Shutdown(ctx))

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.Reader.Collect(ctx, &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	r := recorded{out: sink.AllMetrics(), scope: rm.ScopeMetrics[0].Scope.Name, metrics: rm.ScopeMetrics[0].Metrics}
	slices.SortFunc(r.metrics, func(a, b metricdata.Metrics) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range tel.SpanRecorder.Ended() {
		for _, e := range s.Events() {
			ev := e.Name
			for _, a := range e.Attributes {
				ev += " " + string(a.Key) + "=" + a.Value.String()
			}
			r.events = append(r.events, ev)
		}
	}
	return r
}
