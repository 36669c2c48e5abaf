package agent

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"
)

// productionSpacing returns the longest time between two consecutive data
// points the production pipeline exported (the capture exporter of every
// collector) since captures were reset.
func productionSpacing(t *testing.T) time.Duration {
	t.Helper()
	var ts []time.Time
	for _, b := range captures.all() {
		ts = append(ts, b.ts)
	}
	slices.SortFunc(ts, time.Time.Compare)
	require.GreaterOrEqual(t, len(ts), 2, "the production pipeline exported too little to measure")
	var longest time.Duration
	for i := 1; i < len(ts); i++ {
		longest = max(longest, ts[i].Sub(ts[i-1]))
	}
	return longest
}

// waitCapturedAfter waits until the production pipeline exported a data
// point scraped after at.
func waitCapturedAfter(t *testing.T, at time.Time) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, b := range captures.all() {
			if b.ts.After(at) {
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "no production data after %s", at.Format(time.RFC3339Nano))
}

// TestAgentBadPushProductionGap pushes a configuration of each kind to an
// agent whose production pipeline (a capture exporter behind the meters)
// scrapes every interval, and watches that pipeline's data: the longest
// time between two of its data points, less the interval, is how long
// production went without data beyond its normal cadence, its gap. A bad
// push may cost at most one scrape (gap at most one interval); a rejected
// or good push none. The tolerance is a quarter interval for scheduling.
func TestAgentBadPushProductionGap(t *testing.T) {
	const (
		interval  = 5 * time.Second
		tolerance = interval / 4
		grace     = 12 * time.Second
	)
	srv := newTestServer(t, "")
	host := uniqueHost(t)
	a := runAgent(t, Config{
		ServerURL: srv.url(), StateDir: t.TempDir(), HostName: host, GracePeriod: grace,
		InitialConfig: []byte(testConfig{host: host, variant: "boot"}.yaml()),
	}, Settings{})

	prod := testConfig{host: host, variant: "gap", interval: interval.String(), capture: true}
	lkg := prod.yaml()
	lkgHash := srv.push(lkg, "")
	srv.waitStatus(lkgHash, applied, 30*time.Second)
	require.Eventually(t, func() bool { return slices.Equal(a.Status().LastKnownGoodHash, lkgHash) }, grace+10*time.Second, 50*time.Millisecond)

	freePort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return l.Addr().String()
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer held.Close()

	silent := prod
	silent.drop = true
	crashing := prod
	crashing.crashAfter = 2 * time.Second // after its first scrape
	unstartable := prod
	unstartable.otlpEndpoint = held.Addr().String()
	invalid := strings.ReplaceAll(prod.yaml(), "phoenix_meter/gap-in", "phoenix_metre/gap-in")
	good := prod
	good.otlpEndpoint = freePort()

	for _, tc := range []struct {
		name string
		cfg  string
		want protobufs.RemoteConfigStatuses
		msg  string
		// lost is how many scrapes the push may cost.
		lost int
	}{
		{"silent", silent.yaml(), failed, "no measurements within the first scrape interval", 1},
		{"crash-looping", crashing.yaml(), failed, "simulated fatal error", 1},
		{"failing to start", unstartable.yaml(), failed, "address already in use", 1},
		{"failing validation", invalid, failed, "validate collector.yaml", 0},
		{"good", good.yaml(), applied, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			captures.reset()
			waitCapturedAfter(t, time.Now().Add(-interval))
			pushed := time.Now()
			h := srv.push(tc.cfg, "")
			st := srv.waitStatus(h, tc.want, grace+30*time.Second)
			decided := time.Since(pushed)
			require.Contains(t, st.GetErrorMessage(), tc.msg)
			want := lkgHash
			if tc.want == applied {
				want = h
			}
			require.Eventually(t, func() bool { return slices.Equal(a.Status().ConfigHash, want) && a.Status().CollectorUp },
				10*time.Second, 10*time.Millisecond)
			waitCapturedAfter(t, time.Now())

			spacing := productionSpacing(t)
			gap := max(spacing-interval, 0)
			t.Logf("%s push: %s after %s; longest production spacing %s at a %s interval: gap %s",
				tc.name, tc.want, decided.Round(time.Millisecond), spacing.Round(time.Millisecond), interval, gap.Round(time.Millisecond))
			require.LessOrEqual(t, gap, time.Duration(tc.lost)*interval+tolerance,
				"the production pipeline went without data for more than %d scrape interval(s)", tc.lost)
		})
	}
}
