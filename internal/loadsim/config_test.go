package loadsim

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// defaultCritical is the product's default list of critical processes.
var defaultCritical = regexp.MustCompile(`^(nginx|java|postgres|mysql|redis|kubelet|dockerd?)$`)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good, err := NewConfig(ProfileHighCardinality)
	require.NoError(t, err)
	require.Equal(t, Config{Profile: ProfileHighCardinality, Processes: 1500, ChurnRate: 0.2}, good)
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string // the messages, in order; none when valid
	}{
		{name: "defaults", change: func(*Config) {}},
		{name: "overrides at their bounds", change: func(c *Config) {
			c.Processes, c.ChurnRate, c.Duration = MaxProcesses, MaxChurnRate, time.Hour
		}},
		{name: "no churn", change: func(c *Config) { c.Processes, c.ChurnRate = 1, 0 }},
		{name: "unknown profile", change: func(c *Config) { c.Profile = "huge" },
			want: []string{`profile: unknown profile "huge" (one of realistic, high-cardinality, high-churn)`}},
		{name: "no processes", change: func(c *Config) { c.Processes = 0 },
			want: []string{"process-count: must be between 1 and 5000"}},
		{name: "too many processes", change: func(c *Config) { c.Processes = MaxProcesses + 1 },
			want: []string{"process-count: must be between 1 and 5000"}},
		{name: "negative churn", change: func(c *Config) { c.ChurnRate = -1 },
			want: []string{"churn-rate: must be between 0 and 200 per second"}},
		{name: "NaN churn", change: func(c *Config) { c.ChurnRate = math.NaN() },
			want: []string{"churn-rate: must be between 0 and 200 per second"}},
		{name: "everything wrong", change: func(c *Config) {
			*c = Config{Processes: -1, ChurnRate: 1000, Duration: -time.Second}
		}, want: []string{
			`profile: unknown profile "" (one of realistic, high-cardinality, high-churn)`,
			"process-count: must be between 1 and 5000",
			"churn-rate: must be between 0 and 200 per second",
			"duration: must not be negative (0 runs until stopped)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.change(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, strings.Join(tc.want, "\n"))
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
		})
	}

	_, err = NewConfig("nope")
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "profile", fe.Field)
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{ProfileRealistic, ProfileHighCardinality, ProfileHighChurn}, ProfileNames())
	ps := Profiles()
	require.Len(t, ps, 3)
	ps[0].Critical[0] = "changed"
	p, err := Lookup(ProfileRealistic)
	require.NoError(t, err)
	require.Equal(t, "nginx", p.Critical[0], "profiles are copies")
	require.Equal(t, []string{"nginx", "postgres", "java", "mysql", "redis", "kubelet", "dockerd"}, p.Critical)
	_, err = Lookup("nope")
	require.EqualError(t, err, `unknown profile "nope" (one of realistic, high-cardinality, high-churn)`)

	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, p.Description)
			require.True(t, p.MinProcesses <= p.Processes && p.Processes <= p.MaxProcesses)
			require.Positive(t, p.ChurnRate)
			require.Positive(t, p.MinLifetime)
			require.GreaterOrEqual(t, p.MaxLifetime, p.MinLifetime)
			require.NotEmpty(t, p.Critical)
			for _, c := range p.Critical {
				require.Regexp(t, defaultCritical, c)
			}

			// Across the largest population and a long churn: names fit the
			// kernel's, command lines are unique, a few are active.
			n := p.MaxProcesses
			names := map[string]bool{}
			cmdlines := map[string]bool{}
			active := 0
			for i := range n {
				sp := p.longRunning(1, i)
				checkSpec(t, sp)
				if i < len(p.Critical) {
					require.Equal(t, p.Critical[i], sp.name())
					require.True(t, sp.critical)
				}
				names[sp.name()] = true
				cmd := strings.Join(sp.argv, " ")
				require.False(t, cmdlines[cmd], "command line %q twice", cmd)
				cmdlines[cmd] = true
				if sp.work.busy() && i >= len(p.services) {
					active++
				}
				require.Zero(t, sp.work.life)
				require.Equal(t, sp, p.longRunning(1, i), "a restarted process keeps its command line")
			}
			require.Greater(t, len(names), 10)
			require.InDelta(t, p.ActiveShare, float64(active)/float64(n-len(p.services)), 0.05)
			for i := range 2000 {
				sp := p.shortLived(1, i)
				checkSpec(t, sp)
				require.GreaterOrEqual(t, sp.work.life, p.MinLifetime)
				require.LessOrEqual(t, sp.work.life, p.MaxLifetime)
			}
			require.NotEqual(t, p.longRunning(1, n-1), p.longRunning(2, n-1), "the seed changes the command lines")
		})
	}
}

func checkSpec(t *testing.T, sp spec) {
	t.Helper()
	name := sp.name()
	require.NotEmpty(t, name)
	require.LessOrEqual(t, len(name), MaxNameLen, name)
	require.NotContains(t, name, "/")
	w, ppid, err := decodeWorkload(sp.work.encode(4242))
	require.NoError(t, err)
	require.Equal(t, 4242, ppid)
	require.Equal(t, sp.work, w)
}

func TestDecodeWorkload(t *testing.T) {
	t.Parallel()
	w := workload{kind: kindSpiky, duty: 0.01, spikeDuty: 0.5, spikeEvery: 30 * time.Second, spikeFor: 3 * time.Second, memory: 1 << 20, period: time.Minute, life: 1500 * time.Millisecond}
	got, ppid, err := decodeWorkload(w.encode(77))
	require.NoError(t, err)
	require.Equal(t, 77, ppid)
	require.Equal(t, w, got)

	_, _, err = decodeWorkload("ppid=1&kind=dance&duty=2&life=-1s&memory=x")
	require.EqualError(t, err, `ppid "1": not a parent pid
kind "dance": unknown
duty "2": want a share between 0 and 1
life "-1s": want a duration
memory "x": want bytes, at most 16 GiB`)
}

// TestRunChildOutsideTheSimulator: a process that inherited the variable
// but was not started by the simulator refuses to become a load process.
func TestRunChildOutsideTheSimulator(t *testing.T) {
	t.Setenv(childEnv, workload{kind: kindIdle}.encode(999999999))
	code, ok := RunChild()
	require.True(t, ok)
	require.Equal(t, 2, code)
}
