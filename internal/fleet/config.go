package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/pipeline"
)

// Defaults of a Config.
const (
	// DefaultStaleAfter is how long an agent may stay silent before it is
	// marked disconnected.
	DefaultStaleAfter = 2 * time.Minute
	// DefaultReconcileEvery is the period of the reconcile loop.
	DefaultReconcileEvery = 5 * time.Second
	// DefaultRolloutEvery is the period of the rollout loop.
	DefaultRolloutEvery = 2 * time.Second
	// DefaultSendTimeout bounds one write to an agent's WebSocket.
	DefaultSendTimeout = 10 * time.Second
	// DefaultResendAfter is how long a pushed configuration may stay
	// unacknowledged before it is pushed again.
	DefaultResendAfter = time.Minute
	// DefaultStoreWriters is the number of goroutines writing agent status
	// to the store.
	DefaultStoreWriters = 4
	// DefaultPushConcurrency bounds the configuration pushes of one
	// reconcile running at the same time.
	DefaultPushConcurrency = 64
	// RemoteWritePath is appended to ExternalURL to form the default
	// remote-write URL of the measurements.
	RemoteWritePath = "/prometheus/api/v1/write"
)

// Config is the fleet's configuration. The zero value is not valid: set
// ExternalURL or RemoteWriteURL; every other field has a default.
type Config struct {
	// ExternalURL is the server's URL as agents reach it, e.g.
	// "https://phoenix.example.com". It derives RemoteWriteURL when that is
	// empty.
	ExternalURL string `yaml:"external_url"`
	// RemoteWriteURL is where agents remote-write their measurements;
	// empty means ExternalURL + RemoteWritePath.
	RemoteWriteURL string `yaml:"remote_write_url"`
	// CollectionInterval is the agents' hostmetrics scrape interval; zero
	// means pipeline.DefaultCollectionInterval (10s).
	CollectionInterval time.Duration `yaml:"collection_interval"`
	// Exporters receive every agent's active pipeline (and live
	// candidates); none means the data is measured and dropped.
	Exporters []pipeline.Exporter `yaml:"exporters"`
	// StaleAfter is how long an agent may stay silent before the sweeper
	// marks it disconnected; zero means DefaultStaleAfter. An agent holding
	// a WebSocket open is never silent.
	StaleAfter time.Duration `yaml:"stale_after"`
	// ReconcileEvery is the period of the loop that recomputes and pushes
	// every connected agent's configuration; zero means
	// DefaultReconcileEvery.
	ReconcileEvery time.Duration `yaml:"reconcile_every"`
	// RolloutEvery is the period of the loop that drives deployments; zero
	// means DefaultRolloutEvery.
	RolloutEvery time.Duration `yaml:"rollout_every"`
	// SendTimeout bounds one write to an agent's WebSocket; an agent that
	// does not read within it is disconnected. Zero means
	// DefaultSendTimeout.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// ResendAfter is how long a pushed configuration may stay
	// unacknowledged before it is pushed again; zero means
	// DefaultResendAfter.
	ResendAfter time.Duration `yaml:"resend_after"`
	// StoreWriters is the number of goroutines writing agent status to the
	// store; zero means DefaultStoreWriters.
	StoreWriters int `yaml:"store_writers"`
	// PushConcurrency bounds the concurrent configuration pushes of one
	// reconcile; zero means DefaultPushConcurrency.
	PushConcurrency int `yaml:"push_concurrency"`
}

// Validate reports a configuration that cannot work. Messages name the
// YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.ExternalURL == "" && c.RemoteWriteURL == "" {
		errs = append(errs, errors.New("external_url: required unless remote_write_url is set"))
	}
	for _, u := range []struct{ key, val string }{{"external_url", c.ExternalURL}, {"remote_write_url", c.RemoteWriteURL}} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", u.key, u.val))
		}
	}
	if c.CollectionInterval != 0 && c.CollectionInterval < time.Second {
		errs = append(errs, fmt.Errorf("collection_interval: must be at least 1s, got %s", c.CollectionInterval))
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"stale_after", c.StaleAfter}, {"reconcile_every", c.ReconcileEvery}, {"rollout_every", c.RolloutEvery},
		{"send_timeout", c.SendTimeout}, {"resend_after", c.ResendAfter},
	} {
		if d.val < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", d.key, d.val))
		}
	}
	if c.StoreWriters < 0 {
		errs = append(errs, fmt.Errorf("store_writers: must not be negative, got %d", c.StoreWriters))
	}
	if c.PushConcurrency < 0 {
		errs = append(errs, fmt.Errorf("push_concurrency: must not be negative, got %d", c.PushConcurrency))
	}
	for i, e := range c.Exporters {
		if strings.TrimSpace(e.ID) == "" {
			errs = append(errs, fmt.Errorf("exporters[%d].id: required", i))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field at its default.
func (c Config) withDefaults() Config {
	if c.RemoteWriteURL == "" {
		c.RemoteWriteURL = strings.TrimRight(c.ExternalURL, "/") + RemoteWritePath
	}
	if c.CollectionInterval == 0 {
		c.CollectionInterval = pipeline.DefaultCollectionInterval
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.ReconcileEvery == 0 {
		c.ReconcileEvery = DefaultReconcileEvery
	}
	if c.RolloutEvery == 0 {
		c.RolloutEvery = DefaultRolloutEvery
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = DefaultResendAfter
	}
	if c.StoreWriters == 0 {
		c.StoreWriters = DefaultStoreWriters
	}
	if c.PushConcurrency == 0 {
		c.PushConcurrency = DefaultPushConcurrency
	}
	return c
}

// AgentAuthenticator checks the Authorization header of an agent's
// connection. [auth.Authenticator] implements it.
type AgentAuthenticator interface {
	AuthenticateAgent(ctx context.Context, authorization string) (*auth.AgentIdentity, error)
}

var _ AgentAuthenticator = (*auth.Authenticator)(nil)

// HealthFunc reports whether a host runs its pipeline well, e.g. whether
// its measurements arrive. The rollout health gate asks it about every
// host of a batch before the next batch starts.
type HealthFunc func(ctx context.Context, tenantID, host string) (bool, error)

// Settings are the injected dependencies of a [Server]. The zero value is
// ready to use.
type Settings struct {
	// Logger receives the fleet's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the fleet's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Healthy is the rollout health gate's check of a host; nil considers
	// an agent that applied its configuration and reports no unhealthy
	// component healthy enough.
	Healthy HealthFunc
}
