// Package server wires and runs `phoenix server` and `phoenix dev`: the
// store, the REST API, the experiment controller, health, metrics and
// tracing, with a graceful shutdown.
package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is the server's configuration. Every field can be set in a YAML
// file (--config), by an environment variable PHOENIX_<KEY> and by a flag
// --<key-with-dashes>; flags win over the environment, which wins over the
// file, which wins over the defaults.
type Config struct {
	// Listen is the address of the HTTP server (API, OpAMP, metrics, health).
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and the embedded measurements.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects PostgreSQL (postgres://...); empty means SQLite
	// under DataDir.
	DatabaseURL string `yaml:"database_url"`
	// DBSchema is the PostgreSQL schema Phoenix keeps its tables in (created
	// if missing); empty uses the DSN's search_path.
	DBSchema string `yaml:"db_schema"`
	// DBMaxOpenConns, DBMaxIdleConns, DBConnMaxLifetime and DBConnMaxIdleTime
	// size the PostgreSQL pool.
	DBMaxOpenConns    int           `yaml:"db_max_open_conns"`
	DBMaxIdleConns    int           `yaml:"db_max_idle_conns"`
	DBConnMaxLifetime time.Duration `yaml:"db_conn_max_lifetime"`
	DBConnMaxIdleTime time.Duration `yaml:"db_conn_max_idle_time"`
	// RedisURL (redis://host:port/db) adds Redis to the readiness checks
	// and the cache; empty means none.
	RedisURL string `yaml:"redis_url"`
	// ExternalURL is the server's URL as agents reach it (OpAMP and
	// measurement remote write); empty means http://<listen>.
	ExternalURL string `yaml:"external_url"`
	// MetricsRetention is how long the embedded measurement store keeps
	// samples.
	MetricsRetention time.Duration `yaml:"metrics_retention"`
	// MetricsSourceURL points analysis at an external Prometheus-compatible
	// API (Prometheus, Mimir, Thanos) instead of the embedded store; agents
	// then remote-write to MetricsRemoteWriteURL.
	MetricsSourceURL string `yaml:"metrics_source_url"`
	// MetricsRemoteWriteURL is where agents remote-write when an external
	// source is used; empty means the embedded store's endpoint.
	MetricsRemoteWriteURL string `yaml:"metrics_remote_write_url"`
	// CollectionInterval is the agents' scrape interval.
	CollectionInterval time.Duration `yaml:"collection_interval"`
	// LogLevel is debug, info, warn or error; LogFormat is json or text.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ControllerInterval is how often the experiment controller passes over
	// active experiments.
	ControllerInterval time.Duration `yaml:"controller_interval"`
}

// DefaultConfig returns the embedded defaults: SQLite under ./.phoenix and
// the API on 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		DataDir:            ".phoenix",
		DBMaxOpenConns:     25,
		DBMaxIdleConns:     5,
		DBConnMaxLifetime:  5 * time.Minute,
		DBConnMaxIdleTime:  time.Minute,
		LogLevel:           "info",
		LogFormat:          "text",
		ShutdownTimeout:    15 * time.Second,
		MetricsRetention:   15 * 24 * time.Hour,
		CollectionInterval: 10 * time.Second,
		ControllerInterval: 2 * time.Second,
	}
}

// Validate reports each bad setting by its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be host:port: %v", err)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		bad("data_dir", "required when database_url is empty")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("database_url", "must start with postgres:// (empty means SQLite under data_dir)")
	}
	if c.DBMaxOpenConns < 1 {
		bad("db_max_open_conns", "must be at least 1")
	}
	if c.DBMaxIdleConns < 0 || c.DBMaxIdleConns > c.DBMaxOpenConns {
		bad("db_max_idle_conns", "must be between 0 and db_max_open_conns")
	}
	if c.DBConnMaxLifetime < 0 || c.DBConnMaxIdleTime < 0 {
		bad("db_conn_max_lifetime", "durations must not be negative")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis_url", "must start with redis:// or rediss://")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("log_format", "must be json or text")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	for key, u := range map[string]string{"external_url": c.ExternalURL, "metrics_source_url": c.MetricsSourceURL, "metrics_remote_write_url": c.MetricsRemoteWriteURL} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			bad(key, "must be an http:// or https:// URL")
		}
	}
	if c.MetricsRetention < time.Hour {
		bad("metrics_retention", "must be at least 1h")
	}
	if c.CollectionInterval < time.Second {
		bad("collection_interval", "must be at least 1s")
	}
	if c.ControllerInterval < 100*time.Millisecond {
		bad("controller_interval", "must be at least 100ms")
	}
	return errors.Join(errs...)
}

// SQLitePath is where the embedded database lives.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "phoenix.db") }

// keys returns the YAML key of every field, in order.
func keys() []string {
	t := reflect.TypeOf(Config{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Tag.Get("yaml")
	}
	return out
}

// BindFlags registers one flag per setting on fs, with the defaults as
// shown values, and returns a function that applies the flags the user set.
func BindFlags(fs *pflag.FlagSet) func(*Config) error {
	def := DefaultConfig()
	dv := reflect.ValueOf(def)
	vals := map[string]*string{}
	for i, k := range keys() {
		name := strings.ReplaceAll(k, "_", "-")
		vals[k] = fs.String(name, fmt.Sprint(dv.Field(i).Interface()), "env PHOENIX_"+strings.ToUpper(k))
	}
	fs.String("config", "", "YAML file with settings (keys as the flag names with underscores)")
	return func(c *Config) error {
		var errs []error
		fs.Visit(func(f *pflag.Flag) {
			k := strings.ReplaceAll(f.Name, "-", "_")
			if v, ok := vals[k]; ok {
				if err := set(c, k, *v); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
				}
			}
		})
		return errors.Join(errs...)
	}
}

// Load builds the configuration from the defaults, the file (if path is
// not empty), the environment and applyFlags (may be nil).
func Load(path string, environ []string, applyFlags func(*Config) error) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		var raw map[string]string
		if err := dec.Decode(&raw); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		for k, v := range raw {
			if err := set(&c, k, v); err != nil {
				return c, fmt.Errorf("config %s: %s: %w", path, k, err)
			}
		}
	}
	for _, kv := range environ {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "PHOENIX_") {
			continue
		}
		k := strings.ToLower(strings.TrimPrefix(name, "PHOENIX_"))
		if !isKey(k) {
			continue
		}
		if err := set(&c, k, v); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	if applyFlags != nil {
		if err := applyFlags(&c); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

func isKey(k string) bool {
	for _, x := range keys() {
		if x == k {
			return true
		}
	}
	return false
}

// set assigns the string value v to the field whose YAML key is k.
func set(c *Config, k, v string) error {
	rv := reflect.ValueOf(c).Elem()
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") != k {
			continue
		}
		f := rv.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString(v)
		case int:
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			f.SetInt(int64(n))
		case time.Duration:
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (e.g. 30s)", v)
			}
			f.SetInt(int64(d))
		}
		return nil
	}
	return fmt.Errorf("unknown setting %q", k)
}
