package benchside

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
)

// TestWarmCountsInput checks that the per data point figures are divided by
// the points a side is given, not by those it leaves: a side that drops
// everything must not look slower per point than one that keeps everything.
func TestWarmCountsInput(t *testing.T) {
	typ := component.MustNewType("drop_all")
	dropAll := func(tb *testing.B) processor.Metrics {
		p, err := processorhelper.NewMetrics(context.Background(), processortest.NewNopSettings(typ), nil, consumertest.NewNop(),
			func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
				md.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { return true })
				return md, nil
			}, processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
		require.NoError(tb, err)
		return p
	}
	source := func() func() pmetric.Metrics {
		return func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
			for range 7 {
				dps.AppendEmpty().SetIntValue(1)
			}
			return md
		}
	}
	var got int
	testing.Benchmark(func(b *testing.B) {
		_, _, got = warm(b, dropAll, source)
	})
	require.Equal(t, 7, got)
}
