// The data-plane test runs the Phoenix collector distribution in-process
// with the hostmetrics process scraper against real processes it spawns, and
// checks what every catalog pipeline keeps: the automated form of the PRD's
// AT-P02, AT-P03 and AT-P06.

package collector_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/collector"
	"github.com/phoenix/platform/collector/internal/capture"
	"github.com/phoenix/platform/collector/measure"
	"github.com/phoenix/platform/internal/pipeline"
)

var (
	criticalNames = []string{"nginx", "postgres", "java"}
	highNames     = []string{"sshd", "haproxy"}
	criticalRE    = regexp.MustCompile(`^(nginx|java|postgres|mysql|redis|kubelet|dockerd?)$`)
	highRE        = regexp.MustCompile(`^(sshd|systemd|containerd|crond?|rsyslogd|chronyd|haproxy|envoy|phoenix)$`)
)

const (
	lowCount = 40
	topK     = 5
)

// spawn starts copies of sleep under the given executable names and kills
// them when the test ends.
func spawn(t *testing.T, names []string) []int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	src, err := os.Open(sleep)
	require.NoError(t, err)
	defer src.Close()
	dir := t.TempDir()
	var pids []int
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
			require.NoError(t, err)
			_, err = src.Seek(0, io.SeekStart)
			require.NoError(t, err)
			_, err = io.Copy(dst, src)
			require.NoError(t, err)
			require.NoError(t, dst.Close())
		}
		cmd := exec.Command(p, "600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		pids = append(pids, cmd.Process.Pid)
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	return pids
}

// sink collects what each pipeline exported, split by experiment id
// ("" = the active pipeline).
type sink struct {
	mu      sync.Mutex
	batches map[string][]pmetric.Metrics
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		id := ""
		if v, ok := rms.At(i).Resource().Attributes().Get(pipeline.AttrExperimentID); ok {
			id = v.Str()
		}
		out := pmetric.NewMetrics()
		rms.At(i).CopyTo(out.ResourceMetrics().AppendEmpty())
		s.batches[id] = append(s.batches[id], out)
	}
	return nil
}

// scrape is one scrape's output of one pipeline: resources by timestamp.
type scrape struct {
	ts        pcommon.Timestamp
	resources []pcommon.Resource
	metrics   []pmetric.ResourceMetrics
}

// scrapes groups a pipeline's output into scrapes. The process scraper
// stamps each process with its own read time, so the points of one scrape
// lie within a few milliseconds of each other and scrapes are a collection
// interval apart: a gap of more than scrapeGap starts a new scrape. A
// scrape's ts is its earliest timestamp.
func (s *sink) scrapes(id string) []scrape {
	s.mu.Lock()
	type item struct {
		ts pcommon.Timestamp
		rm pmetric.ResourceMetrics
	}
	var items []item
	for _, md := range s.batches[id] {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			if ts := firstTimestamp(rms.At(i)); ts != 0 {
				items = append(items, item{ts, rms.At(i)})
			}
		}
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].ts < items[j].ts })
	var out []scrape
	for i, it := range items {
		if i == 0 || time.Duration(it.ts-items[i-1].ts) > scrapeGap {
			out = append(out, scrape{ts: it.ts})
		}
		sc := &out[len(out)-1]
		sc.resources = append(sc.resources, it.rm.Resource())
		sc.metrics = append(sc.metrics, it.rm)
	}
	return out
}

// scrapeGap separates scrapes of the 1 s collection interval.
const scrapeGap = 400 * time.Millisecond

// sameScrape finds the scrape of the baseline that holds ts.
func sameScrape(scrapes []scrape, ts pcommon.Timestamp) (scrape, bool) {
	for _, sc := range scrapes {
		d := time.Duration(ts - sc.ts)
		if d < 0 {
			d = -d
		}
		if d <= scrapeGap {
			return sc, true
		}
	}
	return scrape{}, false
}

func firstTimestamp(rm pmetric.ResourceMetrics) pcommon.Timestamp {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Type() {
			case pmetric.MetricTypeSum:
				if m.Sum().DataPoints().Len() > 0 {
					return m.Sum().DataPoints().At(0).Timestamp()
				}
			case pmetric.MetricTypeGauge:
				if m.Gauge().DataPoints().Len() > 0 {
					return m.Gauge().DataPoints().At(0).Timestamp()
				}
			}
		}
	}
	return 0
}

func str(res pcommon.Resource, key string) string {
	v, ok := res.Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

func pidOf(res pcommon.Resource) int {
	v, ok := res.Attributes().Get("process.pid")
	if !ok {
		return 0
	}
	return int(v.Int())
}

// processes returns the executable names by pid of one scrape's process
// resources.
func processes(sc scrape) map[int]string {
	out := map[int]string{}
	for _, r := range sc.resources {
		if pid := pidOf(r); pid != 0 {
			out[pid] = str(r, "process.executable.name")
		}
	}
	return out
}

func TestCatalogPipelinesOnRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real collector for about 15 s")
	}
	var names []string
	names = append(names, criticalNames...)
	names = append(names, highNames...)
	for i := 0; i < lowCount; i++ {
		names = append(names, fmt.Sprintf("lowjob-%02d", i%10))
	}
	pids := spawn(t, names)
	ours := map[int]string{}
	for i, p := range pids {
		ours[p] = names[i]
	}

	critical := []string{criticalRE.String()}
	exp := func(id, candidate string, params map[string]any) pipeline.Experiment {
		return pipeline.Experiment{
			ID:               id,
			Baseline:         pipeline.CatalogSpec("process-baseline-v1", nil),
			Candidate:        pipeline.CatalogSpec(candidate, params),
			Mode:             pipeline.ModeLive,
			CriticalPatterns: critical,
		}
	}
	cfg, err := pipeline.Compose(pipeline.Assignment{
		Host:               "dataplane-test",
		CollectionInterval: time.Second,
		Exporters:          []pipeline.Exporter{{ID: "debug"}},
		Experiments: []pipeline.Experiment{
			exp("prio", "process-priority-filter-v1", nil),
			exp("topk", "process-topk-v1", map[string]any{"k": topK}),
			exp("rollup", "process-aggregated-v1", nil),
			exp("adaptive", "process-adaptive-filter-v1", nil),
		},
	})
	require.NoError(t, err)
	cfg = withCaptureExporter(t, cfg)

	out := &sink{batches: map[string][]pmetric.Metrics{}}
	factories := func() (otelcol.Factories, error) {
		f, err := collector.Components()
		if err != nil {
			return f, err
		}
		cf := capture.NewFactory(map[string]consumer.Metrics{"out": out})
		f.Exporters[cf.Type()] = cf
		return f, nil
	}
	svc := collector.NewService(cfg, collector.WithFactories(factories))
	ctx := context.Background()
	require.NoError(t, svc.Start(ctx, 60*time.Second), "config:\n%s", cfg)
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })

	// Wait for enough scrapes in every pipeline: top-k needs two to rank by
	// CPU, rollup two to show counters across intervals.
	require.Eventually(t, func() bool {
		for _, id := range []string{"", "prio", "topk", "rollup", "adaptive"} {
			if len(out.scrapes(id)) < 4 {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond)
	// The meters' gauges describe the running pipelines: read them first.
	meters := map[string][2]float64{}
	for _, id := range []string{"prio", "topk", "rollup", "adaptive"} {
		for _, variant := range []string{"baseline", "candidate"} {
			meters[id+"/"+variant] = [2]float64{
				gauge(t, "phoenix_pipeline_critical_expected", id, variant),
				gauge(t, "phoenix_pipeline_critical_retained", id, variant),
			}
		}
	}
	require.NoError(t, svc.Shutdown(ctx))

	active := out.scrapes("")

	t.Run("baseline keeps every process", func(t *testing.T) {
		for _, sc := range active[1:] {
			got := processes(sc)
			for pid, name := range ours {
				require.Equal(t, name, got[pid], "pid %d missing from the baseline at %v", pid, sc.ts)
			}
		}
	})

	t.Run("priority filter keeps every critical process and drops low ones", func(t *testing.T) {
		for _, sc := range out.scrapes("prio")[1:] {
			got := processes(sc)
			for pid, name := range ours {
				switch {
				case criticalRE.MatchString(name):
					require.Equal(t, name, got[pid], "critical %s (pid %d) dropped", name, pid)
				case !highRE.MatchString(name):
					require.NotContains(t, got, pid, "low-priority %s kept", name)
				}
			}
		}
	})

	t.Run("top-k keeps K plus every critical process", func(t *testing.T) {
		for _, sc := range out.scrapes("topk")[1:] {
			got := processes(sc)
			base, ok := sameScrape(active, sc.ts)
			require.True(t, ok, "the same scrape reached the baseline")
			nonCritical := 0
			for _, name := range got {
				if !criticalRE.MatchString(name) {
					nonCritical++
				}
			}
			require.LessOrEqual(t, nonCritical, topK+topkExitMargin(), "non-critical processes kept")
			for pid, name := range processes(base) {
				if criticalRE.MatchString(name) {
					require.Equal(t, name, got[pid], "critical %s (pid %d) dropped by top-k", name, pid)
				}
			}
		}
	})

	t.Run("rollup group totals equal the folded inputs", func(t *testing.T) {
		checked := 0
		for _, sc := range out.scrapes("rollup") {
			base, ok := sameScrape(active, sc.ts)
			if !ok {
				continue
			}
			want := map[string]float64{} // group -> summed memory of folded processes
			for i, r := range base.resources {
				name := str(r, "process.executable.name")
				if pidOf(r) == 0 || criticalRE.MatchString(name) || highRE.MatchString(name) {
					continue
				}
				want[name] += metricSum(base.metrics[i], "process.memory.usage")
			}
			got := map[string]float64{}
			for i, r := range sc.resources {
				if g := str(r, "phoenix.group"); g != "" {
					got[g] += metricSum(sc.metrics[i], "process.memory.usage")
				}
			}
			require.Equal(t, want, got, "memory per group at %v", sc.ts)
			checked++
		}
		require.GreaterOrEqual(t, checked, 3)
	})

	t.Run("meters see every critical process retained", func(t *testing.T) {
		for k, v := range meters {
			require.GreaterOrEqual(t, v[0], float64(len(criticalNames)), "%s expected", k)
			require.Equal(t, v[0], v[1], "%s retained", k)
		}
	})
}

// withCaptureExporter swaps the composed config's debug exporter for the
// capture exporter, which hands the test everything the pipelines export.
func withCaptureExporter(t *testing.T, cfg []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(cfg, &m))
	exporters := m["exporters"].(map[string]any)
	delete(exporters, "debug")
	exporters["capture"] = map[string]any{"sink": "out"}
	pipes := m["service"].(map[string]any)["pipelines"].(map[string]any)
	for _, p := range pipes {
		pm := p.(map[string]any)
		exps := pm["exporters"].([]any)
		for i, e := range exps {
			if e == "debug" {
				exps[i] = "capture"
			}
		}
	}
	out, err := yaml.Marshal(m)
	require.NoError(t, err)
	return out
}

// topkExitMargin is the default hysteresis of phoenix_topk for K=topK.
func topkExitMargin() int { return (topK + 3) / 4 }

func metricSum(rm pmetric.ResourceMetrics, name string) float64 {
	var total float64
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Name() != name {
				continue
			}
			var dps pmetric.NumberDataPointSlice
			switch m.Type() {
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			default:
				continue
			}
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
					total += float64(dp.IntValue())
				} else {
					total += dp.DoubleValue()
				}
			}
		}
	}
	return total
}

// gauge reads one meter gauge of an experiment variant from the registry.
func gauge(t *testing.T, name, experiment, variant string) float64 {
	t.Helper()
	mfs, err := measure.Default().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "experiment") == experiment && label(m, "variant") == variant {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{experiment=%q,variant=%q}", name, experiment, variant)
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
