package meterprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/phoenix/platform/collector/internal/proctest"
)

func TestHashAttrsIgnoresOrder(t *testing.T) {
	t.Parallel()
	a, b := pcommon.NewMap(), pcommon.NewMap()
	a.PutStr("x", "1")
	a.PutInt("y", 2)
	a.PutEmptyMap("z").PutBool("k", true)
	b.PutEmptyMap("z").PutBool("k", true)
	b.PutInt("y", 2)
	b.PutStr("x", "1")
	var h hasher
	require.Equal(t, h.attrs(a), h.attrs(b))
}

func TestHashAttrsTellsMapsApart(t *testing.T) {
	t.Parallel()
	maps := map[string]func(m pcommon.Map){
		"empty":        func(pcommon.Map) {},
		"str":          func(m pcommon.Map) { m.PutStr("a", "1") },
		"int":          func(m pcommon.Map) { m.PutInt("a", 1) },
		"double":       func(m pcommon.Map) { m.PutDouble("a", 1) },
		"bool":         func(m pcommon.Map) { m.PutBool("a", true) },
		"false":        func(m pcommon.Map) { m.PutBool("a", false) },
		"bytes":        func(m pcommon.Map) { m.PutEmptyBytes("a").FromRaw([]byte("1")) },
		"other key":    func(m pcommon.Map) { m.PutStr("b", "1") },
		"swapped":      func(m pcommon.Map) { m.PutStr("1", "a") },
		"two":          func(m pcommon.Map) { m.PutStr("a", "1"); m.PutStr("b", "") },
		"slice 1,2":    func(m pcommon.Map) { m.PutEmptySlice("a").FromRaw([]any{int64(1), int64(2)}) },
		"slice 2,1":    func(m pcommon.Map) { m.PutEmptySlice("a").FromRaw([]any{int64(2), int64(1)}) },
		"map":          func(m pcommon.Map) { m.PutEmptyMap("a").PutStr("1", "") },
		"empty value":  func(m pcommon.Map) { m.PutEmpty("a") },
		"empty map":    func(m pcommon.Map) { m.PutEmptyMap("a") },
		"empty slice":  func(m pcommon.Map) { m.PutEmptySlice("a") },
		"nested slice": func(m pcommon.Map) { m.PutEmptySlice("a").AppendEmpty().SetEmptySlice() },
	}
	seen := make(map[uint64]string)
	for name, build := range maps {
		m := pcommon.NewMap()
		build(m)
		var hs hasher
		h := hs.attrs(m)
		prev, dup := seen[h]
		require.False(t, dup, "%s and %s hash alike", name, prev)
		seen[h] = name
	}
}

func TestSeriesOfABatchAreDistinct(t *testing.T) {
	t.Parallel()
	md := proctest.Metrics(proctest.Processes("host-a", 1000), ts)
	m, err := newMeter(&Config{Stage: StageOutput, Variant: "x", Host: "h", ActiveWindow: time.Minute},
		newMeterCollector(), time.Now, consumertest.NewNop(), nil)
	require.NoError(t, err)
	w := newWalk()
	m.walk(md, w, nil)
	require.Equal(t, 1, w.n)
	set := make(map[uint64]struct{})
	for _, h := range w.batches[0].hashes {
		set[h] = struct{}{}
	}
	require.Len(t, set, 7000)
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	md := proctest.Metrics(proctest.Processes("host-a", 200), ts)
	for _, stage := range []Stage{StageInput, StageOutput} {
		t.Run(string(stage), func(t *testing.T) {
			m, err := newMeter(&Config{Stage: stage, Variant: "x", Host: "h", ActiveWindow: time.Minute, CriticalExecutables: criticalRegexps},
				newMeterCollector(), time.Now, consumertest.NewNop(), nil)
			require.NoError(t, err)
			st := &callState{expected: make(map[procKey]struct{}), names: make(map[uint64]struct{})}
			if stage == StageOutput {
				st.expected[procKey{host: "host-a", pid: 1000, name: "nginx"}] = struct{}{}
				st.names[hashString("nginx")] = struct{}{}
				st.present = make(map[procKey]struct{})
			}
			w := newWalk()
			run := func() {
				m.walk(md, w, st)
				m.learn(w.misses)
				m.commit(w, 1)
				w.reset()
			}
			run() // warm up: batch buffers, name cache, series maps
			require.Zero(t, testing.AllocsPerRun(20, run))
		})
	}
}
