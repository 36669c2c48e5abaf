package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	exp := time.Now().Add(24 * time.Hour)

	secret, k, err := auth.CreateAPIKey(ctx, st, ten.ID, "  ci deploys  ", store.RoleViewer, "key:admin", &exp)
	require.NoError(t, err)
	require.Equal(t, "ci deploys", k.Name, "the name is trimmed")
	require.Equal(t, store.RoleViewer, k.Role)
	require.Equal(t, "key:admin", k.CreatedBy)
	require.Equal(t, ten.ID, k.TenantID)
	require.Equal(t, secret[:12], k.Prefix)
	require.Equal(t, auth.HashSecret(secret), k.Hash)
	require.NotContains(t, k.Hash, secret[4:], "the secret is not stored")
	require.WithinDuration(t, exp, *k.ExpiresAt, time.Millisecond)

	// A tenant that does not exist is the store's error, wrapped.
	_, _, err = auth.CreateAPIKey(ctx, st, "missing-tenant", "ci", store.RoleViewer, "", nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCreateAPIKeyValidation(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	past := time.Now().Add(-time.Second)
	cases := []struct {
		name, keyName, role string
		expires             *time.Time
		fields              []string
	}{
		{"missing name", "", store.RoleAdmin, nil, []string{"name"}},
		{"blank name", " \t ", store.RoleAdmin, nil, []string{"name"}},
		{"long name", strings.Repeat("é", auth.MaxNameLen+1), store.RoleAdmin, nil, []string{"name"}},
		{"control character", "ci\nprod", store.RoleAdmin, nil, []string{"name"}},
		{"invalid utf-8", "ci\xff", store.RoleAdmin, nil, []string{"name"}},
		{"unknown role", "ci", "root", nil, []string{"role"}},
		{"empty role", "ci", "", nil, []string{"role"}},
		{"role case", "ci", "Admin", nil, []string{"role"}},
		{"expired", "ci", store.RoleAdmin, &past, []string{"expires_at"}},
		{"all bad", "", "owner", &past, []string{"expires_at", "name", "role"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret, k, err := auth.CreateAPIKey(context.Background(), st, ten.ID, c.keyName, c.role, "", c.expires)
			require.Empty(t, secret)
			require.Nil(t, k)
			requireFields(t, err, c.fields)
		})
	}
	keys, err := st.APIKeyList(context.Background(), ten.ID)
	require.NoError(t, err)
	require.Empty(t, keys, "nothing invalid was stored")

	_, _, err = auth.CreateAPIKey(context.Background(), st, ten.ID, strings.Repeat("é", auth.MaxNameLen), store.RoleAdmin, "", nil)
	require.NoError(t, err, "the limit counts characters, not bytes")
}

func TestCreateEnrollmentTokenValidation(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ten := newTenant(t, st, "acme")
	tooMany := make(map[string]string)
	for i := range auth.MaxLabels + 1 {
		tooMany[strings.Repeat("k", i+1)] = "v"
	}
	past := time.Now().Add(-time.Minute)
	cases := []struct {
		name    string
		tokName string
		labels  map[string]string
		expires *time.Time
		fields  []string
	}{
		{"missing name", "", nil, nil, []string{"name"}},
		{"too many labels", "agents", tooMany, nil, []string{"labels"}},
		{"empty key", "agents", map[string]string{"": "v"}, nil, []string{"labels."}},
		{"key with space", "agents", map[string]string{"a b": "v"}, nil, []string{"labels.a b"}},
		{"key starting with dash", "agents", map[string]string{"-a": "v"}, nil, []string{"labels.-a"}},
		{"long key", "agents", map[string]string{strings.Repeat("a", auth.MaxLabelKeyLen+1): "v"}, nil, []string{"labels." + strings.Repeat("a", auth.MaxLabelKeyLen+1)}},
		{"control key", "agents", map[string]string{"a\x00": "v"}, nil, []string{"labels.a?"}},
		{"long value", "agents", map[string]string{"env": strings.Repeat("v", auth.MaxLabelValueLen+1)}, nil, []string{"labels.env"}},
		{"control value", "agents", map[string]string{"env": "pr\nod"}, nil, []string{"labels.env"}},
		{"expired", "agents", nil, &past, []string{"expires_at"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret, tok, err := auth.CreateEnrollmentToken(context.Background(), st, ten.ID, c.tokName, "", c.labels, c.expires)
			require.Empty(t, secret)
			require.Nil(t, tok)
			requireFields(t, err, c.fields)
		})
	}

	good := map[string]string{"env": "prod", "k8s.io/zone": "eu-1", "Team_2": "", "a": strings.Repeat("v", auth.MaxLabelValueLen)}
	secret, tok, err := auth.CreateEnrollmentToken(context.Background(), st, ten.ID, "agents", "key:x", good, nil)
	require.NoError(t, err)
	require.NotEmpty(t, secret)
	require.Equal(t, good, tok.Labels)
	require.Equal(t, "key:x", tok.CreatedBy)
}

func requireFields(t *testing.T, err error, fields []string) {
	t.Helper()
	ae := apierror.From(err)
	require.Equal(t, apierror.CodeValidation, ae.Code, "got %v", err)
	got := make([]string, 0, len(ae.Fields))
	for _, f := range ae.Fields {
		got = append(got, f.Field)
	}
	require.Equal(t, fields, got)
}
