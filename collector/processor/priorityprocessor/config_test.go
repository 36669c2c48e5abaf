package priorityprocessor

import (
	"path/filepath"
	"testing"

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

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want *Config
	}{
		{name: "", want: createDefaultConfig().(*Config)},
		{name: "full", want: &Config{
			Rules: []Rule{
				{Priority: "critical", Executable: "^(nginx|postgres|java)$"},
				{Priority: "high", Executable: "^python3?$", CommandLine: `manage\.py runserver`},
				{Priority: "medium", Owner: "^(www-data|app)$"},
			},
			DefaultPriority: "medium",
			Overwrite:       false,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadConfig(t, tt.name)
			require.Equal(t, tt.want, cfg)
			require.NoError(t, confmap.Validate(cfg))
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	require.Empty(t, cfg.Rules)
	require.Equal(t, "low", cfg.DefaultPriority)
	require.True(t, cfg.Overwrite)
	require.NoError(t, cfg.Validate())
}

func TestConfigValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want []string
	}{
		{name: "bad_regexp", want: []string{"rules[2].executable: invalid regexp: error parsing regexp: missing closing ): `^(unclosed`"}},
		{name: "empty_rule", want: []string{"rules[0]: set at least one of executable, command_line, owner"}},
		{name: "bad_priority", want: []string{`rules[1].priority: unknown priority "urgent" (want critical, high, medium or low)`}},
		{name: "missing_priority", want: []string{"rules[0].priority: required (critical, high, medium or low)"}},
		{name: "bad_default", want: []string{`default_priority: unknown priority "none" (want critical, high, medium or low)`}},
		{name: "bad_command_line_and_owner", want: []string{
			"rules[0].command_line: invalid regexp: ",
			"rules[0].owner: invalid regexp: error parsing regexp: missing argument to repetition operator: `*`",
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
			// The collector runs the same check when it loads a config.
			require.Error(t, confmap.Validate(cfg))
			// Creating the processor fails the same way, so a config that
			// skipped Validate cannot start.
			_, err = newPrioritizer(cfg)
			require.Error(t, err)
		})
	}
}
