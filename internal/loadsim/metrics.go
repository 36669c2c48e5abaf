package loadsim

import "github.com/prometheus/client_golang/prometheus"

// collector reports a simulator's Stats as its metrics at each scrape.
type collector struct {
	s                                           *Simulator
	active, spawned, reaped, spawnErrors, churn *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(s *Simulator) *collector {
	labels := prometheus.Labels{"profile": s.cfg.Profile}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("phoenix_loadsim_"+name, help, nil, labels)
	}
	return &collector{
		s:           s,
		active:      desc("active_processes", "Processes of the load simulator running."),
		spawned:     desc("spawned_total", "Processes the load simulator started."),
		reaped:      desc("reaped_total", "Processes of the load simulator that ended and were reaped."),
		spawnErrors: desc("spawn_errors_total", "Processes the load simulator could not start."),
		churn:       desc("churn_rate", "Short-lived processes the load simulator starts per second (target)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.active
	ch <- c.spawned
	ch <- c.reaped
	ch <- c.spawnErrors
	ch <- c.churn
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(st.Processes))
	ch <- prometheus.MustNewConstMetric(c.spawned, prometheus.CounterValue, float64(st.Spawned))
	ch <- prometheus.MustNewConstMetric(c.reaped, prometheus.CounterValue, float64(st.Reaped))
	ch <- prometheus.MustNewConstMetric(c.spawnErrors, prometheus.CounterValue, float64(st.SpawnErrors))
	ch <- prometheus.MustNewConstMetric(c.churn, prometheus.GaugeValue, st.ChurnRate)
}
