package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/otelcol"
	"gopkg.in/yaml.v3"
)

// Defaults of a Config.
const (
	// DefaultStateDir holds the instance UID and the last-known-good
	// configuration.
	DefaultStateDir = "/var/lib/phoenix-agent"
	// DefaultGracePeriod is how long a new configuration has to keep
	// running (and, when its scrape interval is unknown, to produce
	// measurements) before it becomes the last-known-good.
	DefaultGracePeriod = 30 * time.Second
	// DefaultStartTimeout bounds the start of one collector. A failed
	// start and the start of the last-known-good that follows it stay
	// within 10 seconds.
	DefaultStartTimeout = 5 * time.Second
	// DefaultRemoteWriteInterval is the period of the measurement shipping
	// when phoenix.yaml sets no remote_write_interval.
	DefaultRemoteWriteInterval = 10 * time.Second
	// OpAMPPath is the path of the server's OpAMP endpoint.
	OpAMPPath = "/v1/opamp"
)

// Attribute keys of the agent description.
const (
	AttrServiceName       = "service.name"
	AttrServiceInstanceID = "service.instance.id"
	AttrHostName          = "host.name"
	AttrServiceVersion    = "service.version"
	AttrOSType            = "os.type"
	AttrHostArch          = "host.arch"
	// ServiceName is the service.name of every Phoenix agent.
	ServiceName = "phoenix-agent"
)

// reservedAttrs are the description attributes a label may not replace.
var reservedAttrs = []string{AttrServiceName, AttrServiceInstanceID, AttrHostName, AttrServiceVersion, AttrOSType, AttrHostArch}

// Config is what an Agent runs with. Zero fields take the defaults noted.
type Config struct {
	// ServerURL is the Phoenix server, e.g. "http://phoenix:8080";
	// http(s) becomes ws(s) and OpAMPPath is appended unless the path
	// already ends with it. Required.
	ServerURL string
	// Token is the enrollment token ("phxa_..."), sent as a bearer token
	// on the OpAMP connection and on remote write. Required.
	Token string
	// Labels become non-identifying attributes of the agent description;
	// the server groups agents by them. nil means none.
	Labels map[string]string
	// StateDir holds the instance UID and the last-known-good
	// configuration ("" = DefaultStateDir). It is created (0700) when
	// missing.
	StateDir string
	// HostName is the host.name the agent reports ("" = os.Hostname).
	HostName string
	// GracePeriod is how long a new configuration is on probation (0 =
	// DefaultGracePeriod): a stop within it rolls the configuration back,
	// and so does a measured pipeline that has produced nothing by its
	// end. Measured pipelines with a known scrape interval must produce
	// within their first interval (see the package doc).
	GracePeriod time.Duration
	// StartTimeout bounds the start of one collector (0 =
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// InitialConfig is the collector configuration run before the server
	// sends one when StateDir holds no last-known-good configuration. nil
	// means BaselineConfig(HostName).
	InitialConfig []byte
}

// Settings are the agent's injected dependencies; nil fields mean the
// defaults noted.
type Settings struct {
	// Logger receives the agent's and the collector's logs (nil = none).
	Logger *slog.Logger
	// Factories are the collector components (nil = collector.Components,
	// the Phoenix distribution).
	Factories func() (otelcol.Factories, error)
	// HTTPClient sends the remote-write requests (nil = a client with a
	// 30 s timeout).
	HTTPClient *http.Client
	// Version is the reported service.version ("" = version.Version).
	Version string
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() (Config, error) {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.HostName == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("host name: %w", err)
		}
		c.HostName = h
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c, nil
}

// Validate checks the configuration without side effects; each message
// names the command-line flag of the field at fault.
func (c Config) Validate() error {
	var errs []error
	if c.ServerURL == "" {
		errs = append(errs, errors.New("server: required"))
	} else if _, err := OpAMPURL(c.ServerURL); err != nil {
		errs = append(errs, fmt.Errorf("server: %w", err))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token: required (flag --token-file or environment PHOENIX_AGENT_TOKEN)"))
	} else if strings.ContainsAny(c.Token, " \t\r\n") {
		errs = append(errs, errors.New("token: must not contain white space"))
	}
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "":
			errs = append(errs, errors.New("label: empty key"))
		case slices.Contains(reservedAttrs, k):
			errs = append(errs, fmt.Errorf("label[%s]: reserved attribute of the agent description", k))
		}
	}
	if c.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("grace-period: must not be negative, got %s", c.GracePeriod))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("start-timeout: must not be negative, got %s", c.StartTimeout))
	}
	return errors.Join(errs...)
}

// OpAMPURL derives the WebSocket URL of the server's OpAMP endpoint from
// its base URL: http -> ws, https -> wss (ws and wss stay), OpAMPPath
// appended to the path unless it already ends with it.
func OpAMPURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", server, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("%q: scheme must be http, https, ws or wss", server)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", server)
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), OpAMPPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + OpAMPPath
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/")
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// Files of a remote configuration.
const (
	// CollectorConfigFile is the complete collector configuration.
	CollectorConfigFile = "collector.yaml"
	// PhoenixConfigFile is a PhoenixConfig in YAML.
	PhoenixConfigFile = "phoenix.yaml"
	// ConfigContentType is the content type of both files.
	ConfigContentType = "text/yaml"
)

// PhoenixConfig is the content of phoenix.yaml: what the agent itself
// needs besides the collector configuration.
type PhoenixConfig struct {
	// RemoteWriteURL is where the agent remote-writes its measurements;
	// empty means they are not shipped.
	RemoteWriteURL string `yaml:"remote_write_url"`
	// RemoteWriteInterval is the period of the shipping (0 =
	// DefaultRemoteWriteInterval, otherwise at least 1s).
	RemoteWriteInterval time.Duration `yaml:"remote_write_interval"`
}

// Validate checks the settings; messages name the YAML key.
func (p PhoenixConfig) Validate() error {
	var errs []error
	if p.RemoteWriteURL != "" {
		u, err := url.Parse(p.RemoteWriteURL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("remote_write_url: %w", err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("remote_write_url: scheme must be http or https, got %q", p.RemoteWriteURL))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("remote_write_url: no host in %q", p.RemoteWriteURL))
		}
	}
	if p.RemoteWriteInterval != 0 && p.RemoteWriteInterval < time.Second {
		errs = append(errs, fmt.Errorf("remote_write_interval: must be at least 1s, got %s", p.RemoteWriteInterval))
	}
	return errors.Join(errs...)
}

// interval returns the shipping period.
func (p PhoenixConfig) interval() time.Duration {
	if p.RemoteWriteInterval == 0 {
		return DefaultRemoteWriteInterval
	}
	return p.RemoteWriteInterval
}

// ParsePhoenixConfig decodes and validates phoenix.yaml. Unknown keys are
// ignored so that an older agent accepts a newer server's file; empty
// input is the zero PhoenixConfig.
func ParsePhoenixConfig(b []byte) (PhoenixConfig, error) {
	var p PhoenixConfig
	if len(strings.TrimSpace(string(b))) == 0 {
		return p, nil
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode %s: %w", PhoenixConfigFile, err)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%s: %w", PhoenixConfigFile, err)
	}
	return p, nil
}
