package e2e

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/api"
)

// Settings of TestAdaptiveFilterUnderChurn. The thresholds sit above the
// host's own process count, measured first, so that the high-churn load
// (its long-running processes and the short-lived ones alive at a scrape)
// crosses both; the CPU thresholds are out of reach, so only the process
// count switches modes on a busy shared machine.
const (
	adaptiveElevatedAbove = 20
	adaptivePressureAbove = 35
	adaptiveK             = 3
	adaptiveElevatedK     = 6
)

// TestAdaptiveFilterUnderChurn covers AT-P04: under the adaptive filter the
// output series move against the process count. With the host calm the
// filter sends everything; the high-churn load raises the process count
// past the pressure threshold and the output series fall; when the load
// stops the process count falls and the output series rise again.
func TestAdaptiveFilterUnderChurn(t *testing.T) {
	requireSuite(t)
	t.Parallel()
	ownHost(t)
	d := startDev(t, 5*time.Second)

	// The host's own process count, over a few scrapes.
	var n0 float64
	from := time.Now()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		fig := d.hostStatus(c).Figures
		require.NotNil(c, fig)
		require.NotNil(c, fig.InputProcesses)
		n0 = math.Max(n0, *fig.InputProcesses)
		require.GreaterOrEqual(c, time.Since(from), 2*d.interval, "observed span")
	}, time.Minute, time.Second, "no process count")
	elevated := int(n0) + adaptiveElevatedAbove
	pressure := int(n0) + adaptivePressureAbove

	var dep api.Deployment
	d.json(t, &dep, "pipeline", "deploy", "process-adaptive-filter-v1", "--selector", "host.name="+d.host, "--health-gate", "5s",
		"--param", "k="+strconv.Itoa(adaptiveK), "--param", "elevated_k="+strconv.Itoa(adaptiveElevatedK), "--param", "rank_by=memory",
		"--param", "elevated_process_count="+strconv.Itoa(elevated), "--param", "pressure_process_count="+strconv.Itoa(pressure),
		"--param", "elevated_cpu_percent=99.9", "--param", "pressure_cpu_percent=100", "--param", "hysteresis=0.05")
	t.Logf("AT-P04: host runs %.0f processes; adaptive filter enters elevated (top %d) at %d and pressure (top %d) at %d processes",
		n0, adaptiveElevatedK, elevated, adaptiveK, pressure)

	// Calm: everything is sent.
	calm := d.waitFigures(t, "calm: the filter sends every series", 2*time.Minute, func(c *assert.CollectT, h api.Host) {
		require.Equal(c, dep.ID, h.DeploymentID)
		require.Equal(c, "applied", h.Status)
		require.InDelta(c, 0, *h.Figures.ReductionPercent, 2, "reduction while calm")
	})

	// Under load: more processes, fewer output series. The output series
	// count what was sent within the meter's one-minute window, so the
	// calm series take a minute to leave it.
	load := startLoad(t, d, "high-churn")
	busy := d.waitFigures(t, "under load: the filter tightens", 4*time.Minute, func(c *assert.CollectT, h api.Host) {
		require.GreaterOrEqual(c, *h.Figures.InputProcesses, float64(pressure), "processes under load")
		require.Less(c, *h.Figures.OutputSeries, 0.5**calm.OutputSeries, "output series under load")
	})

	// Load gone: fewer processes, more output series.
	load.stop(t)
	after := d.waitFigures(t, "after the load: the filter relaxes", 2*time.Minute, func(c *assert.CollectT, h api.Host) {
		require.Less(c, *h.Figures.InputProcesses, float64(elevated), "processes after the load")
		require.Greater(c, *h.Figures.OutputSeries, 0.8**calm.OutputSeries, "output series after the load")
	})

	for _, s := range []struct {
		name string
		fig  *api.HostFigures
	}{{"calm", calm}, {"under load", busy}, {"after load", after}} {
		t.Logf("AT-P04: %-10s input_processes=%s input_series=%s output_series=%s reduction=%s%%",
			s.name, num(s.fig.InputProcesses), num(s.fig.InputSeries), num(s.fig.OutputSeries), num(s.fig.ReductionPercent))
	}
	require.Greater(t, *busy.InputProcesses, *calm.InputProcesses, "the load raised the process count")
	require.Less(t, *busy.OutputSeries, *calm.OutputSeries, "output series fell as processes rose")
	require.Less(t, *after.InputProcesses, *busy.InputProcesses, "the process count fell after the load")
	require.Greater(t, *after.OutputSeries, *busy.OutputSeries, "output series rose as processes fell")
}

// waitFigures polls the host's figures until cond holds and returns them;
// the figures cond reads are present.
func (d *dev) waitFigures(t *testing.T, what string, timeout time.Duration, cond func(c *assert.CollectT, h api.Host)) *api.HostFigures {
	t.Helper()
	start := time.Now()
	var fig *api.HostFigures
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		h := d.hostStatus(c)
		require.NotNil(c, h.Figures)
		for name, v := range map[string]*float64{"input_processes": h.Figures.InputProcesses, "input_series": h.Figures.InputSeries,
			"output_series": h.Figures.OutputSeries, "reduction_percent": h.Figures.ReductionPercent} {
			require.NotNil(c, v, name)
		}
		cond(c, h)
		fig = h.Figures
	}, timeout, tick, what)
	t.Logf("%s after %s", what, time.Since(start).Round(time.Second))
	return fig
}
