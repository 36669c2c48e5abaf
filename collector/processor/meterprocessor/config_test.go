package meterprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name    string
		want    *Config
		wantErr []string
	}{
		{
			name: "exp-42-candidate-in",
			want: &Config{
				Stage: StageInput, Experiment: "42", Variant: "candidate", Host: "host-a",
				CriticalExecutables: []string{"^(nginx|postgres|java)$"}, ActiveWindow: 30 * time.Second,
			},
		},
		{
			name: "exp-42-candidate",
			want: &Config{Stage: StageOutput, Experiment: "42", Variant: "candidate", ActiveWindow: DefaultActiveWindow},
		},
		{
			name: "active",
			want: &Config{Stage: StageOutput, Variant: "active", ActiveWindow: DefaultActiveWindow},
		},
		{name: "bad_regexp", wantErr: []string{"critical_executables[1]: invalid regexp"}},
		{name: "bad_variant", wantErr: []string{"variant: must match"}},
		{name: "bad_stage", wantErr: []string{"stage: must be input or output"}},
		{name: "missing_stage", wantErr: []string{"stage: must be input or output"}},
		{name: "missing_variant", wantErr: []string{"variant: must match"}},
		{name: "bad_window", wantErr: []string{"active_window: must be > 0"}},
		{name: "bad_experiment", wantErr: []string{"experiment: must match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sub, err := cm.Sub(component.NewIDWithName(componentType, tt.name).String())
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				require.Equal(t, tt.want, cfg)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.Equal(t, DefaultActiveWindow, cfg.ActiveWindow)
	// stage and variant are required.
	err := cfg.Validate()
	require.ErrorContains(t, err, "stage: must be input or output")
	require.ErrorContains(t, err, "variant: must match")
}

func TestValidateReportsEveryKey(t *testing.T) {
	t.Parallel()
	cfg := &Config{Stage: "x", Variant: "", CriticalExecutables: []string{"ok", "[", "("}, ActiveWindow: -time.Second}
	err := cfg.Validate()
	for _, w := range []string{
		"stage: must be input or output", "variant: must match",
		"critical_executables[1]: invalid regexp", "critical_executables[2]: invalid regexp",
		"active_window: must be > 0",
	} {
		require.ErrorContains(t, err, w)
	}
	require.NotContains(t, err.Error(), "critical_executables[0]")
}
