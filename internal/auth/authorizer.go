package auth

import (
	"fmt"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// Resources of the API, the objects of authorization decisions.
const (
	ResourceExperiments = "experiments"
	ResourcePipelines   = "pipelines"
	ResourceDeployments = "deployments"
	ResourceAgents      = "agents"
	ResourceAPIKeys     = "apikeys"
	ResourceTokens      = "tokens"
	ResourceMetrics     = "metrics"
	ResourceAudit       = "audit"
	// ResourceSettings are a tenant's settings, e.g. its pricing profiles.
	ResourceSettings = "settings"
)

// Actions on resources.
const (
	ActionRead  = "read"
	ActionWrite = "write"
)

// rbacModel is plain RBAC with role inheritance: a subject may do what a
// policy line of its role, or of a role it inherits, allows. Anything not
// allowed is denied.
const rbacModel = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`

// rbacPolicy grants viewers read access to everything except credentials,
// editors in addition write access to experiments, pipelines and
// deployments, and admins every action on every resource (only admins
// change the tenant's settings). editor inherits viewer, and admin inherits
// editor.
const rbacPolicy = `
p, viewer, experiments, read
p, viewer, pipelines, read
p, viewer, deployments, read
p, viewer, agents, read
p, viewer, metrics, read
p, viewer, audit, read
p, viewer, settings, read

p, editor, experiments, write
p, editor, pipelines, write
p, editor, deployments, write

p, admin, agents, write
p, admin, apikeys, read
p, admin, apikeys, write
p, admin, tokens, read
p, admin, tokens, write
p, admin, metrics, write
p, admin, audit, write
p, admin, settings, write

g, editor, viewer
g, admin, editor
`

// resources and actions list every Resource* and Action* constant.
var (
	resources = []string{ResourceExperiments, ResourcePipelines, ResourceDeployments, ResourceAgents,
		ResourceAPIKeys, ResourceTokens, ResourceMetrics, ResourceAudit, ResourceSettings}
	actions = []string{ActionRead, ActionWrite}
)

// Authorizer decides whether a principal's role allows an action on a
// resource. It is safe for concurrent use.
type Authorizer struct {
	e *casbin.Enforcer
	// decided holds the enforcer's answer for every role, resource and
	// action Phoenix names, taken when the Authorizer is built: the policy
	// is embedded and never changes, and a request then costs a map lookup
	// instead of an evaluation of the model.
	decided map[decision]bool
}

type decision struct{ role, resource, action string }

// NewAuthorizer returns an Authorizer with Phoenix's embedded policy.
func NewAuthorizer() (*Authorizer, error) {
	m, err := model.NewModelFromString(rbacModel)
	if err != nil {
		return nil, fmt.Errorf("load rbac model: %w", err)
	}
	e, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(rbacPolicy))
	if err != nil {
		return nil, fmt.Errorf("load rbac policy: %w", err)
	}
	a := &Authorizer{e: e, decided: make(map[decision]bool)}
	for _, role := range []string{store.RoleAdmin, store.RoleEditor, store.RoleViewer} {
		for _, res := range resources {
			for _, act := range actions {
				ok, err := e.Enforce(role, res, act)
				if err != nil {
					return nil, fmt.Errorf("authorize %s %s %s: %w", role, act, res, err)
				}
				a.decided[decision{role, res, act}] = ok
			}
		}
	}
	return a, nil
}

// Authorize returns nil when p's role may perform action on resource, and a
// FORBIDDEN [*apierror.Error] otherwise. A nil principal is UNAUTHORIZED.
// Unknown roles, resources and actions are denied.
func (a *Authorizer) Authorize(p *Principal, resource, action string) error {
	if p == nil {
		return unauthorized("authentication required")
	}
	if !validRole(p.Role) {
		return forbidden(p.Role, resource, action)
	}
	ok, known := a.decided[decision{p.Role, resource, action}]
	var err error
	if !known {
		ok, err = a.e.Enforce(p.Role, resource, action)
	}
	if err != nil {
		return apierror.Internal(fmt.Errorf("authorize %s %s %s: %w", p.Role, action, resource, err))
	}
	if !ok {
		return forbidden(p.Role, resource, action)
	}
	return nil
}

// validRole keeps a role name from reaching casbin as another role's name:
// only the three stored roles are subjects.
func validRole(role string) bool {
	switch role {
	case store.RoleAdmin, store.RoleEditor, store.RoleViewer:
		return true
	}
	return false
}

func forbidden(role, resource, action string) *apierror.Error {
	return apierror.New(apierror.CodeForbidden, "role %q may not %s %s", role, action, resource).
		WithDetail("role", role).
		WithDetail("resource", resource).
		WithDetail("action", action)
}
