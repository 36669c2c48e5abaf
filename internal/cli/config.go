package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// cliConfig is the CLI's config file, written by phoenix login. It holds a
// secret, so it is written readable by its owner only.
type cliConfig struct {
	// Server is the URL of the Phoenix server.
	Server string `yaml:"server"`
	// APIKey authenticates the CLI.
	APIKey string `yaml:"api_key"`
}

// defaultConfigPath is $XDG_CONFIG_HOME/phoenix/config.yaml, else
// $HOME/.config/phoenix/config.yaml.
func defaultConfigPath(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "phoenix", "config.yaml")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "phoenix", "config.yaml")
}

// readConfig reads the config file; a missing file is an empty config. A
// file others can read draws a warning on warn.
func readConfig(path string, warn io.Writer) (cliConfig, error) {
	var cfg cliConfig
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read CLI config: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "Warning: %s holds an API key and is readable by others; run: chmod 600 %s\n", path, path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, &UsageError{Err: fmt.Errorf("CLI config %s: %w", path, err)}
	}
	return cfg, nil
}

// writeConfig writes cfg to path atomically with mode 0600, creating its
// directory with mode 0700.
func writeConfig(path string, cfg cliConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode CLI config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	return nil
}
