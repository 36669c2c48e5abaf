package auth_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
)

// allowed is the expected access matrix, written out by hand: role ->
// resource -> actions allowed. Anything absent is denied.
var allowed = map[string]map[string][]string{
	"viewer": {
		auth.ResourceExperiments: {"read"},
		auth.ResourcePipelines:   {"read"},
		auth.ResourceDeployments: {"read"},
		auth.ResourceAgents:      {"read"},
		auth.ResourceMetrics:     {"read"},
		auth.ResourceAudit:       {"read"},
		auth.ResourceSettings:    {"read"},
	},
	"editor": {
		auth.ResourceExperiments: {"read", "write"},
		auth.ResourcePipelines:   {"read", "write"},
		auth.ResourceDeployments: {"read", "write"},
		auth.ResourceAgents:      {"read"},
		auth.ResourceMetrics:     {"read"},
		auth.ResourceAudit:       {"read"},
		auth.ResourceSettings:    {"read"},
	},
	"admin": {
		auth.ResourceExperiments: {"read", "write"},
		auth.ResourcePipelines:   {"read", "write"},
		auth.ResourceDeployments: {"read", "write"},
		auth.ResourceAgents:      {"read", "write"},
		auth.ResourceAPIKeys:     {"read", "write"},
		auth.ResourceTokens:      {"read", "write"},
		auth.ResourceMetrics:     {"read", "write"},
		auth.ResourceAudit:       {"read", "write"},
		auth.ResourceSettings:    {"read", "write"},
	},
}

var (
	roles     = []string{"admin", "editor", "viewer"}
	resources = []string{
		auth.ResourceExperiments, auth.ResourcePipelines, auth.ResourceDeployments, auth.ResourceAgents,
		auth.ResourceAPIKeys, auth.ResourceTokens, auth.ResourceMetrics, auth.ResourceAudit, auth.ResourceSettings,
	}
	actions = []string{auth.ActionRead, auth.ActionWrite}
)

func TestAuthorizeMatrix(t *testing.T) {
	t.Parallel()
	az, err := auth.NewAuthorizer()
	require.NoError(t, err)
	n := 0
	for _, role := range roles {
		for _, res := range resources {
			for _, act := range actions {
				want := false
				for _, a := range allowed[role][res] {
					want = want || a == act
				}
				n++
				t.Run(role+"/"+res+"/"+act, func(t *testing.T) {
					err := az.Authorize(&auth.Principal{TenantID: "t", KeyID: "k", Role: role, Actor: "key:k"}, res, act)
					if want {
						require.NoError(t, err)
						return
					}
					var ae *apierror.Error
					require.True(t, errors.As(err, &ae), "got %v", err)
					require.Equal(t, apierror.CodeForbidden, ae.Code)
					require.Equal(t, 403, ae.HTTPStatus())
					require.Contains(t, ae.Message, role)
					require.Contains(t, ae.Message, res)
					require.Contains(t, ae.Message, act)
				})
			}
		}
	}
	require.Equal(t, 54, n, "3 roles x 9 resources x 2 actions")
}

func TestAuthorizeDeniesUnknownsAndNil(t *testing.T) {
	t.Parallel()
	az, err := auth.NewAuthorizer()
	require.NoError(t, err)
	cases := []struct {
		name             string
		p                *auth.Principal
		resource, action string
		code             apierror.Code
	}{
		{"nil principal", nil, auth.ResourceExperiments, auth.ActionRead, apierror.CodeUnauthorized},
		{"unknown role", &auth.Principal{Role: "root"}, auth.ResourceExperiments, auth.ActionRead, apierror.CodeForbidden},
		{"empty role", &auth.Principal{}, auth.ResourceExperiments, auth.ActionRead, apierror.CodeForbidden},
		{"role name used as resource", &auth.Principal{Role: "admin"}, "viewer", auth.ActionRead, apierror.CodeForbidden},
		{"unknown resource", &auth.Principal{Role: "admin"}, "secrets", auth.ActionRead, apierror.CodeForbidden},
		{"unknown action", &auth.Principal{Role: "admin"}, auth.ResourceExperiments, "delete", apierror.CodeForbidden},
		{"wildcard resource", &auth.Principal{Role: "admin"}, "*", "*", apierror.CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := az.Authorize(c.p, c.resource, c.action)
			require.Equal(t, c.code, apierror.From(err).Code, "got %v", err)
		})
	}
}

func TestAuthorizeConcurrent(t *testing.T) {
	t.Parallel()
	az, err := auth.NewAuthorizer()
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				role := roles[(g+i)%len(roles)]
				res := resources[i%len(resources)]
				got := az.Authorize(&auth.Principal{Role: role}, res, auth.ActionWrite) == nil
				want := len(allowed[role][res]) == 2
				if got != want {
					errs <- errors.New(role + " write " + res + ": unexpected decision")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
