package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
)

// BuildInfo describes the distribution to the collector's own telemetry.
func BuildInfo(version string) component.BuildInfo {
	return component.BuildInfo{
		Command:     "collector",
		Description: "Phoenix OpenTelemetry Collector distribution",
		Version:     version,
	}
}

// Settings returns the collector settings of the distribution for the given
// config URIs (file paths, "file:PATH", "yaml:INLINE" or "env:VAR").
func Settings(version string, uris ...string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		Factories: Components,
		BuildInfo: BuildInfo(version),
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: uris,
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
}

// NewCommand returns the `collector` command: the distribution run the way
// `otelcol --config FILE` runs, with its validate, components and
// featuregate subcommands.
func NewCommand(version string) *cobra.Command {
	cmd := otelcol.NewCommand(Settings(version))
	cmd.Use = "collector"
	cmd.Short = "Run the Phoenix OpenTelemetry Collector distribution (like otelcol --config FILE)"
	return cmd
}

// Service runs one collector in-process on an inline YAML configuration.
// Start returns once the collector's pipelines are running (or failed to
// start); Shutdown stops it and is safe to call more than once and without
// Start. A Service is not restartable: build a new one for a new config.
type Service struct {
	config    []byte
	version   string
	logger    *zap.Logger
	factories func() (otelcol.Factories, error)

	mu      sync.Mutex
	col     *otelcol.Collector
	done    chan struct{}
	runErr  error
	stopped bool
}

// ServiceOption customises a Service.
type ServiceOption func(*Service)

// WithLogger sends the collector's logs to l (default: no logs).
func WithLogger(l *zap.Logger) ServiceOption { return func(s *Service) { s.logger = l } }

// WithFactories replaces the distribution's factories, e.g. to add a
// component of the caller's own build.
func WithFactories(f func() (otelcol.Factories, error)) ServiceOption {
	return func(s *Service) { s.factories = f }
}

// WithVersion sets the version reported by the collector's build info.
func WithVersion(v string) ServiceOption { return func(s *Service) { s.version = v } }

// NewService returns a Service for the given collector YAML.
func NewService(config []byte, opts ...ServiceOption) *Service {
	s := &Service{config: config, version: "dev", logger: zap.NewNop(), factories: Components}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Validate resolves and validates a collector YAML configuration with the
// distribution's factories without starting anything, the way
// `otelcol validate` does.
func Validate(ctx context.Context, config []byte) error {
	set := Settings("validate", "yaml:"+string(config))
	set.Factories = ValidationComponents
	set.LoggingOptions = []zap.Option{zap.WrapCore(func(zapCore) zapCore { return nopCore{} })}
	col, err := otelcol.NewCollector(set)
	if err != nil {
		return fmt.Errorf("load collector config: %w", err)
	}
	if err := col.DryRun(ctx); err != nil {
		return err
	}
	return nil
}

// Start starts the collector and waits until it is running, it fails, or
// startTimeout passes.
func (s *Service) Start(ctx context.Context, startTimeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.col != nil || s.stopped {
		return errors.New("collector service already started")
	}
	set := Settings(s.version, "yaml:"+string(s.config))
	set.Factories = s.factories
	set.DisableGracefulShutdown = true
	set.SkipSettingGRPCLogger = true
	logger := s.logger
	set.LoggingOptions = []zap.Option{zap.WrapCore(func(zapCore) zapCore { return logger.Core() })}
	col, err := otelcol.NewCollector(set)
	if err != nil {
		return fmt.Errorf("create collector: %w", err)
	}
	s.col = col
	s.done = make(chan struct{})
	go func() {
		err := col.Run(context.WithoutCancel(ctx))
		s.mu.Lock()
		s.runErr = err
		s.mu.Unlock()
		close(s.done)
	}()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Unlock()
		select {
		case <-s.done:
			s.mu.Lock()
			if s.runErr != nil {
				return fmt.Errorf("start collector: %w", s.runErr)
			}
			return errors.New("start collector: it stopped right after starting")
		case <-deadline.C:
			s.mu.Lock()
			return fmt.Errorf("start collector: not running after %s", startTimeout)
		case <-ctx.Done():
			s.mu.Lock()
			return fmt.Errorf("start collector: %w", ctx.Err())
		case <-tick.C:
		}
		s.mu.Lock()
		if col.GetState() == otelcol.StateRunning {
			return nil
		}
	}
}

// Done is closed when the collector stops, whether by Shutdown or because a
// component reported a fatal error. It is nil before Start.
func (s *Service) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Err returns why the collector stopped, once Done is closed.
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runErr
}

// Shutdown stops the collector and waits for it to finish, or for ctx.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	col, done := s.col, s.done
	s.mu.Unlock()
	if col == nil {
		return nil
	}
	col.Shutdown()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down collector: %w", ctx.Err())
	}
}
