package adaptiveprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactoryWithRegisterer(nil).CreateDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	require.Equal(t, &Config{
		RankBy:     "cpu",
		AlwaysKeep: "critical",
		StateTTL:   5 * time.Minute,
		Label:      true,
		Modes: []Mode{
			{Name: "relaxed"},
			{
				Name: "tight", DropBelow: "medium", TopK: 20,
				Enter: Thresholds{ProcessCount: 500, CPUPercent: 80},
				Exit:  Thresholds{ProcessCount: 400, CPUPercent: 60},
			},
		},
	}, cfg)
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name    string
		want    *Config
		wantErr []string
	}{
		{name: "", want: createDefaultConfig()},
		{
			name: "custom",
			want: &Config{
				RankBy: "memory", AlwaysKeep: "high", CPUCount: 8, StateTTL: 2 * time.Minute,
				Modes: []Mode{
					{Name: "calm"},
					{
						Name: "busy", DropBelow: "low", TopK: 100,
						Enter: Thresholds{ProcessCount: 300}, Exit: Thresholds{ProcessCount: 250},
					},
					{
						Name: "emergency", DropBelow: "high", TopK: 10,
						Enter: Thresholds{ProcessCount: 800, CPUPercent: 90},
						Exit:  Thresholds{ProcessCount: 600, CPUPercent: 70.5},
					},
				},
			},
		},
		{
			name:    "exit_not_below_enter",
			wantErr: []string{"modes[1].exit.process_count: must be below enter.process_count (500), got 500"},
		},
		{
			name:    "first_with_thresholds",
			wantErr: []string{"modes[0]: the first mode cannot have enter/exit thresholds"},
		},
		{
			name:    "duplicate_names",
			wantErr: []string{`modes[1].name: "relaxed" is already the name of modes[0]`},
		},
		{name: "empty_name", wantErr: []string{"modes[1].name: must not be empty"}},
		{name: "bad_rank_by", wantErr: []string{`rank_by: must be "cpu" or "memory", got "disk"`}},
		{name: "bad_always_keep", wantErr: []string{`always_keep: unknown priority "vip"`}},
		{name: "bad_drop_below", wantErr: []string{`modes[1].drop_below: unknown priority "important"`}},
		{
			name:    "no_enter",
			wantErr: []string{"modes[1].enter: at least one of process_count, cpu_percent must be set"},
		},
		{
			name:    "missing_exit",
			wantErr: []string{"modes[1].exit.cpu_percent: required when enter.cpu_percent is set"},
		},
		{
			name:    "exit_without_enter",
			wantErr: []string{"modes[1].exit.cpu_percent: set but enter.cpu_percent is not"},
		},
		{
			name: "negative",
			wantErr: []string{
				"cpu_count: must not be negative, got -2",
				"state_ttl: must be positive, got 0s",
				"modes[1].top_k: must not be negative, got -1",
				"modes[1].enter.process_count: must not be negative, got -5",
			},
		},
		{name: "no_modes", wantErr: []string{"modes: at least one mode is required"}},
	}
	for _, tt := range tests {
		t.Run("phoenix_adaptive/"+tt.name, func(t *testing.T) {
			id := component.NewIDWithName(Type, tt.name)
			if tt.name == "" {
				id = component.NewID(Type)
			}
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.Validate()
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, cfg)
				return
			}
			require.Error(t, err)
			for _, msg := range tt.wantErr {
				require.ErrorContains(t, err, msg)
			}
		})
	}
}

func TestValidateCPUPercent(t *testing.T) {
	for _, tt := range []struct {
		name  string
		enter Thresholds
		exit  Thresholds
		want  string
	}{
		{"exit above enter", Thresholds{CPUPercent: 80}, Thresholds{CPUPercent: 90},
			"modes[1].exit.cpu_percent: must be below enter.cpu_percent (80), got 90"},
		{"negative", Thresholds{CPUPercent: -1}, Thresholds{CPUPercent: 60},
			"modes[1].enter.cpu_percent: must be a finite number not below 0, got -1"},
		{"missing process exit", Thresholds{ProcessCount: 10}, Thresholds{},
			"modes[1].exit.process_count: required when enter.process_count is set"},
		{"process exit without enter", Thresholds{CPUPercent: 80}, Thresholds{ProcessCount: 5, CPUPercent: 60},
			"modes[1].exit.process_count: set but enter.process_count is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Modes[1].Enter, cfg.Modes[1].Exit = tt.enter, tt.exit
			require.EqualError(t, cfg.Validate(), tt.want)
		})
	}
}

func TestCreateRejectsInvalidConfig(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Modes = nil
	_, err := newProcessor(component.NewID(Type), cfg, nil)
	require.ErrorContains(t, err, "modes: at least one mode is required")
}
