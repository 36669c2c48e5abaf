package priorityprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

func FuzzProcess(f *testing.F) {
	add := func(md pmetric.Metrics) {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(proctest.Metrics(proctest.Processes("host-a", 30), ts))
	odd := pmetric.NewMetrics()
	for _, attrs := range []map[string]any{
		{proc.AttrPID: "12", proc.AttrOwner: 0, proc.AttrPriority: 4},
		{proc.AttrPID: true, proc.AttrExecutableName: 3, proc.AttrCommandLine: []any{"a", 1}},
		{proc.AttrExecutableName: "nginx", proc.AttrPriority: "low"},
		{proc.AttrHostName: "h"},
		{},
	} {
		rm := odd.ResourceMetrics().AppendEmpty()
		_ = rm.Resource().Attributes().FromRaw(attrs)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(1)
		ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	}
	add(odd)
	add(pmetric.NewMetrics())
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})

	p, err := newPrioritizer(rulesCfg)
	if err != nil {
		f.Fatal(err)
	}
	p.maxMemo = 8 // exercise the reset path too
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		in := md.ResourceMetrics().Len()
		out, err := p.processMetrics(context.Background(), md)
		if err != nil {
			t.Fatal(err)
		}
		if out.ResourceMetrics().Len() != in {
			t.Fatalf("%d resources in, %d out", in, out.ResourceMetrics().Len())
		}
		for i := 0; i < in; i++ {
			res := out.ResourceMetrics().At(i).Resource()
			if proc.IsProcess(res) && proc.PriorityOf(res) == proc.Unknown {
				t.Fatalf("process resource %d left without a valid priority: %v", i, res.Attributes().AsRaw())
			}
		}
	})
}
