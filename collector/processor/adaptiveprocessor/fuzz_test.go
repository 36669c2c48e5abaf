package adaptiveprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

func FuzzProcess(f *testing.F) {
	seed := func(md pmetric.Metrics) {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(hostBatch("host-a", 30, 0))
	seed(merge(tableBatch("h", tableProcs, 0), systemResource("h")))
	odd := pmetric.NewMetrics()
	odd.ResourceMetrics().AppendEmpty()
	rm := odd.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr(proc.AttrPID, "not-a-number")
	rm.Resource().Attributes().PutInt(proc.AttrPriority, 9)
	rm.Resource().Attributes().PutInt(proc.AttrHostName, 3)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(proc.MetricCPUTime)
	m.SetEmptySum().DataPoints().AppendEmpty().SetDoubleValue(-1)
	seed(odd)
	nan := proctest.Metrics(proctest.Processes("h", 3), t0)
	nan.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).SetDoubleValue(1e308)
	seed(nan)
	seed(merge(hostBatch("a\xff", 2, 0), hostBatch("a\xfe", 2, 0)))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})

	cfg := createDefaultConfig()
	cfg.Modes[1].Enter = Thresholds{ProcessCount: 2, CPUPercent: 50}
	cfg.Modes[1].Exit = Thresholds{ProcessCount: 1, CPUPercent: 10}
	cfg.Modes[1].TopK = 1
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		if err != nil {
			t.Skip()
		}
		p, err := newProcessor(component.NewID(Type), cfg, newTelemetry())
		if err != nil {
			t.Fatal(err)
		}
		p.tel.add(p)
		for i := 0; i < 2; i++ { // twice: the second batch sees CPU rates
			cp := pmetric.NewMetrics()
			md.CopyTo(cp)
			if _, err := p.processMetrics(context.Background(), cp); err != nil {
				t.Fatal(err)
			}
		}
		reg := newRegistry()
		if err := reg.Register(p.tel); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	})
}
