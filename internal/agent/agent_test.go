package agent

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/collector/measure"
)

const (
	applied  = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	applying = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	failed   = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
)

// attrs flattens key-value attributes.
func attrMap(kvs []*protobufs.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}

// datapoints returns phoenix_pipeline_output_datapoints_total of a variant.
func datapoints(t *testing.T, variant string) float64 {
	t.Helper()
	got, err := outputDatapoints(measure.Default())
	require.NoError(t, err)
	return got[meterID{variant: variant}]
}

// waitGrowing waits until the variant's output data points grow.
func waitGrowing(t *testing.T, variant string, within time.Duration) {
	t.Helper()
	start := datapoints(t, variant)
	require.Eventually(t, func() bool { return datapoints(t, variant) > start }, within, 50*time.Millisecond,
		"%s of variant %s did not grow", outputDatapointsMetric, variant)
}

func TestAgentEnrollsAndDescribesItself(t *testing.T) {
	srv := newTestServer(t, "")
	dir := t.TempDir()
	host := uniqueHost(t)
	initial := testConfig{host: host, variant: "initial"}.yaml()
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: dir, HostName: host,
		Labels:        map[string]string{"env": "test", "team": "observability"},
		InitialConfig: []byte(initial),
	}, Settings{Version: "1.2.3"})

	require.Eventually(t, func() bool { return len(srv.messages()) > 0 }, 30*time.Second, 20*time.Millisecond)
	first := srv.messages()[0]

	uidFile, err := os.ReadFile(filepath.Join(dir, instanceUIDFile))
	require.NoError(t, err)
	uid, err := parseUUID(strings.TrimSpace(string(uidFile)))
	require.NoError(t, err)
	require.Equal(t, uid[:], first.GetInstanceUid(), "instance UID is the persisted one")
	require.Equal(t, byte(0x70), uid[6]&0xf0, "UUIDv7")

	d := first.GetAgentDescription()
	require.Equal(t, map[string]string{
		AttrServiceName:       ServiceName,
		AttrServiceInstanceID: formatUUID(uid),
		AttrHostName:          host,
	}, attrMap(d.GetIdentifyingAttributes()))
	non := attrMap(d.GetNonIdentifyingAttributes())
	require.Equal(t, "1.2.3", non[AttrServiceVersion])
	require.NotEmpty(t, non[AttrOSType])
	require.NotEmpty(t, non[AttrHostArch])
	require.Equal(t, "test", non["env"])
	require.Equal(t, "observability", non["team"])

	require.Equal(t, uint64(Capabilities), first.GetCapabilities())
	for _, c := range []protobufs.AgentCapabilities{
		protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus,
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig,
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig,
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth,
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig,
	} {
		require.NotZero(t, first.GetCapabilities()&uint64(c), "capability %s", c)
	}
	// A fresh agent has applied nothing: no hash, so the server sends a
	// configuration.
	require.Empty(t, first.GetRemoteConfigStatus().GetLastRemoteConfigHash())
	require.Equal(t, initial, string(first.GetEffectiveConfig().GetConfigMap().GetConfigMap()[CollectorConfigFile].GetBody()))
	require.True(t, first.GetHealth().GetHealthy(), "health: %v", first.GetHealth())

	st := a.Status()
	require.True(t, st.Connected)
	require.True(t, st.CollectorUp)
	require.Nil(t, st.ConfigHash)
	require.Equal(t, formatUUID(uid), st.InstanceUID)
	waitGrowing(t, "initial", 20*time.Second)
}

func TestAgentRejectedTokenKeepsRunning(t *testing.T) {
	srv := newTestServer(t, "")
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), Token: "phxa_wrong", StateDir: t.TempDir(), HostName: host,
		InitialConfig: []byte(testConfig{host: host, variant: "rejected"}.yaml()),
	}, Settings{})
	require.Eventually(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.rejected > 0
	}, 30*time.Second, 20*time.Millisecond)
	require.Empty(t, srv.messages())
	require.False(t, a.Status().Connected)
	require.True(t, a.Status().CollectorUp)
	waitGrowing(t, "rejected", 20*time.Second)
}

// TestAgentRemoteConfigLifecycle pushes good and bad configurations to one
// agent and checks the status it reports, what it runs, and the gap in
// the production pipeline's data.
func TestAgentRemoteConfigLifecycle(t *testing.T) {
	const grace = 4 * time.Second
	srv := newTestServer(t, "")
	dir := t.TempDir()
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: dir, HostName: host, GracePeriod: grace,
		InitialConfig: []byte(testConfig{host: host, variant: "boot"}.yaml()),
	}, Settings{})

	good := testConfig{host: host, variant: "prod", capture: true}.yaml()
	var goodHash []byte

	t.Run("good configuration is applied and becomes the last-known-good", func(t *testing.T) {
		pushed := time.Now()
		goodHash = srv.push(good, "remote_write_url: http://127.0.0.1:1/write\n")
		srv.waitStatus(goodHash, applied, 30*time.Second)
		t.Logf("APPLIED %s after the push", time.Since(pushed).Round(time.Millisecond))
		require.Equal(t, []protobufs.RemoteConfigStatuses{applying, applied}, srv.statuses(goodHash))
		require.Eventually(t, func() bool { return srv.effective() == good }, 10*time.Second, 20*time.Millisecond)
		require.True(t, srv.health().GetHealthy())
		require.Contains(t, srv.health().GetComponentHealthMap(), "collector")

		st := a.Status()
		require.Equal(t, goodHash, st.ConfigHash)
		require.Equal(t, good, string(st.CollectorConfig))
		require.Eventually(t, func() bool { return !a.Status().Probation }, grace+10*time.Second, 50*time.Millisecond)
		require.Equal(t, goodHash, a.Status().LastKnownGoodHash)

		s := &state{dir: dir}
		lkg, err := s.loadLKG()
		require.NoError(t, err)
		require.Equal(t, goodHash, lkg.hash)
		require.Equal(t, good, string(lkg.collector))
		require.Equal(t, "http://127.0.0.1:1/write", lkg.phoenix.RemoteWriteURL)
	})

	t.Run("configuration failing validation is rejected without a restart", func(t *testing.T) {
		switchBefore := a.Status().LastSwitch
		bad := strings.Replace(good, "phoenix_meter/prod-in", "phoenix_metre/prod-in", 2)
		h := srv.push(bad, "")
		st := srv.waitStatus(h, failed, 30*time.Second)
		require.Contains(t, st.GetErrorMessage(), "validate collector.yaml")
		require.Contains(t, st.GetErrorMessage(), "phoenix_metre")
		require.Equal(t, goodHash, a.Status().ConfigHash)
		require.True(t, a.Status().CollectorUp)
		require.Equal(t, switchBefore, a.Status().LastSwitch, "the collector was not restarted")
		waitGrowing(t, "prod", 10*time.Second)
	})

	t.Run("bad phoenix.yaml is rejected", func(t *testing.T) {
		h := srv.push(good, "remote_write_url: ftp://example.com/\n")
		st := srv.waitStatus(h, failed, 30*time.Second)
		require.Contains(t, st.GetErrorMessage(), "remote_write_url")
		require.Equal(t, goodHash, a.Status().ConfigHash)
	})

	t.Run("configuration failing to start is rolled back at once", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		bad := testConfig{host: host, variant: "prod", capture: true, otlpEndpoint: l.Addr().String()}.yaml()
		old := currentExporter(t)
		pushed := time.Now()
		h := srv.push(bad, "")
		st := srv.waitStatus(h, failed, 30*time.Second)
		failedAfter := time.Since(pushed)
		require.Contains(t, st.GetErrorMessage(), "address already in use")
		require.Eventually(t, func() bool { return slices.Equal(a.Status().ConfigHash, goodHash) && a.Status().CollectorUp },
			10*time.Second, 10*time.Millisecond)
		restoredAfter := time.Since(pushed)
		require.Less(t, restoredAfter, 10*time.Second, "rolled back within 10 s")
		require.Eventually(t, func() bool { return srv.effective() == good }, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, []protobufs.RemoteConfigStatuses{applying, failed}, srv.statuses(h))

		gap := productionGap(t, old)
		t.Logf("start failure: FAILED after %s, last-known-good running after %s, switch took %s; production data gap %s at a 1s scrape interval",
			failedAfter.Round(time.Millisecond), restoredAfter.Round(time.Millisecond), a.Status().LastSwitch.Round(time.Millisecond), gap.Round(time.Millisecond))
		// One scrape interval between two scrapes is the normal spacing;
		// a gap below three intervals loses at most one scrape to the
		// failed start, the collector restart and its first-scrape delay.
		require.Less(t, gap, 3*time.Second)
	})

	t.Run("configuration producing no measurements is rolled back", func(t *testing.T) {
		bad := testConfig{host: host, variant: "prod", capture: true, drop: true}.yaml()
		old := currentExporter(t)
		pushed := time.Now()
		h := srv.push(bad, "")
		srv.waitStatus(h, applying, 10*time.Second)
		st := srv.waitStatus(h, failed, grace+30*time.Second)
		failedAfter := time.Since(pushed)
		require.Contains(t, st.GetErrorMessage(), "no measurements within the")
		require.Contains(t, st.GetErrorMessage(), "metrics/prod")
		require.Eventually(t, func() bool { return slices.Equal(a.Status().ConfigHash, goodHash) && a.Status().CollectorUp },
			10*time.Second, 10*time.Millisecond)
		require.Less(t, time.Since(pushed), grace+10*time.Second)
		gap := productionGap(t, old)
		t.Logf("silent configuration: FAILED after %s (grace %s): %s; production data gap %s",
			failedAfter.Round(time.Millisecond), grace, st.GetErrorMessage(), gap.Round(time.Millisecond))
		// TestAgentBadPushProductionGap holds the bound; at a 1 s interval
		// two initial delays alone exceed it.
		require.Less(t, gap, grace+5*time.Second)
	})

	t.Run("configuration stopping within the grace period is rolled back", func(t *testing.T) {
		bad := testConfig{host: host, variant: "prod", crashAfter: 500 * time.Millisecond}.yaml()
		h := srv.push(bad, "")
		st := srv.waitStatus(h, failed, grace+30*time.Second)
		require.Contains(t, st.GetErrorMessage(), "within the grace period")
		require.Contains(t, st.GetErrorMessage(), "simulated fatal error")
		require.Eventually(t, func() bool { return slices.Equal(a.Status().ConfigHash, goodHash) && a.Status().CollectorUp },
			10*time.Second, 10*time.Millisecond)
		waitGrowing(t, "prod", 10*time.Second)

		// Offered again at once, it is not tried again: no APPLYING, no
		// collector switch. (The client sends a status only when it
		// changes, so the server keeps the FAILED it has.)
		switchBefore := a.Status().LastSwitch
		srv.push(bad, "")
		time.Sleep(1500 * time.Millisecond)
		// It may have been APPLIED (its first scrape is at once) before
		// it stopped; it was never APPLYING again.
		got := srv.statuses(h)
		require.Equal(t, applying, got[0], "%v", got)
		require.Equal(t, failed, got[len(got)-1], "%v", got)
		require.NotContains(t, got[1:], applying, "%v", got)
		require.Equal(t, switchBefore, a.Status().LastSwitch)
		require.Equal(t, goodHash, a.Status().ConfigHash)
	})

	t.Run("the running configuration offered again is acknowledged", func(t *testing.T) {
		n := len(srv.messages())
		srv.push(good, "remote_write_url: http://127.0.0.1:1/write\n")
		require.Eventually(t, func() bool {
			for _, m := range srv.messages()[n:] {
				if s := m.GetRemoteConfigStatus(); s != nil && slices.Equal(s.GetLastRemoteConfigHash(), goodHash) && s.GetStatus() == applied {
					return true
				}
			}
			return false
		}, 10*time.Second, 20*time.Millisecond)
	})
}

// currentExporter waits for the running collector's capture exporter to
// export a batch and returns its instance number.
func currentExporter(t *testing.T) int64 {
	t.Helper()
	captures.reset()
	var inst int64
	require.Eventually(t, func() bool {
		b := captures.all()
		if len(b) == 0 {
			return false
		}
		inst = b[len(b)-1].instance
		return true
	}, 30*time.Second, 20*time.Millisecond, "the running collector exports nothing")
	return inst
}

// productionGap returns the time between the newest data point exported
// by capture exporter instance old (the collector running before a push)
// and the oldest exported by a later instance (the collector restored
// after it).
func productionGap(t *testing.T, old int64) time.Duration {
	t.Helper()
	var lastOld, firstNew time.Time
	require.Eventually(t, func() bool {
		lastOld, firstNew = time.Time{}, time.Time{}
		for _, b := range captures.all() {
			switch {
			case b.instance == old && b.ts.After(lastOld):
				lastOld = b.ts
			case b.instance > old && (firstNew.IsZero() || b.ts.Before(firstNew)):
				firstNew = b.ts
			}
		}
		return !firstNew.IsZero()
	}, 30*time.Second, 20*time.Millisecond, "the restored collector exported nothing")
	require.False(t, lastOld.IsZero())
	return firstNew.Sub(lastOld)
}

func TestAgentCrashLoopingLastKnownGoodIsReplaced(t *testing.T) {
	const grace = 2 * time.Second
	srv := newTestServer(t, "")
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: t.TempDir(), HostName: host, GracePeriod: grace,
		InitialConfig: []byte(testConfig{host: host, variant: "boot"}.yaml()),
	}, Settings{})

	stable := testConfig{host: host, variant: "stable"}.yaml()
	stableHash := srv.push(stable, "")
	srv.waitStatus(stableHash, applied, 30*time.Second)
	require.Eventually(t, func() bool { return slices.Equal(a.Status().LastKnownGoodHash, stableHash) }, grace+10*time.Second, 50*time.Millisecond)

	// Survives its grace period, then stops every 3 s.
	flaky := testConfig{host: host, variant: "flaky", crashAfter: grace + time.Second}.yaml()
	flakyHash := srv.push(flaky, "")
	srv.waitStatus(flakyHash, applied, 30*time.Second)
	require.Eventually(t, func() bool { return slices.Equal(a.Status().LastKnownGoodHash, flakyHash) }, grace+10*time.Second, 50*time.Millisecond)

	st := srv.waitStatus(flakyHash, failed, 60*time.Second)
	require.Contains(t, st.GetErrorMessage(), "crash loop")
	require.Eventually(t, func() bool {
		s := a.Status()
		return s.CollectorUp && slices.Equal(s.ConfigHash, stableHash) && slices.Equal(s.LastKnownGoodHash, stableHash)
	}, 10*time.Second, 20*time.Millisecond)
	waitGrowing(t, "stable", 10*time.Second)
}

func TestAgentRestartRunsLastKnownGoodBeforeTheServerAnswers(t *testing.T) {
	const grace = 2 * time.Second
	dir := t.TempDir()
	host := uniqueHost(t)
	cfg := Config{
		StateDir: dir, HostName: host, GracePeriod: grace,
		InitialConfig: []byte(testConfig{host: host, variant: "boot"}.yaml()),
		Token:         testToken,
	}
	good := testConfig{host: host, variant: "survivor"}.yaml()

	srv := newTestServer(t, "")
	cfg.ServerURL = srv.url()
	first, err := New(cfg, Settings{Logger: testLogger(t), Factories: testFactories})
	require.NoError(t, err)
	ctx, kill := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- first.Run(ctx) }()
	hash := srv.push(good, "")
	srv.waitStatus(hash, applied, 30*time.Second)
	require.Eventually(t, func() bool { return slices.Equal(first.Status().LastKnownGoodHash, hash) }, grace+10*time.Second, 50*time.Millisecond)
	uid := first.Status().InstanceUID
	kill()
	require.NoError(t, <-errc)
	srv.close()

	// The new agent's server is not there yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg.ServerURL = "http://" + addr
	second := runAgent(t, cfg, Settings{})
	require.Eventually(t, func() bool { return second.Status().CollectorUp }, 30*time.Second, 10*time.Millisecond)
	st := second.Status()
	require.False(t, st.Connected)
	require.Equal(t, hash, st.ConfigHash, "runs the last-known-good")
	require.Equal(t, good, string(st.CollectorConfig))
	require.Equal(t, uid, st.InstanceUID, "keeps its identity")
	waitGrowing(t, "survivor", 20*time.Second)

	// When the server comes, the first message says what runs.
	late := newTestServer(t, addr)
	require.Eventually(t, func() bool { return len(late.messages()) > 0 }, 90*time.Second, 20*time.Millisecond)
	m := late.messages()[0]
	require.Equal(t, hash, m.GetRemoteConfigStatus().GetLastRemoteConfigHash())
	require.Equal(t, applied, m.GetRemoteConfigStatus().GetStatus())
	require.Equal(t, good, string(m.GetEffectiveConfig().GetConfigMap().GetConfigMap()[CollectorConfigFile].GetBody()))
	require.Equal(t, uid, attrMap(m.GetAgentDescription().GetIdentifyingAttributes())[AttrServiceInstanceID])
}

func TestAgentDamagedLastKnownGoodFallsBackToInitial(t *testing.T) {
	dir := t.TempDir()
	host := uniqueHost(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, lkgFile), []byte(`{"hash":"00","files":{},"checksum":"bad"}`), 0o600))
	srv := newTestServer(t, "")
	initial := testConfig{host: host, variant: "fallback"}.yaml()
	a := runAgent(t, Config{ServerURL: srv.url(), StateDir: dir, HostName: host, InitialConfig: []byte(initial)}, Settings{})
	require.Eventually(t, func() bool { return a.Status().CollectorUp }, 30*time.Second, 10*time.Millisecond)
	require.Nil(t, a.Status().ConfigHash)
	require.Equal(t, initial, string(a.Status().CollectorConfig))
}

func TestAgentReconnectsWhenTheServerReturns(t *testing.T) {
	srv := newTestServer(t, "")
	addr := srv.addr
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: t.TempDir(), HostName: host, GracePeriod: 2 * time.Second,
		InitialConfig: []byte(testConfig{host: host, variant: "steady"}.yaml()),
	}, Settings{})
	require.Eventually(t, func() bool { return a.Status().Connected && srv.connected() }, 30*time.Second, 20*time.Millisecond)

	srv.close()
	require.Eventually(t, func() bool { return !a.Status().Connected }, 30*time.Second, 20*time.Millisecond)
	// The collector keeps running while the server is away.
	waitGrowing(t, "steady", 10*time.Second)
	require.True(t, a.Status().CollectorUp)

	back := newTestServer(t, addr)
	require.Eventually(t, func() bool { return len(back.messages()) > 0 }, 90*time.Second, 50*time.Millisecond, "agent did not reconnect")
	require.True(t, a.Status().Connected)
	require.Equal(t, a.Status().InstanceUID, uuidOf(back.messages()[0].GetInstanceUid()))

	h := back.push(testConfig{host: host, variant: "after-reconnect"}.yaml(), "")
	back.waitStatus(h, applied, 30*time.Second)
}

func uuidOf(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	return formatUUID(u)
}

func TestAgentServerAssignsInstanceUID(t *testing.T) {
	srv := newTestServer(t, "")
	dir := t.TempDir()
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: dir, HostName: host,
		InitialConfig: []byte(testConfig{host: host, variant: "ident"}.yaml()),
	}, Settings{})
	require.Eventually(t, srv.connected, 30*time.Second, 20*time.Millisecond)

	newUID := [16]byte{0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x2a}
	srv.mu.Lock()
	c := srv.conns[0]
	srv.mu.Unlock()
	require.NoError(t, c.Send(context.Background(), &protobufs.ServerToAgent{
		AgentIdentification: &protobufs.AgentIdentification{NewInstanceUid: newUID[:]},
	}))
	require.Eventually(t, func() bool { return a.Status().InstanceUID == formatUUID(newUID) }, 10*time.Second, 20*time.Millisecond)
	b, err := os.ReadFile(filepath.Join(dir, instanceUIDFile))
	require.NoError(t, err)
	require.Equal(t, formatUUID(newUID), strings.TrimSpace(string(b)))
	require.Eventually(t, func() bool {
		for _, m := range srv.messages() {
			if hex.EncodeToString(m.GetInstanceUid()) == hex.EncodeToString(newUID[:]) &&
				attrMap(m.GetAgentDescription().GetIdentifyingAttributes())[AttrServiceInstanceID] == formatUUID(newUID) {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no message with the new instance UID and description")
}
