package agent

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOpAMPURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "http://phoenix:8080", want: "ws://phoenix:8080/v1/opamp"},
		{in: "https://phoenix.example.com", want: "wss://phoenix.example.com/v1/opamp"},
		{in: "https://phoenix.example.com/", want: "wss://phoenix.example.com/v1/opamp"},
		{in: "http://host/base/", want: "ws://host/base/v1/opamp"},
		{in: "ws://host:1/v1/opamp", want: "ws://host:1/v1/opamp"},
		{in: "wss://host/v1/opamp/", want: "wss://host/v1/opamp"},
		{in: "http://host:8080?x=1", want: "ws://host:8080/v1/opamp"},
		{in: "ftp://host", err: "scheme must be"},
		{in: "phoenix:8080", err: "scheme must be"},
		{in: "http://", err: "no host"},
		{in: "http://%zz", err: "parse"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := OpAMPURL(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ServerURL: "http://phoenix:8080", Token: "phxa_x"}
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		name string
		edit func(*Config)
		err  []string
	}{
		{"no server", func(c *Config) { c.ServerURL = "" }, []string{"server: required"}},
		{"bad server", func(c *Config) { c.ServerURL = "tcp://x" }, []string{"server: ", "scheme"}},
		{"no token", func(c *Config) { c.Token = "" }, []string{"token: required"}},
		{"token with space", func(c *Config) { c.Token = "phxa_ x" }, []string{"token: must not contain white space"}},
		{"empty label key", func(c *Config) { c.Labels = map[string]string{"": "v"} }, []string{"label: empty key"}},
		{"reserved label", func(c *Config) { c.Labels = map[string]string{"host.name": "v"} }, []string{"label[host.name]: reserved"}},
		{"negative grace", func(c *Config) { c.GracePeriod = -time.Second }, []string{"grace-period: must not be negative"}},
		{"negative start timeout", func(c *Config) { c.StartTimeout = -1 }, []string{"start-timeout: must not be negative"}},
		{"several", func(c *Config) { c.ServerURL, c.Token = "", "" }, []string{"server: required", "token: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, e := range tc.err {
				require.ErrorContains(t, err, e)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{ServerURL: "http://x", Token: "t"}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultStateDir, c.StateDir)
	require.Equal(t, DefaultGracePeriod, c.GracePeriod)
	require.Equal(t, DefaultStartTimeout, c.StartTimeout)
	h, _ := os.Hostname()
	require.Equal(t, h, c.HostName)
}

func TestParsePhoenixConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want PhoenixConfig
		err  string
	}{
		{name: "empty", in: "", want: PhoenixConfig{}},
		{name: "url", in: "remote_write_url: https://p/prometheus/api/v1/write\n", want: PhoenixConfig{RemoteWriteURL: "https://p/prometheus/api/v1/write"}},
		{name: "interval", in: "remote_write_url: http://p/w\nremote_write_interval: 15s\n", want: PhoenixConfig{RemoteWriteURL: "http://p/w", RemoteWriteInterval: 15 * time.Second}},
		{name: "unknown keys are ignored", in: "remote_write_url: http://p/w\nfuture: 1\n", want: PhoenixConfig{RemoteWriteURL: "http://p/w"}},
		{name: "bad scheme", in: "remote_write_url: ftp://p/w\n", err: "remote_write_url: scheme must be http or https"},
		{name: "no host", in: "remote_write_url: http:///w\n", err: "remote_write_url: no host"},
		{name: "short interval", in: "remote_write_interval: 100ms\n", err: "remote_write_interval: must be at least 1s"},
		{name: "bad interval", in: "remote_write_interval: soon\n", err: "decode phoenix.yaml"},
		{name: "not a mapping", in: "- a\n", err: "decode phoenix.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePhoenixConfig([]byte(tc.in))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, DefaultRemoteWriteInterval, PhoenixConfig{}.interval())
}

func TestMeasuredPipelines(t *testing.T) {
	cfg, err := BaselineConfig("h1")
	require.NoError(t, err)
	m, err := measuredPipelines(cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]measured{"metrics/active": {
		out: meterID{variant: "active"}, in: meterID{variant: "active"}, hasIn: true,
		interval: 10 * time.Second, delay: 0, settle: settleTime,
	}}, m, "the batch processor after the output meter does not count; Phoenix scrapes at once")
	require.Equal(t, 10*time.Second, scrapeInterval(m))

	m, err = measuredPipelines([]byte(testConfig{host: "h", variant: "v1", drop: true}.yaml()))
	require.NoError(t, err)
	require.Equal(t, map[string]measured{"metrics/v1": {
		out: meterID{variant: "v1"}, in: meterID{variant: "v1"}, hasIn: true,
		interval: time.Second, delay: 0, settle: settleTime,
	}}, m)

	m, err = measuredPipelines([]byte(`
receivers:
  hostmetrics/slow: {collection_interval: 30s, initial_delay: 0s}
  hostmetrics/fast: {collection_interval: 5s, initial_delay: 2s}
  otlp: {}
processors:
  batch/a: {timeout: 3s}
  batch/b: {}
  phoenix_meter/in: {stage: input, experiment: e, variant: c}
  phoenix_meter/out: {stage: output, experiment: e, variant: c}
service:
  pipelines:
    metrics/a: {receivers: [hostmetrics/slow, hostmetrics/fast], processors: [batch/a, phoenix_meter/in, batch/b, phoenix_meter/out], exporters: [e]}
    metrics/b: {receivers: [otlp], processors: [batch/a, phoenix_meter/out], exporters: [e]}
`))
	require.NoError(t, err)
	require.Equal(t, map[string]measured{
		"metrics/a": {out: meterID{"e", "c"}, in: meterID{"e", "c"}, hasIn: true,
			interval: 5 * time.Second, delay: 2 * time.Second, settle: settleTime + defaultBatchTimeout},
		"metrics/b": {out: meterID{"e", "c"}, settle: settleTime + 3*time.Second},
	}, m, "the fastest receiver sets the interval; only batches after the input meter count")
	require.Equal(t, 5*time.Second, scrapeInterval(m))

	m, err = measuredPipelines([]byte(`
processors:
  phoenix_meter/x: {stage: input, variant: x}
service:
  pipelines:
    metrics: {receivers: [r], processors: [phoenix_meter/x], exporters: [e]}
    traces/t: {receivers: [r], processors: [phoenix_meter/y], exporters: [e]}
`))
	require.NoError(t, err)
	require.Empty(t, m, "input stages and non-metrics pipelines are not measured pipelines")

	_, err = measuredPipelines([]byte("service: [\n"))
	require.ErrorContains(t, err, "decode collector.yaml")
}

func TestRemoteConfigErrors(t *testing.T) {
	c := newRemoteConfig([]byte{1}, nil, nil)
	require.ErrorContains(t, c.err, "collector.yaml: missing or empty")
	c = newRemoteConfig([]byte{1}, []byte(testConfig{host: "h", variant: "v"}.yaml()), []byte("remote_write_interval: 1ms"))
	require.ErrorContains(t, c.err, "remote_write_interval")
	c = newRemoteConfig([]byte{1}, []byte(testConfig{host: "h", variant: "v"}.yaml()), nil)
	require.NoError(t, c.err)
}

func TestSilentPipelines(t *testing.T) {
	meters := map[string]measured{"metrics/a": {out: meterID{variant: "a"}}, "metrics/b": {out: meterID{experiment: "e", variant: "candidate"}}}
	base := map[meterID]float64{{variant: "a"}: 10}
	require.Equal(t, []string{"metrics/a", "metrics/b"}, silentPipelines(meters, base, map[meterID]float64{{variant: "a"}: 10}))
	require.Equal(t, []string{"metrics/b"}, silentPipelines(meters, base, map[meterID]float64{{variant: "a"}: 11}))
	require.Empty(t, silentPipelines(meters, base, map[meterID]float64{{variant: "a"}: 11, {experiment: "e", variant: "candidate"}: 1}))
}

func TestStatePersistsUIDAndLastKnownGood(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := openState(dir)
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	uid, err := s.instanceUID()
	require.NoError(t, err)
	again, err := s.instanceUID()
	require.NoError(t, err)
	require.Equal(t, uid, again)
	other, err := newUUIDv7(time.Now())
	require.NoError(t, err)
	require.NotEqual(t, uid, other)

	lkg, err := s.loadLKG()
	require.NoError(t, err)
	require.Nil(t, lkg)

	c := newRemoteConfig([]byte{0xab, 0xcd}, []byte(testConfig{host: "h", variant: "v"}.yaml()), []byte("remote_write_url: http://p/w\n"))
	require.NoError(t, c.err)
	require.NoError(t, s.saveLKG(c))
	fi, err = os.Stat(filepath.Join(dir, lkgFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file left: %s", e.Name())
	}

	got, err := s.loadLKG()
	require.NoError(t, err)
	require.Equal(t, c.hash, got.hash)
	require.Equal(t, c.collector, got.collector)
	require.Equal(t, c.phoenixRaw, got.phoenixRaw)
	require.Equal(t, "http://p/w", got.phoenix.RemoteWriteURL)
	require.Equal(t, c.meters, got.meters)
	require.Contains(t, got.meters, "metrics/v")

	// A damaged file is refused.
	path := filepath.Join(dir, lkgFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "metrics/v", "metrics/w", 1)), 0o600))
	_, err = s.loadLKG()
	require.ErrorContains(t, err, "checksum mismatch")
	require.NoError(t, os.WriteFile(path, []byte("{"), 0o600))
	_, err = s.loadLKG()
	require.ErrorContains(t, err, "decode last-known-good")

	require.NoError(t, os.WriteFile(filepath.Join(dir, instanceUIDFile), []byte("nonsense"), 0o600))
	_, err = s.instanceUID()
	require.ErrorContains(t, err, "invalid UUID")
}

func TestUUIDFormat(t *testing.T) {
	u, err := newUUIDv7(time.UnixMilli(0x0190_0000_0001))
	require.NoError(t, err)
	s := formatUUID(u)
	require.Regexp(t, `^01900000-0001-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, s)
	back, err := parseUUID(s)
	require.NoError(t, err)
	require.Equal(t, u, back)
	_, err = parseUUID("00000000-0000-0000-0000-000000000000")
	require.ErrorContains(t, err, "all zero")
}

func TestParseLabelsAndToken(t *testing.T) {
	l, err := parseLabels([]string{"env=prod", "team=a=b", "empty="})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"env": "prod", "team": "a=b", "empty": ""}, l)
	_, err = parseLabels([]string{"novalue"})
	require.ErrorContains(t, err, `label: "novalue" is not k=v`)
	_, err = parseLabels([]string{"a=1", "a=2"})
	require.ErrorContains(t, err, "given twice")

	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("phxa_file\n"), 0o600))
	for _, tc := range []struct {
		flag, file, env, want, err string
	}{
		{flag: "phxa_flag", want: "phxa_flag"},
		{flag: "phxa_flag", env: "phxa_env", want: "phxa_env"},
		{flag: "phxa_flag", env: "phxa_env", file: file, want: "phxa_file"},
		{file: filepath.Join(t.TempDir(), "missing"), err: "token-file"},
		{err: "token: required"},
	} {
		got, err := resolveToken(tc.flag, tc.file, tc.env)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}

func TestCommandFlags(t *testing.T) {
	cmd := NewCommand()
	for _, f := range []string{"server", "token", "token-file", "label", "state-dir", "host-name", "grace-period", "start-timeout", "log-level", "log-format"} {
		require.NotNil(t, cmd.Flags().Lookup(f), "flag --%s", f)
	}
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--server", "http://127.0.0.1:1", "--label", "bad"})
	t.Setenv(TokenEnv, "phxa_env")
	require.ErrorContains(t, cmd.Execute(), `label: "bad" is not k=v`)

	cmd = NewCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--server", "ftp://x"})
	require.ErrorContains(t, cmd.Execute(), "server: ")
}

func TestAgentShutdownWithoutRun(t *testing.T) {
	a, err := New(Config{ServerURL: "http://127.0.0.1:1", Token: "t", StateDir: t.TempDir()}, Settings{})
	require.NoError(t, err)
	require.NoError(t, a.Shutdown(t.Context()))
	require.NoError(t, a.Shutdown(t.Context()))
	require.NoError(t, a.Run(t.Context()), "Run after Shutdown returns at once")
	require.Error(t, a.Run(t.Context()), "an Agent runs once")
	require.Equal(t, Status{}, a.Status())
}

func TestAgentBadInitialConfigFailsRun(t *testing.T) {
	a, err := New(Config{ServerURL: "http://127.0.0.1:1", Token: "t", StateDir: t.TempDir(), HostName: "h",
		InitialConfig: []byte("receivers: {nope: {}}\n")}, Settings{Logger: testLogger(t)})
	require.NoError(t, err)
	require.ErrorContains(t, a.Run(t.Context()), "start the initial configuration")
}

// TestLatePipelines follows the first scrape interval of a new collector:
// when each measured pipeline counts as producing nothing.
func TestLatePipelines(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	withIn := measured{out: meterID{variant: "a"}, in: meterID{variant: "a-in"}, hasIn: true, interval: 5 * time.Second, delay: time.Second, settle: settleTime}
	noIn := measured{out: meterID{variant: "b"}, interval: 5 * time.Second, delay: time.Second, settle: settleTime}
	unknown := measured{out: meterID{variant: "c"}, hasIn: true, in: meterID{variant: "c-in"}, settle: settleTime}
	type poll struct {
		at   time.Duration
		in   float64 // input counter of every input meter
		late []string
	}
	for _, tc := range []struct {
		name  string
		m     measured
		polls []poll
	}{
		{"input meter: late once the second scrape has settled", withIn, []poll{
			{at: 500 * time.Millisecond, in: 0},
			{at: 1200 * time.Millisecond, in: 10},                      // first scrape
			{at: 6400 * time.Millisecond, in: 10},                      // past delay+interval+settle: still waiting for the second
			{at: 6600 * time.Millisecond, in: 20},                      // second scrape seen
			{at: 7000 * time.Millisecond, in: 20},                      // settling
			{at: 7100 * time.Millisecond, in: 30, late: []string{"p"}}, // settled
		}},
		{"input meter that sees nothing: late after one interval past the first scrape", withIn, []poll{
			{at: 6400 * time.Millisecond, in: 0},
			{at: 6500 * time.Millisecond, in: 0, late: []string{"p"}},
		}},
		{"no input meter: late after one interval past the first scrape", noIn, []poll{
			{at: 1200 * time.Millisecond, in: 10},
			{at: 6400 * time.Millisecond, in: 20},
			{at: 6500 * time.Millisecond, in: 20, late: []string{"p"}},
		}},
		{"no collection_interval: only the grace period judges", unknown, []poll{
			{at: time.Second, in: 10},
			{at: 2 * time.Second, in: 20},
			{at: time.Hour, in: 30},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := &generation{
				cfg:     &remoteConfig{meters: map[string]measured{"p": tc.m}},
				started: t0,
				inputs:  map[string]*inputWatch{"p": {}},
			}
			for _, p := range tc.polls {
				in := map[meterID]float64{tc.m.in: p.in}
				require.Equal(t, p.late, gen.late([]string{"p"}, in, at(p.at)), "poll at %s", p.at)
			}
		})
	}
}
