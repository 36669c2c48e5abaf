//go:build linux

package loadsim

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// member is a process of a process group, as /proc shows it.
type member struct {
	pid, ppid int
	state     byte
	comm      string // the executable name
	cmdline   string // the arguments joined by spaces
	environ   string
}

// groupMembers returns the processes, zombies included, of the process
// group pgid.
func groupMembers(t *testing.T, pgid int) []member {
	t.Helper()
	require.Positive(t, pgid)
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []member
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgid != pgid {
			continue
		}
		m := member{pid: pid, ppid: st.ppid, state: st.state}
		dir := filepath.Join("/proc", e.Name())
		if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
			m.comm = strings.TrimSpace(string(b))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			m.cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
			m.environ = string(b)
		}
		out = append(out, m)
	}
	return out
}

// live returns the members that have not ended.
func live(ms []member) []member {
	var out []member
	for _, m := range ms {
		if m.state != 'Z' && m.state != 'X' {
			out = append(out, m)
		}
	}
	return out
}

// eventually polls cond every 20ms until it holds; it fails the test after
// a minute, a bound far above what any condition needs on a busy machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after a minute: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSim starts a simulator that the test stops at its end.
func startSim(t *testing.T, cfg Config, set Settings) *Simulator {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	sim, err := Start(context.Background(), cfg, set)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sim.Stop(context.Background())) })
	return sim
}

// config returns the profile's configuration with a fixed seed.
func config(t *testing.T, profile string, processes int, churn float64) Config {
	t.Helper()
	cfg, err := NewConfig(profile)
	require.NoError(t, err)
	cfg.Processes, cfg.ChurnRate, cfg.Seed = processes, churn, 42
	return cfg
}

// subSimulator is a simulator run by a child test binary.
type subSimulator struct {
	cmd  *exec.Cmd
	pgid int
}

// startSubSimulator runs a simulator in a child of the test binary and
// returns once its processes run. The test kills it, and any process of
// its group, at its end.
func startSubSimulator(t *testing.T, ts testSimulator) *subSimulator {
	t.Helper()
	if ts.TempDir == "" {
		ts.TempDir = t.TempDir()
	}
	spec, err := json.Marshal(ts)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), testSimulatorEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ss := &subSimulator{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if ss.pgid > 0 {
			_ = syscall.Kill(-ss.pgid, syscall.SIGKILL)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the simulator did not start")
	ss.pgid, err = strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pgid "))
	require.NoError(t, err, line)
	return ss
}

// reapOrphans reaps the processes of the group pgid that were orphaned to
// this process (a subreaper), and reports whether none is left.
func reapOrphans(pgid int) bool {
	for {
		pid, err := syscall.Wait4(-pgid, nil, syscall.WNOHANG, nil)
		if err != nil || pid <= 0 {
			break
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if st, err := readStat(pid); err == nil && st.pgid == pgid {
				return false
			}
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// rssKiB returns the resident memory of the process pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return atoi(t, strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// gauge returns the value of the one sample of the metric name in reg,
// labelled with its profile.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		require.Len(t, mf.GetMetric(), 1)
		m := mf.GetMetric()[0]
		require.Equal(t, "profile", m.GetLabel()[0].GetName())
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
