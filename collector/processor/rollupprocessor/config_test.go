package rollupprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/phoenix/platform/collector/internal/proc"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want *Config
	}{
		{name: "", want: &Config{GroupBy: GroupByExecutable, KeepPriority: proc.High, StateTTL: 5 * time.Minute}},
		{name: "priority", want: &Config{GroupBy: GroupByPriority, KeepPriority: proc.Medium, StateTTL: 10 * time.Minute}},
		{name: "other", want: &Config{GroupBy: GroupByOther, KeepPriority: proc.Critical, StateTTL: 30 * time.Second}},
	}
	for _, tt := range tests {
		t.Run("name="+tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg)
			require.NoError(t, confmap.Validate(cfg))
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		wantErr []string
	}{
		{name: "bad_group_by", wantErr: []string{`group_by: must be one of executable, priority or other, got "pid"`}},
		{name: "bad_ttl", wantErr: []string{"state_ttl: must be positive, got 0s"}},
		{name: "negative_ttl", wantErr: []string{"state_ttl: must be positive, got -1m0s"}},
		{name: "all_bad", wantErr: []string{`group_by: must be one of executable, priority or other, got ""`, "state_ttl: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			err = cfg.Validate()
			require.Error(t, err)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

func TestLoadConfigBadPriority(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(t, "bad_priority")
	require.Error(t, err)
	require.ErrorContains(t, err, "keep_priority")
	require.ErrorContains(t, err, `unknown priority "urgent"`)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		return Config{GroupBy: GroupByExecutable, KeepPriority: proc.High, StateTTL: time.Minute}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "keep low", mutate: func(c *Config) { c.KeepPriority = proc.Low }},
		{name: "keep critical", mutate: func(c *Config) { c.KeepPriority = proc.Critical }},
		{name: "keep unknown", mutate: func(c *Config) { c.KeepPriority = proc.Unknown }, wantErr: `keep_priority: must be one of low, medium, high or critical, got ""`},
		{name: "keep out of range", mutate: func(c *Config) { c.KeepPriority = 9 }, wantErr: `keep_priority: must be one of low, medium, high or critical, got "priority(9)"`},
		{name: "group_by case", mutate: func(c *Config) { c.GroupBy = "Executable" }, wantErr: `group_by: must be one of executable, priority or other, got "Executable"`},
		{name: "ttl zero", mutate: func(c *Config) { c.StateTTL = 0 }, wantErr: "state_ttl: must be positive, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.mutate(&c)
			before := c
			err := c.Validate()
			require.Equal(t, before, c, "Validate must not modify the config")
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestDefaultConfigValid(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	// An empty section keeps the defaults.
	require.NoError(t, confmap.New().Unmarshal(cfg))
	require.Equal(t, &Config{GroupBy: DefaultGroupBy, KeepPriority: DefaultKeepPriority, StateTTL: DefaultStateTTL}, cfg)
}
