package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/health"
	"github.com/phoenix/platform/internal/metrics"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/postgres"
	"github.com/phoenix/platform/internal/store/sqlite"
	"github.com/phoenix/platform/internal/telemetry"
	"github.com/phoenix/platform/internal/version"
)

// Server is a running `phoenix server`. Build it with New, then Serve.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	registry *prometheus.Registry
	api      *api.API
	svc      *experiment.Service
	health   *health.Checker
	redis    *redis.Client
	http     *http.Server
	listener net.Listener
	tracing  func(context.Context) error

	// BootstrapKey is the admin key created on first start of an empty
	// store; empty when the store already had tenants. Print it once.
	BootstrapKey string

	mux          *http.ServeMux
	controller   *experiment.Controller
	measurements *metrics.Store
	fleet        *fleet.Server
}

// Options carry what a caller adds to the server.
type Options struct {
	// LogOutput receives the logs (default stderr).
	LogOutput io.Writer
	// Deployer and Analyzer replace the fleet's deployer and the analysis
	// of measurements, e.g. in tests; nil uses Phoenix's own.
	Deployer experiment.Deployer
	Analyzer experiment.Analyzer
}

// New opens the store, applies migrations, bootstraps the first admin key
// and builds the HTTP handlers. It binds the listen address, so the caller
// learns of a taken port before anything starts.
func New(ctx context.Context, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	out := opts.LogOutput
	if out == nil {
		out = os.Stderr
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	s := &Server{cfg: cfg, log: telemetry.NewLogger(out, level, cfg.LogFormat), registry: prometheus.NewRegistry()}

	shutdownTracing, err := telemetry.SetupTracing(ctx, "phoenix-server", version.Version)
	if err != nil {
		return nil, fmt.Errorf("set up tracing: %w", err)
	}
	s.tracing = shutdownTracing

	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.store = st

	secret, created, err := auth.Bootstrap(ctx, st)
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("bootstrap admin key: %w", err)
	}
	if created {
		s.BootstrapKey = secret
	}

	catalog := pipeline.Default()
	authn := auth.NewAuthenticator(st, auth.Settings{Logger: s.log, CacheTTL: auth.DefaultCacheTTL})
	// Listen before anything derives the external URL from the address,
	// so that a listen address with port 0 advertises the bound port.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.listener = ln
	external := cfg.ExternalURL
	if external == "" {
		external = "http://" + ln.Addr().String()
	}

	// Measurements: the embedded TSDB always serves ingest and the
	// Prometheus query API; analysis reads it or an external source.
	s.measurements, err = metrics.Open(filepath.Join(cfg.DataDir, "measurements"), metrics.Options{Retention: cfg.MetricsRetention})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("open measurement store: %w", err)
	}
	var source metrics.Source = s.measurements
	if cfg.MetricsSourceURL != "" {
		source, err = metrics.NewRemote(metrics.RemoteConfig{URL: cfg.MetricsSourceURL}, nil)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("metrics_source_url: %w", err)
		}
	}
	tenantOf := func(r *http.Request) (string, error) {
		h := r.Header.Get("Authorization")
		if p, err := authn.Authenticate(r.Context(), h); err == nil {
			return p.TenantID, nil
		}
		a, err := authn.AuthenticateAgent(r.Context(), h)
		if err != nil {
			return "", err
		}
		return a.TenantID, nil
	}
	writeHandler, err := metrics.NewWriteHandler(s.measurements, tenantOf, metrics.WriteConfig{}, metrics.WriteSettings{Logger: s.log, Registerer: s.registry})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("measurement ingest: %w", err)
	}

	// The fleet: OpAMP server, agent registry, rollouts.
	remoteWrite := cfg.MetricsRemoteWriteURL
	s.fleet, err = fleet.New(st, authn, fleet.Config{
		ExternalURL: external, RemoteWriteURL: remoteWrite, CollectionInterval: cfg.CollectionInterval,
	}, fleet.Settings{Logger: s.log, Registerer: s.registry})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	deployer := opts.Deployer
	if deployer == nil {
		deployer = s.fleet.Deployer()
	}
	analyzer := opts.Analyzer
	var report func(ctx context.Context, exp *experiment.Experiment) (any, error)
	if analyzer == nil {
		an, err := analysis.New(source, analysis.Config{Step: cfg.CollectionInterval}, analysis.Settings{
			Pricing: api.PricingFor(st),
			FleetSize: func(ctx context.Context, exp *experiment.Experiment) (int, error) {
				return countAgents(ctx, st, exp.TenantID, exp.Spec.Target)
			},
			Disconnected: func(ctx context.Context, exp *experiment.Experiment) ([]analysis.DisconnectedHost, error) {
				return disconnectedHosts(ctx, st, exp)
			},
		})
		if err != nil {
			s.close()
			return nil, fmt.Errorf("analysis: %w", err)
		}
		analyzer = an
		report = func(ctx context.Context, exp *experiment.Experiment) (any, error) { return an.Report(ctx, exp, false) }
	}

	s.svc = experiment.NewService(st, deployer)
	s.svc.CheckPipeline = newPipelineCheck(st, catalog).Check

	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	own := telemetry.NewMetrics(s.registry)
	own.SetExperimentCounter(func(ctx context.Context) (map[string]int, error) {
		return experimentsByState(ctx, st)
	})

	s.health = health.NewChecker()
	s.health.Add(health.StoreCheck(st))
	if cfg.RedisURL != "" {
		ro, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		s.redis = redis.NewClient(ro)
		s.health.Add(health.RedisCheck(s.redis))
	}

	authz, err := auth.NewAuthorizer()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("load access policy: %w", err)
	}
	s.api = api.New(api.Deps{
		Store: authn.ForgetRevoked(st), Experiments: s.svc, Catalog: catalog, Authenticator: authn, Authorizer: authz,
		Logger: s.log, Version: version.Version, Analysis: report, Fleet: s.fleet, OnTokenRevoked: s.fleet.RevokeToken,
		Measurements: source, RateWindow: max(4*cfg.CollectionInterval, time.Minute),
	})

	s.mux = http.NewServeMux()
	s.mux.Handle("/api/", s.api.Handler())
	s.mux.HandleFunc("GET /healthz", s.health.Liveness)
	s.mux.HandleFunc("GET /readyz", s.health.Readiness)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	s.mux.Handle("/v1/opamp", s.fleet.Handler())
	s.mux.Handle("POST /prometheus/api/v1/write", writeHandler)
	s.mux.Handle("/prometheus/api/v1/", metrics.NewAPI(s.measurements, tenantOf, s.log))
	if cfg.MetricsSourceURL != "" {
		s.health.Add(health.HTTPCheck("metrics-source", strings.TrimSuffix(cfg.MetricsSourceURL, "/")+"/-/ready", 5*time.Second))
	}

	s.http = &http.Server{
		Handler:           telemetry.Middleware(s.mux, nil, own, s.log),
		ConnContext:       s.fleet.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}

	s.controller = experiment.NewController(s.svc, deployer, analyzer, experiment.ControllerConfig{Interval: cfg.ControllerInterval}, s.log)
	return s, nil
}

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		opts := postgres.DefaultOptions(cfg.DatabaseURL)
		opts.Schema = cfg.DBSchema
		opts.MaxConns = int32(cfg.DBMaxOpenConns)
		opts.MinConns = int32(cfg.DBMaxIdleConns)
		opts.MaxConnLifetime = cfg.DBConnMaxLifetime
		opts.MaxConnIdleTime = cfg.DBConnMaxIdleTime
		st, err := postgres.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return store.Traced(st, "postgresql"), nil
	}
	sopts := sqlite.DefaultOptions(cfg.DataDir)
	sopts.MaxReadConns = 16
	st, err := sqlite.Open(ctx, sopts)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store in %s: %w", cfg.DataDir, err)
	}
	return store.Traced(st, "sqlite"), nil
}

// experimentsByState counts the experiments the controller is driving, by
// state, across tenants. Finished experiments are not counted: the gauge
// shows the work in flight.
func experimentsByState(ctx context.Context, st store.Store) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range store.ActiveStates {
		out[s] = 0
	}
	active, err := st.ExperimentListActive(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range active {
		out[e.State]++
	}
	return out, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Store returns the server's store.
func (s *Server) Store() store.Store { return s.store }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Registry is where Phoenix's own metrics are registered.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Mux is the server's root mux; other roles (the fleet, the measurement
// API) mount their handlers on it before Serve.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Experiments returns the experiment service.
func (s *Server) Experiments() *experiment.Service { return s.svc }

// Health returns the readiness checker, to which other roles add checks.
func (s *Server) Health() *health.Checker { return s.health }

// Serve serves until ctx is done, then shuts down gracefully: it stops
// accepting requests, lets running ones finish within ShutdownTimeout,
// stops the controller and closes the store.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() {
		err := s.http.Serve(s.listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	if err := s.fleet.Start(ctx); err != nil {
		return fmt.Errorf("start fleet: %w", err)
	}
	ctlCtx, stopCtl := context.WithCancel(context.WithoutCancel(ctx))
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		_ = s.controller.Run(ctlCtx)
	}()
	s.log.Info("phoenix server listening", "addr", s.Addr(), "version", version.Version, "store", s.storeKind())

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if e := s.http.Shutdown(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("shut down http: %w", e))
	}
	stopCtl()
	<-ctlDone
	if e := s.fleet.Shutdown(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("shut down fleet: %w", e))
	}
	if e := s.measurements.Close(); e != nil {
		err = errors.Join(err, fmt.Errorf("close measurement store: %w", e))
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	if e := s.tracing(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("shut down tracing: %w", e))
	}
	if e := s.store.Close(); e != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", e))
	}
	return err
}

func (s *Server) closeStore() {
	if s.store != nil {
		_ = s.store.Close()
	}
}

// close releases what New opened when it fails part way.
func (s *Server) close() {
	if s.listener != nil {
		_ = s.listener.Close()
	}
	if s.measurements != nil {
		_ = s.measurements.Close()
	}
	s.closeStore()
}

func (s *Server) storeKind() string {
	if s.cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + s.cfg.SQLitePath()
}
