package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"gopkg.in/yaml.v3"

	"github.com/phoenix/platform/collector"
)

const testToken = "phxa_testtoken"

// testServer is a minimal OpAMP server on loopback: it records what the
// agent sends and pushes configurations on request.
type testServer struct {
	t    *testing.T
	http *httptest.Server
	addr string

	mu       sync.Mutex
	conns    []types.Connection
	msgs     []*protobufs.AgentToServer
	rejected int
	closed   bool
	sendMu   sync.Mutex
}

// newTestServer starts a server on addr ("" = a free port).
func newTestServer(t *testing.T, addr string) *testServer {
	t.Helper()
	s := &testServer{t: t}
	srv := server.New(nil)
	handler, _, err := srv.Attach(server.Settings{Callbacks: types.Callbacks{
		OnConnecting: func(r *http.Request) types.ConnectionResponse {
			if r.Header.Get("Authorization") != "Bearer "+testToken {
				s.mu.Lock()
				s.rejected++
				s.mu.Unlock()
				return types.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusUnauthorized}
			}
			return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
				OnConnected: func(_ context.Context, c types.Connection) {
					s.mu.Lock()
					defer s.mu.Unlock()
					if s.closed {
						_ = c.Disconnect()
						return
					}
					s.conns = append(s.conns, c)
				},
				OnMessage: func(_ context.Context, _ types.Connection, m *protobufs.AgentToServer) *protobufs.ServerToAgent {
					s.mu.Lock()
					s.msgs = append(s.msgs, m)
					s.mu.Unlock()
					return nil
				},
				OnConnectionClose: func(c types.Connection) {
					s.mu.Lock()
					s.conns = slices.DeleteFunc(s.conns, func(x types.Connection) bool { return x == c })
					s.mu.Unlock()
				},
			}}
		},
	}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc(OpAMPPath, handler)
	hs := httptest.NewUnstartedServer(mux)
	if addr != "" {
		var l net.Listener
		require.Eventually(t, func() bool {
			l, err = net.Listen("tcp", addr)
			return err == nil
		}, 10*time.Second, 50*time.Millisecond, "listen on %s", addr)
		_ = hs.Listener.Close()
		hs.Listener = l
	}
	hs.Start()
	s.http = hs
	s.addr = hs.Listener.Addr().String()
	t.Cleanup(s.close)
	return s
}

// url is the server URL as the agent is given it.
func (s *testServer) url() string { return "http://" + s.addr }

// close drops every connection and stops listening.
func (s *testServer) close() {
	s.mu.Lock()
	s.closed = true
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Disconnect()
	}
	s.http.Close()
}

func (s *testServer) messages() []*protobufs.AgentToServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *testServer) connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0
}

// push sends a remote configuration to every connected agent and returns
// its hash.
func (s *testServer) push(collectorYAML, phoenixYAML string) []byte {
	s.t.Helper()
	h := sha256.Sum256([]byte(collectorYAML + "\x00" + phoenixYAML))
	files := map[string]*protobufs.AgentConfigFile{
		CollectorConfigFile: {Body: []byte(collectorYAML), ContentType: ConfigContentType},
	}
	if phoenixYAML != "" {
		files[PhoenixConfigFile] = &protobufs.AgentConfigFile{Body: []byte(phoenixYAML), ContentType: ConfigContentType}
	}
	msg := &protobufs.ServerToAgent{RemoteConfig: &protobufs.AgentRemoteConfig{
		Config:     &protobufs.AgentConfigMap{ConfigMap: files},
		ConfigHash: h[:],
	}}
	require.Eventually(s.t, s.connected, 30*time.Second, 20*time.Millisecond, "no agent connected")
	s.mu.Lock()
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for _, c := range conns {
		require.NoError(s.t, c.Send(context.Background(), msg))
	}
	return h[:]
}

// statusOf returns the latest remote config status the agent reported for
// hash, nil if none.
func (s *testServer) statusOf(hash []byte) *protobufs.RemoteConfigStatus {
	var last *protobufs.RemoteConfigStatus
	for _, m := range s.messages() {
		if st := m.GetRemoteConfigStatus(); st != nil && slices.Equal(st.GetLastRemoteConfigHash(), hash) {
			last = st
		}
	}
	return last
}

// statuses returns every status reported for hash, in order.
func (s *testServer) statuses(hash []byte) []protobufs.RemoteConfigStatuses {
	var out []protobufs.RemoteConfigStatuses
	for _, m := range s.messages() {
		if st := m.GetRemoteConfigStatus(); st != nil && slices.Equal(st.GetLastRemoteConfigHash(), hash) {
			if len(out) == 0 || out[len(out)-1] != st.GetStatus() {
				out = append(out, st.GetStatus())
			}
		}
	}
	return out
}

// waitStatus waits until the agent reports want for hash.
func (s *testServer) waitStatus(hash []byte, want protobufs.RemoteConfigStatuses, within time.Duration) *protobufs.RemoteConfigStatus {
	s.t.Helper()
	var got *protobufs.RemoteConfigStatus
	require.Eventually(s.t, func() bool {
		got = s.statusOf(hash)
		return got.GetStatus() == want
	}, within, 20*time.Millisecond, "status %s never reported; got %v", want, s.statuses(hash))
	return got
}

// effective returns the latest effective collector configuration reported.
func (s *testServer) effective() string {
	var last string
	for _, m := range s.messages() {
		if f := m.GetEffectiveConfig().GetConfigMap().GetConfigMap()[CollectorConfigFile]; f != nil {
			last = string(f.GetBody())
		}
	}
	return last
}

// health returns the latest health reported.
func (s *testServer) health() *protobufs.ComponentHealth {
	var last *protobufs.ComponentHealth
	for _, m := range s.messages() {
		if h := m.GetHealth(); h != nil {
			last = h
		}
	}
	return last
}

// testConfig describes a hand-built collector configuration.
type testConfig struct {
	host     string
	variant  string
	interval string
	// process adds the process scraper.
	process bool
	// drop puts a filter dropping every metric before the meters.
	drop bool
	// otlpEndpoint adds an OTLP gRPC receiver in its own pipeline.
	otlpEndpoint string
	// capture exports the measured pipeline to the capture exporter.
	capture bool
	// crashAfter adds a receiver that reports a fatal error after it.
	crashAfter time.Duration
}

// yaml renders the configuration.
func (c testConfig) yaml() string {
	if c.interval == "" {
		c.interval = "1s"
	}
	scrapers := map[string]any{"cpu": map[string]any{}, "memory": map[string]any{}}
	if c.process {
		scrapers["process"] = map[string]any{
			"mute_process_name_error": true, "mute_process_exe_error": true,
			"mute_process_io_error": true, "mute_process_user_error": true,
		}
	}
	receivers := map[string]any{"hostmetrics": map[string]any{"collection_interval": c.interval, "initial_delay": "0s", "scrapers": scrapers}}
	in, out := "phoenix_meter/"+c.variant+"-in", "phoenix_meter/"+c.variant
	processors := map[string]any{
		in:  map[string]any{"stage": "input", "variant": c.variant, "host": c.host},
		out: map[string]any{"stage": "output", "variant": c.variant, "host": c.host},
	}
	chain := []string{in, out}
	if c.drop {
		processors["filter/drop"] = map[string]any{"error_mode": "ignore", "metrics": map[string]any{"metric": []string{`name != ""`}}}
		chain = append([]string{"filter/drop"}, chain...)
	}
	exporters := map[string]any{"nop": map[string]any{}}
	exp := "nop"
	if c.capture {
		exporters["capture"] = map[string]any{}
		exp = "capture"
	}
	pipelines := map[string]any{"metrics/" + c.variant: map[string]any{
		"receivers": []string{"hostmetrics"}, "processors": chain, "exporters": []string{exp},
	}}
	if c.otlpEndpoint != "" {
		receivers["otlp"] = map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": c.otlpEndpoint}}}
		pipelines["metrics/otlp"] = map[string]any{"receivers": []string{"otlp"}, "exporters": []string{"nop"}}
	}
	if c.crashAfter > 0 {
		receivers["crasher"] = map[string]any{"after": c.crashAfter.String()}
		pipelines["metrics/crasher"] = map[string]any{"receivers": []string{"crasher"}, "exporters": []string{"nop"}}
	}
	doc := map[string]any{
		"receivers":  receivers,
		"processors": processors,
		"exporters":  exporters,
		"service": map[string]any{
			"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}, "logs": map[string]any{"level": "warn"}},
			"pipelines": pipelines,
		},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// capture records, per collector instance, the newest data point time of
// every batch the capture exporter receives.
type captureLog struct {
	mu      sync.Mutex
	next    atomic.Int64
	batches []captured
}

type captured struct {
	instance int64
	ts       time.Time
}

var captures = &captureLog{}

func (l *captureLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = nil
}

func (l *captureLog) all() []captured {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

type captureExporter struct {
	instance int64
}

func (e *captureExporter) Start(context.Context, component.Host) error { return nil }
func (e *captureExporter) Shutdown(context.Context) error              { return nil }
func (e *captureExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{}
}

func (e *captureExporter) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	var newest pcommon.Timestamp
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				for d := 0; d < dps.Len(); d++ {
					newest = max(newest, dps.At(d).Timestamp())
				}
			}
		}
	}
	if newest == 0 {
		return nil
	}
	captures.mu.Lock()
	captures.batches = append(captures.batches, captured{instance: e.instance, ts: newest.AsTime()})
	captures.mu.Unlock()
	return nil
}

func captureFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType("capture"),
		func() component.Config { return &struct{}{} },
		exporter.WithMetrics(func(context.Context, exporter.Settings, component.Config) (exporter.Metrics, error) {
			return &captureExporter{instance: captures.next.Add(1)}, nil
		}, component.StabilityLevelDevelopment))
}

// crasherConfig is the config of the crasher receiver.
type crasherConfig struct {
	After time.Duration `mapstructure:"after"`
}

type crasher struct {
	after time.Duration
	stop  chan struct{}
	wg    sync.WaitGroup
}

func (c *crasher) Start(_ context.Context, host component.Host) error {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-time.After(c.after):
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(errors.New("crasher: simulated fatal error")))
		case <-c.stop:
		}
	}()
	return nil
}

func (c *crasher) Shutdown(context.Context) error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	return nil
}

func crasherFactory() receiver.Factory {
	return receiver.NewFactory(component.MustNewType("crasher"),
		func() component.Config { return &crasherConfig{After: time.Second} },
		receiver.WithMetrics(func(_ context.Context, _ receiver.Settings, cfg component.Config, _ consumer.Metrics) (receiver.Metrics, error) {
			return &crasher{after: cfg.(*crasherConfig).After, stop: make(chan struct{})}, nil
		}, component.StabilityLevelDevelopment))
}

// testFactories are the distribution plus the capture exporter and the
// crasher receiver.
func testFactories() (otelcol.Factories, error) {
	f, err := collector.Components()
	if err != nil {
		return f, err
	}
	cf := captureFactory()
	f.Exporters[cf.Type()] = cf
	rf := crasherFactory()
	f.Receivers[rf.Type()] = rf
	return f, nil
}

// testLogger logs to the test output when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runAgent builds an agent and runs it until the test ends.
func runAgent(t *testing.T, cfg Config, set Settings) *Agent {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if set.Logger == nil {
		set.Logger = testLogger(t)
	}
	if set.Factories == nil {
		set.Factories = testFactories
	}
	a, err := New(cfg, set)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, a.Shutdown(ctx))
		require.NoError(t, <-errc)
	})
	return a
}

// uniqueHost returns a host name of its own for a test, so its
// measurements do not mix with another test's.
func uniqueHost(t *testing.T) string {
	return fmt.Sprintf("agent-test-%d-%d", os.Getpid(), hostSeq.Add(1))
}

var hostSeq atomic.Int64
