// Package api serves Phoenix's JSON REST API under /api/v1: experiments,
// pipelines, deployments, agents, keys, tokens and the tenant's settings
// (pricing profiles). Handlers return errors; writeError is the one place
// that turns an error into a response.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/fleet"
	"github.com/phoenix/platform/internal/metrics"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Deps are what the API serves from. Store, Experiments, Authenticator and
// Authorizer are required; the rest may be nil.
type Deps struct {
	Store         store.Store
	Experiments   *experiment.Service
	Catalog       *pipeline.Catalog
	Authenticator *auth.Authenticator
	Authorizer    *auth.Authorizer
	Logger        *slog.Logger
	// Analysis returns the current analysis of an experiment (interim while
	// it runs); nil serves the stored result only.
	Analysis func(ctx context.Context, exp *experiment.Experiment) (any, error)
	// Fleet applies deployment changes to agents and answers what hosts
	// run; nil stores deployments only and serves no hosts.
	Fleet Fleet
	// Measurements are read for the hosts' figures; nil leaves them out.
	Measurements metrics.Source
	// RateWindow is the range of rate() in the hosts' figures; it must hold
	// at least two measurement intervals (0 = one minute).
	RateWindow time.Duration
	// OnTokenRevoked is called after an enrollment token is revoked, so the
	// fleet can disconnect the agents that enrolled with it.
	OnTokenRevoked func(tenantID, tokenID string)
	// Version is reported by GET /api/v1/version.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Fleet is what the API asks of the fleet.
type Fleet interface {
	// Reconcile recomputes and pushes the tenant's agent configs.
	Reconcile(ctx context.Context, tenantID string) error
	// Rollback returns a deployment's hosts to the previous deployment.
	Rollback(ctx context.Context, tenantID, id, actor string) (*store.Deployment, error)
	// Hosts returns what every host with a connected agent runs.
	Hosts(ctx context.Context, tenantID string) ([]fleet.HostStatus, error)
	// Status returns what one host runs; NOT_FOUND for a host never seen.
	Status(ctx context.Context, tenantID, host string) (*fleet.HostStatus, error)
	// HostConfig returns the collector configuration computed for a host.
	HostConfig(ctx context.Context, tenantID, host string) (*fleet.HostConfig, error)
}

// API is the REST API. Build it with New and mount Handler.
type API struct {
	deps   Deps
	log    *slog.Logger
	now    func() time.Time
	routes []*route
	mux    *http.ServeMux
}

// New builds the API and its routes.
func New(deps Deps) *API {
	a := &API{deps: deps, log: deps.Logger, now: deps.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.deps.Catalog == nil {
		a.deps.Catalog = pipeline.Default()
	}
	a.routes = a.table()
	a.mux = http.NewServeMux()
	for _, rt := range a.routes {
		a.mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	a.mux.HandleFunc("GET /api/v1/openapi.json", a.serveOpenAPI)
	a.mux.HandleFunc("GET /api/v1/docs", a.serveReference)
	a.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, errRouteNotFound(r))
	})
	return a
}

// Handler returns the API's handler, to be mounted at the server's root.
func (a *API) Handler() http.Handler { return a.mux }

// RouteInfo describes one endpoint.
type RouteInfo struct {
	Method, Path, Summary, Resource, Action string
}

// Routes lists the API's endpoints, in the order of the OpenAPI document.
func (a *API) Routes() []RouteInfo {
	out := make([]RouteInfo, len(a.routes))
	for i, r := range a.routes {
		out[i] = RouteInfo{Method: r.Method, Path: r.Path, Summary: r.Summary, Resource: r.Resource, Action: r.Action}
	}
	return out
}
