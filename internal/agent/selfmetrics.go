package agent

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix/platform/collector/measure"
)

// Names of the agent's own measurements.
const (
	MetricCPUSeconds  = "phoenix_agent_cpu_seconds_total"
	MetricMemoryBytes = "phoenix_agent_memory_bytes"
)

// selfCollector reports the process's CPU time and resident memory once
// for each host name of a running agent. One instance is registered in
// measure.Default() for the life of the process; agents add and remove
// their host.
type selfCollector struct {
	cpu, mem *prometheus.Desc

	mu    sync.Mutex
	hosts map[string]int
}

var (
	self = &selfCollector{
		cpu: prometheus.NewDesc(MetricCPUSeconds,
			"CPU time (user + system) used by the Phoenix agent process, collector included.", []string{"host"}, nil),
		mem: prometheus.NewDesc(MetricMemoryBytes,
			"Resident set size of the Phoenix agent process, collector included.", []string{"host"}, nil),
		hosts: map[string]int{},
	}
	selfOnce   sync.Once
	selfRegErr error
)

var _ prometheus.Collector = (*selfCollector)(nil)

// registerSelf makes host's figures visible in measure.Default() until
// the returned function is called.
func registerSelf(host string) (func(), error) {
	selfOnce.Do(func() { selfRegErr = measure.Default().Register(self) })
	if selfRegErr != nil {
		return nil, selfRegErr
	}
	self.mu.Lock()
	self.hosts[host]++
	self.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			self.mu.Lock()
			defer self.mu.Unlock()
			if self.hosts[host]--; self.hosts[host] <= 0 {
				delete(self.hosts, host)
			}
		})
	}, nil
}

// Describe implements prometheus.Collector.
func (c *selfCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.mem
}

// Collect implements prometheus.Collector. A figure the platform cannot
// read is left out rather than reported as zero.
func (c *selfCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	hosts := make([]string, 0, len(c.hosts))
	for h := range c.hosts {
		hosts = append(hosts, h)
	}
	c.mu.Unlock()
	if len(hosts) == 0 {
		return
	}
	cpu, cpuErr := processCPUSeconds()
	rss, rssErr := processRSSBytes()
	for _, h := range hosts {
		if cpuErr == nil {
			ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, cpu, h)
		}
		if rssErr == nil {
			ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, rss, h)
		}
	}
}
