//go:build linux

package loadsim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestProfilesRunRealProcesses starts every profile with a small
// population and checks, through /proc, the processes a collector would
// scrape: real children, in one group, with many executable names
// including the critical ones, and unique command lines; churn starts
// processes; Stop leaves nothing, not even a zombie.
func TestProfilesRunRealProcesses(t *testing.T) {
	for _, tc := range []struct {
		profile string
		churn   float64
		// reaps: the short-lived processes end within the test.
		reaps bool
	}{
		{profile: ProfileRealistic, churn: 5},
		{profile: ProfileHighCardinality, churn: 5},
		{profile: ProfileHighChurn, churn: 20, reaps: true},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			const n = 20
			cfg := config(t, tc.profile, n, tc.churn)
			cfg.TempDir = t.TempDir()
			sim := startSim(t, cfg, Settings{})
			st := sim.Stats()
			require.Equal(t, n, st.LongRunning)
			require.GreaterOrEqual(t, st.Processes, n)
			require.Equal(t, os.Getpid(), st.PID)
			pgid := st.PGID

			ms := live(groupMembers(t, pgid))
			require.GreaterOrEqual(t, len(ms), n)
			names := map[string]int{}
			cmdlines := map[string]int{}
			for _, m := range ms {
				require.Equal(t, os.Getpid(), m.ppid, "%+v", m)
				require.NotEmpty(t, m.comm)
				require.LessOrEqual(t, len(m.comm), MaxNameLen)
				names[m.comm]++
				cmdlines[m.cmdline]++
				require.True(t, strings.HasPrefix(m.cmdline, m.comm), "command line %q of %s", m.cmdline, m.comm)
			}
			prof, err := Lookup(tc.profile)
			require.NoError(t, err)
			require.NotEmpty(t, prof.Critical)
			for _, c := range prof.Critical {
				require.Contains(t, names, c, "critical process %s runs", c)
				require.Regexp(t, defaultCritical, c)
			}
			require.GreaterOrEqual(t, len(names), 6, "executable names: %v", names)
			for c, k := range cmdlines {
				require.Equal(t, 1, k, "command line %q is not unique", c)
			}

			// Churn starts processes; in high-churn they end and are
			// reaped within seconds.
			eventually(t, "short-lived processes start", func() bool { return sim.Stats().Spawned >= n+5 })
			if tc.reaps {
				eventually(t, "short-lived processes are reaped", func() bool { return sim.Stats().Reaped >= 5 })
			}

			require.NoError(t, sim.Stop(context.Background()))
			require.Empty(t, groupMembers(t, pgid), "no process, not even a zombie, is left in the group")
			st = sim.Stats()
			require.Zero(t, st.Processes)
			require.Equal(t, st.Spawned, st.Reaped)
			require.False(t, st.Stopped.IsZero())
			left, err := filepath.Glob(filepath.Join(cfg.TempDir, dirPrefix+"*"))
			require.NoError(t, err)
			require.Empty(t, left, "the directory of executable names is removed")
		})
	}
}

// TestLoadProcessesWork checks that the load processes do their work: the
// java service burns CPU, the postgres service holds its memory.
func TestLoadProcessesWork(t *testing.T) {
	t.Parallel()
	sim := startSim(t, config(t, ProfileRealistic, 3, 0), Settings{})
	var java, postgres int
	for _, m := range groupMembers(t, sim.Stats().PGID) {
		switch m.comm {
		case "java":
			java = m.pid
			require.Contains(t, m.environ, childEnv+"=")
			require.Equal(t, "java -Xms256m -Xmx512m -jar /opt/orders/orders-service.jar --server.port=8081", m.cmdline)
		case "postgres":
			postgres = m.pid
		}
	}
	require.NotZero(t, java)
	require.NotZero(t, postgres)
	cpu := func(pid int) int {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		require.NoError(t, err)
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		return atoi(t, f[11]) + atoi(t, f[12]) // utime + stime
	}
	first := cpu(java)
	eventually(t, "java burns CPU", func() bool { return cpu(java) >= first+3 })
	eventually(t, "postgres holds 48 MiB", func() bool { return rssKiB(t, postgres) >= 48<<10 })
}

// TestIdleOnlyRunsSleep checks that idle processes run the sleep program
// under their own names, with a command line ending in how long they
// sleep.
func TestIdleOnlyRunsSleep(t *testing.T) {
	t.Parallel()
	if findSleep() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no sleep program (coreutils) under CI=true")
		}
		t.Skip("no sleep program: install coreutils")
	}
	cfg := config(t, ProfileHighCardinality, 10, 0)
	cfg.IdleOnly = true
	sim := startSim(t, cfg, Settings{})
	ms := live(groupMembers(t, sim.Stats().PGID))
	require.Len(t, ms, 10)
	for _, m := range ms {
		exe, err := os.Readlink("/proc/" + itoa(m.pid) + "/exe")
		require.NoError(t, err)
		require.Equal(t, "sleep", filepath.Base(exe), "%s runs sleep", m.comm)
		require.True(t, strings.HasSuffix(m.cmdline, " infinity"), m.cmdline)
		require.NotContains(t, m.environ, childEnv)
	}
}

// TestWithoutSleep runs every process as a load process when no sleep
// program qualifies.
func TestWithoutSleep(t *testing.T) {
	saved := lookSleep
	lookSleep = func() string { return "" }
	t.Cleanup(func() { lookSleep = saved })
	sim := startSim(t, config(t, ProfileHighChurn, 5, 0), Settings{})
	ms := live(groupMembers(t, sim.Stats().PGID))
	require.Len(t, ms, 5)
	for _, m := range ms {
		require.Contains(t, m.environ, childEnv+"=", "%s is a load process", m.comm)
	}
}

// TestLongRunningProcessesComeBack kills a long-running process: the
// simulator reaps it and starts it again with its command line.
func TestLongRunningProcessesComeBack(t *testing.T) {
	t.Parallel()
	sim := startSim(t, config(t, ProfileRealistic, 4, 0), Settings{})
	pgid := sim.Stats().PGID
	var victim member
	for _, m := range groupMembers(t, pgid) {
		if m.comm == "nginx" {
			victim = m
		}
	}
	require.NotZero(t, victim.pid)
	require.NoError(t, syscall.Kill(victim.pid, syscall.SIGKILL))
	eventually(t, "nginx is restarted", func() bool {
		for _, m := range live(groupMembers(t, pgid)) {
			if m.comm == "nginx" && m.pid != victim.pid {
				require.Equal(t, victim.cmdline, m.cmdline)
				return true
			}
		}
		return false
	})
	st := sim.Stats()
	require.Equal(t, uint64(5), st.Spawned)
	require.Equal(t, uint64(1), st.Reaped)
	require.Equal(t, 4, st.Processes)
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// TestKilledSimulatorLeavesNoProcess kills a simulator (SIGKILL, so it
// cannot clean up): its processes die with it.
func TestKilledSimulatorLeavesNoProcess(t *testing.T) {
	// Orphans are handed to this process, which reaps them: the test then
	// sees them gone rather than as zombies of an init that may not reap.
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	require.Zero(t, errno)
	ss := startSubSimulator(t, testSimulator{Profile: ProfileRealistic, Processes: 12, ChurnRate: 2})
	ms := live(groupMembers(t, ss.pgid))
	require.GreaterOrEqual(t, len(ms), 12)
	loadProcesses := 0
	for _, m := range ms {
		require.Equal(t, ss.cmd.Process.Pid, m.ppid)
		if strings.Contains(m.environ, childEnv+"=") {
			loadProcesses++
		}
	}
	require.Positive(t, loadProcesses, "both kinds of process are killed")

	require.NoError(t, ss.cmd.Process.Kill())
	require.Error(t, ss.cmd.Wait())
	eventually(t, "no process of the killed simulator is left", func() bool { return reapOrphans(ss.pgid) })
}

// TestStopRunning stops a simulator that another process runs, as
// `phoenix loadsim stop` does.
func TestStopRunning(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	ss := startSubSimulator(t, testSimulator{Profile: ProfileHighChurn, Processes: 5, ChurnRate: 10, StateDir: dir})

	st, err := ReadState(dir)
	require.NoError(t, err)
	require.Equal(t, ss.cmd.Process.Pid, st.PID)
	require.Equal(t, ss.pgid, st.PGID)
	require.Equal(t, ProfileHighChurn, st.Profile)

	_, err = ClaimState(dir, State{Profile: ProfileRealistic})
	var re *RunningError
	require.ErrorAs(t, err, &re)
	require.ErrorIs(t, err, ErrRunning)
	require.Equal(t, st.PID, re.State.PID)

	done := make(chan error, 1)
	go func() { done <- ss.cmd.Wait() }()
	stopped, err := StopRunning(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, st.PID, stopped.PID)
	require.NoError(t, <-done, "the simulator exits 0")
	require.Empty(t, groupMembers(t, ss.pgid))
	_, err = os.Stat(filepath.Join(dir, StateFile))
	require.ErrorIs(t, err, os.ErrNotExist, "the state file is removed")

	_, err = StopRunning(context.Background(), dir)
	require.ErrorIs(t, err, ErrNotRunning)
}

// TestStaleState replaces the state of a simulator that died.
func TestStaleState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"pid": 999999999, "start_time": 1, "profile": "realistic"}`), 0o644))
	_, err := ReadState(dir)
	require.ErrorIs(t, err, ErrNotRunning)
	c, err := ClaimState(dir, State{Profile: ProfileHighChurn})
	require.NoError(t, err)
	st, err := ReadState(dir)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), st.PID)
	require.NoError(t, c.Update(State{Profile: ProfileHighChurn, PGID: 12}))
	st, err = ReadState(dir)
	require.NoError(t, err)
	require.Equal(t, 12, st.PGID)
	require.NoError(t, c.Release())
	require.NoError(t, c.Release())
	_, err = ReadState(dir)
	require.ErrorIs(t, err, ErrNotRunning)

	require.NoError(t, os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"pid": 999999999, "start_time": 1}`), 0o644))
	_, err = StopRunning(context.Background(), dir)
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = os.Stat(filepath.Join(dir, StateFile))
	require.ErrorIs(t, err, os.ErrNotExist, "a stale state file is removed")
}

// TestDuration: a simulator stops by itself when its duration passes.
func TestDuration(t *testing.T) {
	t.Parallel()
	cfg := config(t, ProfileHighChurn, 3, 10)
	cfg.Duration = 300 * time.Millisecond
	sim := startSim(t, cfg, Settings{})
	pgid := sim.Stats().PGID
	<-sim.Done()
	require.Empty(t, groupMembers(t, pgid))
	require.NoError(t, sim.Stop(context.Background()))
}

// TestMetrics reads the simulator's own metrics from its registry.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sim := startSim(t, config(t, ProfileHighChurn, 4, 0), Settings{Registerer: reg})
	require.Equal(t, 4.0, gauge(t, reg, "phoenix_loadsim_active_processes"))
	require.Equal(t, 4.0, gauge(t, reg, "phoenix_loadsim_spawned_total"))
	require.Equal(t, 0.0, gauge(t, reg, "phoenix_loadsim_reaped_total"))
	require.Equal(t, 0.0, gauge(t, reg, "phoenix_loadsim_spawn_errors_total"))
	require.Equal(t, 0.0, gauge(t, reg, "phoenix_loadsim_churn_rate"))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 5, n)

	// A second simulator on the same registry is refused; once the first
	// stops, its metrics are gone and the registry can take another.
	_, err = Start(context.Background(), config(t, ProfileHighChurn, 1, 0), Settings{Registerer: reg})
	require.ErrorContains(t, err, "register metrics")
	require.NoError(t, sim.Stop(context.Background()))
	n, err = testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Zero(t, n)
	cfg := config(t, ProfileHighChurn, 1, 0)
	cfg.TempDir = t.TempDir()
	startSim(t, cfg, Settings{Registerer: reg})
}

// TestStartRefuses checks what Start refuses before it starts anything.
func TestStartRefuses(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cfg := config(t, ProfileRealistic, 0, 1)
	cfg.TempDir = tmp
	_, err := Start(context.Background(), cfg, Settings{})
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "process-count", fe.Field)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg = config(t, ProfileRealistic, 10, 1)
	cfg.TempDir = tmp
	_, err = Start(ctx, cfg, Settings{})
	require.ErrorIs(t, err, context.Canceled)
	left, err := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	require.NoError(t, err)
	require.Empty(t, left)
}

// TestStaleDirsRemoved removes the directory a killed simulator left.
func TestStaleDirsRemoved(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	stale := filepath.Join(tmp, dirPrefix+"999999999-123")
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "sleep"), 0o755))
	other := filepath.Join(tmp, "phoenix-loadsim-notapid")
	require.NoError(t, os.Mkdir(other, 0o755))
	cfg := config(t, ProfileHighChurn, 1, 0)
	cfg.TempDir = tmp
	startSim(t, cfg, Settings{})
	_, err := os.Stat(stale)
	require.True(t, errors.Is(err, os.ErrNotExist), "stale directory removed")
	_, err = os.Stat(other)
	require.NoError(t, err)
}

// BenchmarkStart starts and stops idle populations, reporting the
// processes started per second and the time to stop (kill and reap) them.
func BenchmarkStart(b *testing.B) {
	const n = 200
	cfg, err := NewConfig(ProfileHighCardinality)
	require.NoError(b, err)
	cfg.Processes, cfg.ChurnRate, cfg.IdleOnly, cfg.Seed, cfg.TempDir = n, 0, true, 1, b.TempDir()
	var starting, stopping time.Duration
	for b.Loop() {
		t0 := time.Now()
		sim, err := Start(context.Background(), cfg, Settings{})
		require.NoError(b, err)
		t1 := time.Now()
		require.NoError(b, sim.Stop(context.Background()))
		starting += t1.Sub(t0)
		stopping += time.Since(t1)
	}
	b.ReportMetric(float64(n*b.N)/starting.Seconds(), "processes/s")
	b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "ms/stop")
}
