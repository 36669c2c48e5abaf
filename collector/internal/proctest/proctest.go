// Package proctest builds metrics shaped like the hostmetrics process
// scraper's output, for the Phoenix processors' tests and benchmarks.
package proctest

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// Process describes one process of a generated batch.
type Process struct {
	Host        string
	PID         int64
	Name        string
	CommandLine string
	Owner       string
	// CPUSeconds is the cumulative CPU time; it is split 70/25/5 over the
	// user, system and wait states.
	CPUSeconds float64
	// RSS is the resident memory in bytes.
	RSS int64
	// Start is the process start time (StartTimestamp of its sums).
	Start pcommon.Timestamp
}

// CriticalNames are executable names the tests treat as critical.
var CriticalNames = []string{"nginx", "postgres", "java", "redis", "kubelet"}

// Processes returns n processes on host: the first len(CriticalNames) carry
// critical names, the rest are low-priority workers with unique command lines.
// CPU and memory grow with the index so rankings are deterministic.
func Processes(host string, n int) []Process {
	ps := make([]Process, n)
	for i := range ps {
		name := fmt.Sprintf("worker-%d", i%50)
		if i < len(CriticalNames) {
			name = CriticalNames[i]
		}
		ps[i] = Process{
			Host:        host,
			PID:         int64(1000 + i),
			Name:        name,
			CommandLine: fmt.Sprintf("/usr/bin/%s --id=%d", name, i),
			Owner:       "app",
			CPUSeconds:  float64(i%97) * 1.5,
			RSS:         int64(1+i%89) << 20,
			Start:       pcommon.Timestamp(1_700_000_000_000_000_000),
		}
	}
	return ps
}

// DataPointsPerProcess is how many data points Metrics emits for each process.
const DataPointsPerProcess = 7

// Metrics renders processes as one scrape at ts, one ResourceMetrics per
// process, with the metrics the hostmetrics process scraper enables by
// default: process.cpu.time (user, system, wait), process.memory.usage,
// process.memory.virtual and process.disk.io (read, write).
func Metrics(ps []Process, ts pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	md.ResourceMetrics().EnsureCapacity(len(ps))
	for _, p := range ps {
		AppendProcess(md, p, ts)
	}
	return md
}

// AppendProcess appends one process's scrape to md.
func AppendProcess(md pmetric.Metrics, p Process, ts pcommon.Timestamp) {
	rm := md.ResourceMetrics().AppendEmpty()
	// The scraper builds each process's resource apart and copies it into
	// the batch, which sizes the attribute slice exactly: a processor that
	// adds an attribute pays for growing it, as it does on real scrapes.
	res := pcommon.NewResource()
	attrs := res.Attributes()
	if p.Host != "" {
		attrs.PutStr(proc.AttrHostName, p.Host)
	}
	attrs.PutInt(proc.AttrPID, p.PID)
	attrs.PutStr(proc.AttrExecutableName, p.Name)
	attrs.PutStr(proc.AttrCommandLine, p.CommandLine)
	attrs.PutStr(proc.AttrOwner, p.Owner)
	res.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper")
	ms := sm.Metrics()

	cpu := ms.AppendEmpty()
	cpu.SetName(proc.MetricCPUTime)
	cpu.SetUnit("s")
	sum := cpu.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, st := range []struct {
		state string
		share float64
	}{{"user", 0.70}, {"system", 0.25}, {"wait", 0.05}} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(p.Start)
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(p.CPUSeconds * st.share)
		dp.Attributes().PutStr("state", st.state)
	}

	for _, g := range []struct {
		name string
		v    int64
	}{{proc.MetricMemoryUsage, p.RSS}, {"process.memory.virtual", p.RSS * 4}} {
		m := ms.AppendEmpty()
		m.SetName(g.name)
		m.SetUnit("By")
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(p.Start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(g.v)
	}

	io := ms.AppendEmpty()
	io.SetName("process.disk.io")
	io.SetUnit("By")
	s := io.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, dir := range []string{"read", "write"} {
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(p.Start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(p.CPUSeconds * 4096))
		dp.Attributes().PutStr("direction", dir)
	}
}
