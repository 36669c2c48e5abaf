package meterprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

func marshal(tb testing.TB, md pmetric.Metrics) []byte {
	tb.Helper()
	b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(tb, err)
	return b
}

// sum adds up the figures of one measurement over all label sets.
func sum(fs map[string]float64, name string) float64 {
	var total float64
	for _, v := range withPrefix(fs, name+"{") {
		total += v
	}
	return total
}

func FuzzProcess(f *testing.F) {
	f.Add(marshal(f, proctest.Metrics(proctest.Processes("host-a", 20), ts)))
	f.Add([]byte{})
	odd := pmetric.NewMetrics()
	rm := odd.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr(proc.AttrPID, "not a pid")
	rm.Resource().Attributes().PutInt(proc.AttrExecutableName, 3)
	rm.Resource().Attributes().PutEmptyMap("nested").PutEmptySlice("s").AppendEmpty().SetStr("x")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ms.AppendEmpty().SetName("empty")
	h := ms.AppendEmpty()
	h.SetName("h")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutBool("b", true)
	s := ms.AppendEmpty()
	s.SetName("s")
	s.SetEmptySummary().DataPoints().AppendEmpty()
	e := ms.AppendEmpty()
	e.SetName("e")
	e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	odd.ResourceMetrics().AppendEmpty()
	f.Add(marshal(f, odd))

	reg := prometheus.NewRegistry()
	sink := new(consumertest.MetricsSink)
	chain := chainProcessor(f, dropNames("postgres", "worker-7"))
	p := newPair(f, newFactory(reg, time.Now), "fuzz", "candidate", chain, sink)

	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		if err != nil {
			return
		}
		in := md.DataPointCount()
		before := figures(t, reg)
		sink.Reset()
		require.NoError(t, p.in.ConsumeMetrics(context.Background(), md))
		after := figures(t, reg)

		require.Equal(t, float64(in), sum(after, MetricInputDatapoints)-sum(before, MetricInputDatapoints))
		var outDPs, outBytes int
		for _, sent := range sink.AllMetrics() {
			outDPs += sent.DataPointCount()
			outBytes += (&pmetric.ProtoMarshaler{}).MetricsSize(sent)
		}
		require.Equal(t, float64(outDPs), sum(after, MetricOutputDatapoints)-sum(before, MetricOutputDatapoints))
		require.Equal(t, float64(outBytes), sum(after, MetricOutputBytes)-sum(before, MetricOutputBytes))
	})
}
