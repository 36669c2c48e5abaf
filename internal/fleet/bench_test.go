package fleet_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	clienttypes "github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/fleet"
)

// Environment of the fleet benchmark.
const (
	// benchAgentsEnv sets how many agents BenchmarkFleet connects
	// (default 10000).
	benchAgentsEnv = "PHOENIX_FLEETBENCH_AGENTS"
	// benchChildEnv makes the test binary run the simulated agents
	// instead of the tests (set by BenchmarkFleet on its child process).
	benchChildEnv = "PHOENIX_FLEETBENCH_CHILD"
	// benchPushesEnv sets how many configurations one iteration pushes
	// (default 3).
	benchPushesEnv = "PHOENIX_FLEETBENCH_PUSHES"
	benchURLEnv    = "PHOENIX_FLEETBENCH_URL"
	benchTokenEnv  = "PHOENIX_FLEETBENCH_TOKEN"
)

// BenchmarkFleet connects N simulated OpAMP agents (opamp-go WebSocket
// clients, run in a child process so the server's memory is measured
// alone), then pushes new configurations: each push creates a deployment
// selecting every agent and measures the time until all of them report it
// applied (and until the store holds their status). It reports the
// server's RSS and Go heap with the agents connected. Connecting the
// agents is set up once per run, so run it once:
//
//	PHOENIX_FLEETBENCH_AGENTS=10000 go test -run '^$' -bench BenchmarkFleet -benchtime 1x ./internal/fleet/
func BenchmarkFleet(b *testing.B) {
	n, pushes := envInt(b, benchAgentsEnv, 10000), envInt(b, benchPushesEnv, 3)
	require.NoError(b, raiseOpenFiles())
	reg := prometheus.NewRegistry()
	e := newEnv(b, fleet.Config{StaleAfter: time.Hour, ReconcileEvery: time.Hour}, fleet.Settings{Registerer: reg})
	secret, _ := e.token(map[string]string{"bench": "yes"})

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), benchChildEnv+"=1", benchURLEnv+"="+e.wsURL(), benchTokenEnv+"="+secret, benchAgentsEnv+"="+strconv.Itoa(n))
	stdin, err := child.StdinPipe()
	require.NoError(b, err)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	require.NoError(b, child.Start())
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- child.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = child.Process.Kill()
			<-done
		}
	})

	// Every agent connects and applies the baseline configuration.
	waitApplied(b, e, n, 10*time.Minute)
	connected := time.Since(start)
	storeSynced := waitStoreWrites(b, reg, 10*time.Minute) + connected
	b.Logf("%d agents connected and applied in %s; store written after %s", n, connected.Round(time.Millisecond), storeSynced.Round(time.Millisecond))

	pipelines := []string{"process-topk-v1", "process-priority-filter-v1"}
	var total, storeTotal time.Duration
	iters := 0
	b.ResetTimer()
	for i := 0; i < b.N*pushes; i++ {
		e.deployment(fleet.DeploymentActive, pipelines[i%2], map[string]string{"bench": "yes"}, nil)
		t0 := time.Now()
		e.reconcile()
		waitApplied(b, e, n, 5*time.Minute)
		took := time.Since(t0)
		b.StopTimer()
		synced := took + waitStoreWrites(b, reg, 5*time.Minute)
		b.Logf("push %d: all %d agents applied in %s; store written after %s", i+1, n, took.Round(time.Millisecond), synced.Round(time.Millisecond))
		total += took
		storeTotal += synced
		iters++
		b.StartTimer()
	}
	b.StopTimer()

	self := procStatus("self")
	agents := procStatus(strconv.Itoa(child.Process.Pid))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(n), "agents")
	b.ReportMetric(total.Seconds()/float64(iters), "s/all-applied")
	b.ReportMetric(storeTotal.Seconds()/float64(iters), "s/store-written")
	b.ReportMetric(connected.Seconds(), "s/connect-all")
	b.ReportMetric(self["VmRSS"]/1024, "server-RSS-MiB")
	b.ReportMetric(self["VmHWM"]/1024, "server-peak-RSS-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "server-heap-MiB")
	b.ReportMetric(agents["VmRSS"]/1024, "agents-RSS-MiB")
	b.Logf("server: VmRSS %.0f MiB, VmHWM %.0f MiB, heap in use %.0f MiB, goroutines %d; agents process: VmRSS %.0f MiB",
		self["VmRSS"]/1024, self["VmHWM"]/1024, float64(ms.HeapInuse)/(1<<20), runtime.NumGoroutine(), agents["VmRSS"]/1024)
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(tb, err, name)
	require.Positive(tb, n, name)
	return n
}

// waitApplied waits until n agents are connected and run their desired
// configuration.
func waitApplied(tb testing.TB, e *env, n int, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := e.fleet().Summary(e.tenant)
		if s.Connected == n && s.Applied == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %+v, want %d applied", timeout, s, n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitStoreWrites waits until the fleet's status writes caught up and
// returns how long that took.
func waitStoreWrites(tb testing.TB, reg *prometheus.Registry, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		mfs, err := reg.Gather()
		require.NoError(tb, err)
		pending := -1.0
		for _, mf := range mfs {
			if mf.GetName() == "phoenix_fleet_store_writes_pending" {
				pending = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		require.GreaterOrEqual(tb, pending, 0.0)
		if pending == 0 {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			tb.Fatalf("store writes still pending after %s: %.0f", timeout, pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procStatus reads the kB fields of /proc/<pid>/status.
func procStatus(pid string) map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if x, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[k] = x
		}
	}
	return out
}

// raiseOpenFiles raises the soft limit of open files to the hard limit.
func raiseOpenFiles() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("read open-file limit: %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raise open-file limit: %w", err)
	}
	return nil
}

// runBenchAgents is the child process of BenchmarkFleet: it connects the
// agents, applies every configuration they receive, and exits when its
// standard input closes.
func runBenchAgents() int {
	if err := raiseOpenFiles(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench agents:", err)
		return 1
	}
	n, err := strconv.Atoi(os.Getenv(benchAgentsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench agents:", err)
		return 1
	}
	url, secret := os.Getenv(benchURLEnv), os.Getenv(benchTokenEnv)
	var connected, applied atomic.Int64
	noHeartbeat := time.Duration(0)
	for i := range n {
		c := client.NewWebSocket(nil)
		caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
			protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
		if err := c.SetCapabilities(&caps); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench agents:", err)
			return 1
		}
		if err := c.SetAgentDescription(&protobufs.AgentDescription{
			IdentifyingAttributes:    []*protobufs.KeyValue{kv("host.name", fmt.Sprintf("bench-%05d", i)), kv("service.name", "fleetbench")},
			NonIdentifyingAttributes: []*protobufs.KeyValue{kv("os.type", "linux"), kv("rack", strconv.Itoa(i%40))},
		}); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench agents:", err)
			return 1
		}
		var uid clienttypes.InstanceUid
		_, _ = rand.Read(uid[:])
		err := c.Start(context.Background(), clienttypes.StartSettings{
			OpAMPServerURL:    url,
			Header:            http.Header{"Authorization": []string{"Bearer " + secret}},
			InstanceUid:       uid,
			HeartbeatInterval: &noHeartbeat,
			Callbacks: clienttypes.Callbacks{
				OnConnect: func(context.Context) { connected.Add(1) },
				OnMessage: func(_ context.Context, msg *clienttypes.MessageData) {
					if msg.RemoteConfig == nil {
						return
					}
					applied.Add(1)
					_ = c.SetRemoteConfigStatus(&protobufs.RemoteConfigStatus{
						LastRemoteConfigHash: msg.RemoteConfig.GetConfigHash(),
						Status:               protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED,
					})
				},
			},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench agents:", err)
			return 1
		}
		if i%500 == 499 {
			// Pace the connections so the listen backlog is not flooded.
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Fprintf(os.Stderr, "fleetbench agents: %d started, %d connected\n", n, connected.Load())
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintf(os.Stderr, "fleetbench agents: exiting; %d connections, %d configurations applied\n", connected.Load(), applied.Load())
	return 0
}
