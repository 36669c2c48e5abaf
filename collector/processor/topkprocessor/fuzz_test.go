package topkprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

// fuzzSeeds returns marshaled batches: a realistic scrape and odd shapes.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	add := func(md pmetric.Metrics) {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	add(proctest.Metrics(proctest.Processes("host-a", 30), firstScrape))

	odd := pmetric.NewMetrics()
	for _, attrs := range []map[string]any{
		{proc.AttrPID: "12", proc.AttrOwner: 0, proc.AttrPriority: "critical"},
		{proc.AttrPID: true, proc.AttrExecutableName: 3, proc.AttrHostName: 1.5},
		{proc.AttrExecutableName: "x", proc.AttrPriority: 9},
		{proc.AttrHostName: "h"},
		{},
	} {
		rm := odd.ResourceMetrics().AppendEmpty()
		_ = rm.Resource().Attributes().FromRaw(attrs)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		cpu := ms.AppendEmpty()
		cpu.SetName(proc.MetricCPUTime)
		dp := cpu.SetEmptySum().DataPoints().AppendEmpty()
		dp.SetDoubleValue(-3)
		dp.SetStartTimestamp(firstScrape + 5)
		dp.SetTimestamp(firstScrape)
		mem := ms.AppendEmpty()
		mem.SetName(proc.MetricMemoryUsage)
		mem.SetEmptyGauge().DataPoints().AppendEmpty()
		h := ms.AppendEmpty()
		h.SetName(proc.MetricMemoryUsage)
		h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(2)
		ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	}
	add(odd)
	add(pmetric.NewMetrics())
	return out
}

func FuzzProcess(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, uint8(1), false)
	}
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, k uint8, mark bool) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		margin := int(k % 3)
		c := &Config{K: int(k%5) + 1, ExitMargin: &margin, StateTTL: time.Minute, RankBy: RankCPU}
		if mark {
			c.Action = ActionMark
		}
		if k%2 == 1 {
			c.RankBy = RankMemory
		}
		p, err := newTopK(c)
		if err != nil {
			t.Fatal(err)
		}
		again := pmetric.NewMetrics()
		md.CopyTo(again)
		in := md.ResourceMetrics().Len()
		nonProcess := 0
		for i := 0; i < in; i++ {
			if !proc.IsProcess(md.ResourceMetrics().At(i).Resource()) {
				nonProcess++
			}
		}
		for _, batch := range []pmetric.Metrics{md, again} {
			out, err := p.processMetrics(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			n := out.ResourceMetrics().Len()
			if n > in || n < nonProcess {
				t.Fatalf("%d resources in, %d non-process, %d out", in, nonProcess, n)
			}
			if mark && n != in {
				t.Fatalf("mark mode dropped resources: %d in, %d out", in, n)
			}
		}
	})
}
