package priorityprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix/platform/collector/internal/proc"
	"github.com/phoenix/platform/collector/internal/proctest"
)

const ts = pcommon.Timestamp(1_700_000_100_000_000_000)

// newTestProcessor builds the processor through its factory, started, with a
// sink behind it.
func newTestProcessor(t *testing.T, cfg *Config) (processor.Metrics, *consumertest.MetricsSink) {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink
}

// run pushes md through a fresh processor and returns what reached the sink.
func run(t *testing.T, cfg *Config, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	p, sink := newTestProcessor(t, cfg)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Len(t, sink.AllMetrics(), 1)
	return sink.AllMetrics()[0]
}

// priorities returns the phoenix.priority of every resource, "-" when absent.
func priorities(md pmetric.Metrics) []string {
	var out []string
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		v, ok := rms.At(i).Resource().Attributes().Get(proc.AttrPriority)
		if !ok {
			out = append(out, "-")
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

func process(name, cmd, owner string) proctest.Process {
	return proctest.Process{PID: 42, Name: name, CommandLine: cmd, Owner: owner, CPUSeconds: 1, RSS: 1 << 20, Start: 1}
}

func batch(ps ...proctest.Process) pmetric.Metrics { return proctest.Metrics(ps, ts) }

// appendSystemCPU appends a resource shaped like the cpu scraper's output:
// no process attributes, only host.name.
func appendSystemCPU(md pmetric.Metrics) pmetric.ResourceMetrics {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr(proc.AttrHostName, "host-a")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	dp := m.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetDoubleValue(12.5)
	dp.Attributes().PutStr("state", "user")
	return rm
}

var rulesCfg = &Config{
	Rules: []Rule{
		{Priority: "critical", Executable: "^(nginx|postgres|java)$"},
		{Priority: "high", Executable: "^python3?$", CommandLine: `manage\.py runserver`},
		{Priority: "medium", Owner: "^(www-data|0)$"},
		{Priority: "low", Executable: "^nginx-helper$"},
	},
	DefaultPriority: "low",
	Overwrite:       true,
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   proctest.Process
		want string
	}{
		{"executable matches", process("postgres", "/usr/lib/postgresql/16/bin/postgres -D /data", "postgres"), "critical"},
		{"unanchored name does not widen the anchored rule", process("nginx-helper", "nginx-helper", "www-data"), "medium"},
		{"all set expressions must match", process("python3", "python3 manage.py runserver 0:8000", "bob"), "high"},
		{"one expression failing skips the rule", process("python3", "python3 worker.py", "bob"), "low"},
		{"first matching rule wins", process("nginx", "nginx: worker", "www-data"), "critical"},
		{"later rule", process("cron", "/usr/sbin/cron -f", "www-data"), "medium"},
		{"default", process("cron", "/usr/sbin/cron -f", "root"), "low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := run(t, rulesCfg, batch(tt.in))
			require.Equal(t, []string{tt.want}, priorities(out))
		})
	}
}

func TestDefaultPriority(t *testing.T) {
	t.Parallel()
	cfg := *rulesCfg
	cfg.DefaultPriority = "medium"
	out := run(t, &cfg, batch(process("cron", "cron", "root")))
	require.Equal(t, []string{"medium"}, priorities(out))

	cfg.DefaultPriority = ""
	out = run(t, &cfg, batch(process("cron", "cron", "root")))
	require.Equal(t, []string{"low"}, priorities(out), "empty default_priority means low")
}

func TestNoRulesClassifiesDefault(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	out := run(t, cfg, proctest.Metrics(proctest.Processes("h", 10), ts))
	for _, p := range priorities(out) {
		require.Equal(t, "low", p)
	}
}

func TestOverwrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		overwrite bool
		existing  func(pcommon.Map)
		want      string
	}{
		{"overwrite replaces", true, func(m pcommon.Map) { m.PutStr(proc.AttrPriority, "low") }, "critical"},
		{"overwrite replaces a non-string value", true, func(m pcommon.Map) { m.PutInt(proc.AttrPriority, 3) }, "critical"},
		{"keep existing", false, func(m pcommon.Map) { m.PutStr(proc.AttrPriority, "low") }, "low"},
		{"keep existing even when invalid", false, func(m pcommon.Map) { m.PutStr(proc.AttrPriority, "bogus") }, "bogus"},
		{"no existing value is written", false, func(pcommon.Map) {}, "critical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := *rulesCfg
			cfg.Overwrite = tt.overwrite
			md := batch(process("nginx", "nginx", "www-data"))
			tt.existing(md.ResourceMetrics().At(0).Resource().Attributes())
			out := run(t, &cfg, md)
			require.Equal(t, []string{tt.want}, priorities(out))
			require.Equal(t, 5, out.ResourceMetrics().At(0).Resource().Attributes().Len(),
				"pid, name, command line, owner and one priority")
		})
	}
}

func TestNonProcessResourcesUntouched(t *testing.T) {
	t.Parallel()
	md := batch(process("nginx", "nginx", "www-data"))
	appendSystemCPU(md)
	md.ResourceMetrics().AppendEmpty() // empty resource, no metrics
	want := pmetric.NewMetrics()
	md.CopyTo(want)

	out := run(t, rulesCfg, md)
	require.Equal(t, []string{"critical", "-", "-"}, priorities(out))
	for i := 1; i < 3; i++ {
		require.Equal(t, want.ResourceMetrics().At(i).Resource().Attributes().AsRaw(),
			out.ResourceMetrics().At(i).Resource().Attributes().AsRaw())
	}
	require.Equal(t, want.DataPointCount(), out.DataPointCount())
}

func TestOddAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"pid only is a process without identity", map[string]any{proc.AttrPID: 7}, "low"},
		{"pid as string", map[string]any{proc.AttrPID: "7", proc.AttrExecutableName: "java"}, "critical"},
		{"executable only", map[string]any{proc.AttrExecutableName: "java"}, "critical"},
		{"int owner", map[string]any{proc.AttrPID: 7, proc.AttrExecutableName: "cron", proc.AttrOwner: 0}, "medium"},
		{"int executable name", map[string]any{proc.AttrPID: 7, proc.AttrExecutableName: 5}, "low"},
		{"map command line is matched as its JSON rendering", map[string]any{proc.AttrPID: 7, proc.AttrExecutableName: "python3", proc.AttrCommandLine: map[string]any{"a": "manage.py runserver"}}, "high"},
		{"bool command line", map[string]any{proc.AttrPID: 7, proc.AttrExecutableName: "python3", proc.AttrCommandLine: true}, "low"},
		{"not a process", map[string]any{proc.AttrOwner: "www-data", proc.AttrCommandLine: "nginx"}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md := pmetric.NewMetrics()
			require.NoError(t, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(tt.attrs))
			out := run(t, rulesCfg, md)
			require.Equal(t, []string{tt.want}, priorities(out))
		})
	}
}

func TestEmptyMetrics(t *testing.T) {
	t.Parallel()
	out := run(t, rulesCfg, pmetric.NewMetrics())
	require.Equal(t, 0, out.ResourceMetrics().Len())
}

func TestHistogramAndSummaryMetricsPassThrough(t *testing.T) {
	t.Parallel()
	md := batch(process("java", "java -jar app.jar", "app"))
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	h := ms.AppendEmpty()
	h.SetName("process.latency")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetCount(3)
	hdp.BucketCounts().FromRaw([]uint64{1, 2})
	hdp.ExplicitBounds().FromRaw([]float64{10})
	s := ms.AppendEmpty()
	s.SetName("process.summary")
	s.SetEmptySummary().DataPoints().AppendEmpty().SetCount(4)
	e := ms.AppendEmpty()
	e.SetName("process.exp")
	e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetCount(5)
	wantPoints := md.DataPointCount()

	out := run(t, rulesCfg, md)
	require.Equal(t, []string{"critical"}, priorities(out))
	require.Equal(t, wantPoints, out.DataPointCount())
	got := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, uint64(3), got.At(4).Histogram().DataPoints().At(0).Count())
	require.Equal(t, uint64(4), got.At(5).Summary().DataPoints().At(0).Count())
}

func TestRealisticBatch(t *testing.T) {
	t.Parallel()
	cfg := &Config{
		Rules:           []Rule{{Priority: "critical", Executable: "^(nginx|postgres|java|redis|kubelet)$"}},
		DefaultPriority: "low",
		Overwrite:       true,
	}
	ps := proctest.Processes("host-a", 200)
	md := proctest.Metrics(ps, ts)
	appendSystemCPU(md)
	wantPoints := md.DataPointCount()
	out := run(t, cfg, md)
	require.Equal(t, wantPoints, out.DataPointCount())
	got := priorities(out)
	require.Len(t, got, 201)
	for i, p := range ps {
		want := "low"
		if i < len(proctest.CriticalNames) {
			want = "critical"
		}
		require.Equal(t, want, got[i], "process %d (%s)", i, p.Name)
	}
	require.Equal(t, "-", got[200])
}

// TestRepeatedBatchesUseMemo checks that classification is stable across
// batches and that the memo holds one entry per distinct tested identity.
func TestRepeatedBatchesUseMemo(t *testing.T) {
	t.Parallel()
	p, err := newPrioritizer(&Config{
		Rules:     []Rule{{Priority: "critical", Executable: "^(nginx|postgres|java|redis|kubelet)$"}},
		Overwrite: true,
	})
	require.NoError(t, err)
	ps := proctest.Processes("host-a", 300)
	for range 3 {
		md, err := p.processMetrics(context.Background(), proctest.Metrics(ps, ts))
		require.NoError(t, err)
		got := priorities(md)
		require.Equal(t, "critical", got[0])
		require.Equal(t, "low", got[299])
	}
	// Only executable names are tested: 5 critical names + worker-0..49.
	require.Len(t, p.memo, 5+50)
}

func TestMemoIsBounded(t *testing.T) {
	t.Parallel()
	p, err := newPrioritizer(&Config{
		Rules:     []Rule{{Priority: "high", CommandLine: `--id=1\d*$`}},
		Overwrite: true,
	})
	require.NoError(t, err)
	p.maxMemo = 64
	ps := proctest.Processes("host-a", 1000)
	md, err := p.processMetrics(context.Background(), proctest.Metrics(ps, ts))
	require.NoError(t, err)
	require.LessOrEqual(t, len(p.memo), 64)
	got := priorities(md)
	for i := range ps {
		want := "low"
		if fmt.Sprint(i)[0] == '1' {
			want = "high"
		}
		require.Equal(t, want, got[i], "process %d", i)
	}
}

func TestConcurrentBatches(t *testing.T) {
	t.Parallel()
	proc, sink := newTestProcessor(t, rulesCfg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ps := proctest.Processes(fmt.Sprintf("host-%d", g), 50)
				if err := proc.ConsumeMetrics(context.Background(), proctest.Metrics(ps, ts)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, sink.AllMetrics(), 80)
	for _, md := range sink.AllMetrics() {
		got := priorities(md)
		require.Equal(t, "critical", got[0]) // nginx
		require.Equal(t, "low", got[49])     // worker-49, owner app
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	require.Equal(t, "phoenix_priority", f.Type().String())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))

	bad := &Config{Rules: []Rule{{Priority: "critical", Executable: "("}}}
	_, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), bad, consumertest.NewNop())
	require.ErrorContains(t, err, "rules[0].executable: invalid regexp")

	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), rulesCfg, consumertest.NewNop())
	require.NoError(t, err)
	require.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Shutdown(context.Background()), "shutdown without start")
}

// TestHintsFollowChangingBatches checks the classification of batches whose
// processes come, go and change place between batches, so that the
// comparison with the previous batch sometimes matches, sometimes skips a
// process that exited and sometimes falls back to the memo.
func TestHintsFollowChangingBatches(t *testing.T) {
	t.Parallel()
	cfg := &Config{
		Rules: []Rule{
			{Priority: "critical", Executable: "^(nginx|postgres)$"},
			{Priority: "high", Executable: "^worker-1", Owner: "^root$"},
			{Priority: "medium", CommandLine: `--id=\d*7$`},
		},
		DefaultPriority: "low",
		Overwrite:       true,
	}
	p, err := newPrioritizer(cfg)
	require.NoError(t, err)
	// Few executable names, so that neighbours often share one and differ
	// only by owner or command line.
	all := proctest.Processes("host-a", 60)
	for i := range all {
		if i >= 2 {
			all[i].Name = fmt.Sprintf("worker-%d", 1+i%3*5)
		}
		if i%4 == 0 {
			all[i].Owner = "root"
		}
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 200 {
		var ps []proctest.Process
		for _, pr := range all {
			if rng.IntN(6) != 0 {
				ps = append(ps, pr)
			}
		}
		if rng.IntN(5) == 0 {
			rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		}
		md, err := p.processMetrics(context.Background(), proctest.Metrics(ps, ts))
		require.NoError(t, err)
		got := priorities(md)
		for i, pr := range ps {
			want := p.classify(memoKey{executable: pr.Name, commandLine: pr.CommandLine, owner: pr.Owner}).String()
			require.Equal(t, want, got[i], "round %d, process %d (%s)", round, i, pr.CommandLine)
		}
	}
}
