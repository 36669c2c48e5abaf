package rollupprocessor

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

func fuzzSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds []pmetric.Metrics
	// A small realistic batch: small seeds keep mutation and minimization fast.
	seeds = append(seeds, withPriorities(proctest.Metrics(proctest.Processes("host-a", 8), ts0), func(i int) proc.Priority {
		return []proc.Priority{proc.Critical, proc.High, proc.Low, proc.Unknown, proc.Low, proc.Medium, proc.Low, proc.Low}[i]
	}))

	odd := withPriorities(proctest.Metrics(proctest.Processes("", 8), ts0), func(i int) proc.Priority { return proc.Priority(i % 5) })
	rms := odd.ResourceMetrics()
	rms.At(0).Resource().Attributes().PutStr(proc.AttrPID, "not-a-pid")
	rms.At(1).Resource().Attributes().PutInt(proc.AttrOwner, 1000)
	rms.At(2).Resource().Attributes().PutStr(proc.AttrKeep, "false")
	rms.At(3).Resource().Attributes().PutBool(proc.AttrKeep, false)
	rms.At(4).Resource().Attributes().PutInt(proc.AttrExecutableName, 3)
	appendUnsupported(rms.At(5))
	rms.At(6).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).SetDoubleValue(math.NaN())
	rms.At(7).ScopeMetrics().At(0).Metrics().At(3).Sum().DataPoints().At(0).SetIntValue(-5)
	odd.ResourceMetrics().AppendEmpty()
	odd.ResourceMetrics().AppendEmpty().Resource().Attributes().PutInt(proc.AttrPID, 1)
	systemResource(odd, "h")
	seeds = append(seeds, odd, pmetric.NewMetrics())

	out := make([][]byte, 0, len(seeds))
	for _, md := range seeds {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		require.NoError(t, err)
		out = append(out, b)
	}
	return append(out, []byte{}, []byte{0x0a, 0x00}, []byte("not protobuf"))
}

// FuzzProcess pushes arbitrary decoded batches through the processor twice
// (the second time against the state the first left) and checks it never
// panics, never fails a batch, and never leaves process identity on a group.
func FuzzProcess(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	modes := []GroupBy{GroupByExecutable, GroupByPriority, GroupByOther}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &pmetric.ProtoUnmarshaler{}
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		cfg := Config{GroupBy: modes[len(data)%len(modes)], KeepPriority: proc.Priority(1 + len(data)%4), StateTTL: time.Minute}
		p := newDirect(t, cfg, nil)
		for round := 0; round < 2; round++ {
			if round == 1 {
				md, err = u.UnmarshalMetrics(data)
				require.NoError(t, err)
			}
			var kept []string
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				if ri := scan(md.ResourceMetrics().At(i).Resource()); !foldable(p, &ri) {
					kept = append(kept, marshalRM(t, md.ResourceMetrics().At(i)))
				}
			}
			out, err := p.processMetrics(context.Background(), md)
			require.NoError(t, err)
			// Kept resources come out untouched and in order; every other
			// resource is a group without process identity.
			rms := out.ResourceMetrics()
			next := 0
			for i := 0; i < rms.Len(); i++ {
				if next < len(kept) && marshalRM(t, rms.At(i)) == kept[next] {
					next++
					continue
				}
				res := rms.At(i).Resource()
				require.False(t, proc.IsProcess(res), "group resource with process identity")
				_, ok := res.Attributes().Get(proc.AttrGroup)
				require.True(t, ok, "a resource that is neither kept nor a group")
			}
			require.Equal(t, len(kept), next, "kept resources lost or changed")
		}
		require.NoError(t, p.shutdown(context.Background()))
	})
}

func foldable(p *rollup, ri *resInfo) bool {
	_, ok := p.groupOf(ri)
	return ok
}
