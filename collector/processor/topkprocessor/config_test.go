package topkprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func intPtr(v int) *int { return &v }

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		want       *Config
		wantMargin int
	}{
		{name: "", want: createDefaultConfig().(*Config), wantMargin: 5},
		{name: "full", want: &Config{
			K:          50,
			RankBy:     RankMemory,
			AlwaysKeep: "high",
			ExitMargin: intPtr(0),
			Action:     ActionMark,
			StateTTL:   10 * time.Minute,
		}, wantMargin: 0},
		{name: "derived_margin", want: &Config{
			K:          100,
			RankBy:     RankCPU,
			AlwaysKeep: "critical",
			Action:     ActionDrop,
			StateTTL:   DefaultStateTTL,
		}, wantMargin: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadConfig(t, tt.name)
			require.Equal(t, tt.want, cfg)
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.wantMargin, cfg.exitMargin())
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	require.Equal(t, 20, cfg.K)
	require.Nil(t, cfg.ExitMargin)
	require.Equal(t, 5, cfg.exitMargin())
	require.Equal(t, 5*time.Minute, cfg.StateTTL)
}

func TestExitMarginDerived(t *testing.T) {
	t.Parallel()
	for k, want := range map[int]int{1: 1, 3: 1, 4: 1, 5: 2, 20: 5, 21: 6, 10000: 2500} {
		cfg := &Config{K: k}
		require.Equal(t, want, cfg.exitMargin(), "k=%d", k)
	}
}

func TestEmptyFieldsMeanDefaults(t *testing.T) {
	t.Parallel()
	p, err := newTopK(&Config{K: 3, StateTTL: time.Minute})
	require.NoError(t, err)
	require.False(t, p.byMemory)
	require.False(t, p.mark)
	require.Equal(t, 1, p.margin)
	require.Equal(t, "critical", p.alwaysKeep.String())
}

func TestConfigValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want []string
	}{
		{name: "bad_k", want: []string{"k: must be between 1 and 10000, got 0"}},
		{name: "huge_k", want: []string{"k: must be between 1 and 10000, got 10001"}},
		{name: "bad_rank_by", want: []string{`rank_by: unknown ranking "disk" (want cpu or memory)`}},
		{name: "bad_always_keep", want: []string{`always_keep: unknown priority "vital" (want critical, high, medium or low)`}},
		{name: "bad_exit_margin", want: []string{"exit_margin: must be between 0 and 10000, got -1"}},
		{name: "bad_action", want: []string{`action: unknown action "sample" (want drop or mark)`}},
		{name: "bad_state_ttl", want: []string{"state_ttl: must be positive, got 0s"}},
		{name: "many_errors", want: []string{
			"k: must be between 1 and 10000, got -3",
			`action: unknown action "keep" (want drop or mark)`,
			"state_ttl: must be positive, got -1m0s",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadConfig(t, tt.name)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Error(t, confmap.Validate(cfg))
			_, err = newTopK(cfg)
			require.Error(t, err)
		})
	}
}
