package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewID(t *testing.T) {
	before := time.Now().UnixMilli()
	id := store.NewID()
	require.Regexp(t, uuidV7, id)
	var ms int64
	_, err := fmt.Sscanf(id[0:8]+id[9:13], "%x", &ms)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ms, before, "the first 48 bits are the Unix time in ms")
	require.LessOrEqual(t, ms, time.Now().UnixMilli()+1)

	// Strictly increasing within one goroutine, even within a millisecond.
	prev := store.NewID()
	for range 20_000 {
		next := store.NewID()
		require.Regexp(t, uuidV7, next)
		require.Greater(t, next, prev)
		prev = next
	}

	// Unique across goroutines.
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := make([]string, 2000)
			for i := range local {
				local[i] = store.NewID()
			}
			require.True(t, sort.StringsAreSorted(local))
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				require.False(t, seen[id], "duplicate %s", id)
				seen[id] = true
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 16_000)
}

func TestCursor(t *testing.T) {
	c := store.Cursor{Time: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: "exp:with:colons"}
	got, ok, err := store.DecodeCursor(c.Encode())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c, got)
	require.Regexp(t, `^[A-Za-z0-9_-]+$`, c.Encode(), "URL safe")

	_, ok, err = store.DecodeCursor("")
	require.NoError(t, err)
	require.False(t, ok)

	for _, bad := range []string{"%%", "bm9wZQ", store.Cursor{Time: c.Time}.Encode(), "Mjp4OnkK", "MTp4Onk"} {
		_, _, err := store.DecodeCursor(bad)
		require.ErrorIs(t, err, store.ErrInvalid, bad)
	}
}

func TestPageLimit(t *testing.T) {
	for in, want := range map[int]int{-5: 50, 0: 50, 1: 1, 50: 50, 500: 500, 501: 500, 1 << 30: 500} {
		require.Equal(t, want, store.PageLimit(in), in)
	}
}

func TestNextPage(t *testing.T) {
	type row struct {
		t  time.Time
		id string
	}
	key := func(r row) (time.Time, string) { return r.t, r.id }
	t0 := time.Unix(100, 0).UTC()
	rows := []row{{t0, "c"}, {t0, "b"}, {t0, "a"}}

	p := store.NextPage(rows, 2, key)
	require.Equal(t, rows[:2], p.Items)
	c, ok, err := store.DecodeCursor(p.NextCursor)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, store.Cursor{Time: t0, ID: "b"}, c)

	p = store.NextPage(rows, 3, key)
	require.Equal(t, rows, p.Items)
	require.Empty(t, p.NextCursor)

	p = store.NextPage([]row(nil), 3, key)
	require.NotNil(t, p.Items, "an empty page has an empty, non-nil slice")
	require.Empty(t, p.NextCursor)
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("start experiment: %w", &store.TransitionError{ID: "e1", From: "draft", To: "deploying", Current: "running"})
	require.ErrorIs(t, err, store.ErrStateConflict)
	require.NotErrorIs(t, err, store.ErrVersionConflict)
	var te *store.TransitionError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "running", te.Current)
	require.EqualError(t, err, `start experiment: transition experiment e1 from "draft" to "deploying": experiment is in state "running"`)

	err = fmt.Errorf("open store: %w", &store.SchemaVersionError{Database: 7, Binary: 3})
	require.ErrorIs(t, err, store.ErrSchemaTooNew)
	require.EqualError(t, err, "open store: database schema version 7 is newer than this binary supports (version 3): upgrade Phoenix")

	sentinels := []error{store.ErrNotFound, store.ErrConflict, store.ErrVersionConflict, store.ErrStateConflict, store.ErrInvalid, store.ErrSchemaTooNew}
	for i, a := range sentinels {
		for j, b := range sentinels {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
}

func TestValidate(t *testing.T) {
	bad := json.RawMessage(`{"a":`)
	exp := time.Now()
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want string // "" means valid
	}{
		{"tenant", &store.TenantCreateParams{Name: "a"}, ""},
		{"tenant no name", &store.TenantCreateParams{}, "name: is required"},
		{"key", &store.APIKeyCreateParams{TenantID: "t", Prefix: "p", Hash: "h", Role: store.RoleEditor}, ""},
		{"key role", &store.APIKeyCreateParams{TenantID: "t", Prefix: "p", Hash: "h", Role: "owner"}, `role: "owner" is not one of admin, editor, viewer`},
		{"key prefix", &store.APIKeyCreateParams{TenantID: "t", Hash: "h", Role: store.RoleEditor}, "prefix: is required"},
		{"experiment", &store.ExperimentCreateParams{TenantID: "t", Name: "n", State: "draft"}, ""},
		{"experiment tenant", &store.ExperimentCreateParams{Name: "n", State: "draft"}, "tenant_id: is required"},
		{"experiment spec", &store.ExperimentCreateParams{TenantID: "t", Name: "n", State: "draft", Spec: bad}, "spec: is not valid JSON"},
		{"experiment list cursor", &store.ExperimentListParams{TenantID: "t", Cursor: "x"}, "cursor: not a cursor returned by a list call"},
		{"experiment update version", &store.ExperimentUpdateParams{TenantID: "t", ID: "e"}, "version: must be the positive version that was read"},
		{"experiment update name", &store.ExperimentUpdateParams{TenantID: "t", ID: "e", Version: 1, Name: new(string)}, "name: must not be empty"},
		{"result missing", &store.ExperimentSetResultParams{TenantID: "t", ID: "e"}, "result: is required"},
		{"result version", &store.ExperimentSetResultParams{TenantID: "t", ID: "e", Version: -1, Result: json.RawMessage(`{}`)}, "version: must not be negative"},
		{"transition to", &store.ExperimentTransitionParams{TenantID: "t", ID: "e", From: "a"}, "to: is required"},
		{"transition result", &store.ExperimentTransitionParams{TenantID: "t", ID: "e", From: "a", To: "b", Result: bad}, "result: is not valid JSON"},
		{"pipeline config", &store.PipelineCreateParams{TenantID: "t", Name: "p", Config: bad}, "config: is not valid JSON"},
		{"pipeline update", &store.PipelineUpdateParams{TenantID: "t", ID: "p", Version: 1, Name: new(string)}, "name: must not be empty"},
		{"deployment ref", &store.DeploymentCreateParams{TenantID: "t", State: "s"}, "pipeline_ref: is required"},
		{"deployment rollout", &store.DeploymentCreateParams{TenantID: "t", PipelineRef: "p", State: "s", Rollout: bad}, "rollout: is not valid JSON"},
		{"deployment update state", &store.DeploymentUpdateParams{TenantID: "t", ID: "d", Version: 1, State: new(string)}, "state: must not be empty"},
		{"agent uid", &store.AgentUpsertParams{TenantID: "t"}, "instance_uid: is required"},
		{"agent health", &store.AgentUpsertParams{TenantID: "t", InstanceUID: "u", Health: bad}, "health: is not valid JSON"},
		{"agent list", &store.AgentListParams{}, "tenant_id: is required"},
		{"token hash", &store.EnrollmentTokenCreateParams{TenantID: "t", Prefix: "p"}, "hash: is required"},
		{"audit action", &store.AuditLogAppendParams{TenantID: "t", Actor: "a"}, "action: is required"},
		{"audit details", &store.AuditLogAppendParams{TenantID: "t", Actor: "a", Action: "x", Details: bad}, "details: is not valid JSON"},
		{"idempotency", &store.IdempotencyPutParams{TenantID: "t", Key: "k", RequestHash: "h", ResponseStatus: 200, ExpiresAt: exp}, ""},
		{"idempotency status", &store.IdempotencyPutParams{TenantID: "t", Key: "k", RequestHash: "h", ResponseStatus: 600, ExpiresAt: exp}, "response_status: 600 is not an HTTP status"},
		{"idempotency expiry", &store.IdempotencyPutParams{TenantID: "t", Key: "k", RequestHash: "h", ResponseStatus: 200}, "expires_at: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, store.ErrInvalid)
			require.EqualError(t, err, "invalid argument: "+tt.want)
		})
	}
}

func TestUsable(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	for _, tt := range []struct {
		expires, revoked *time.Time
		want             bool
	}{
		{nil, nil, true},
		{&future, nil, true},
		{&past, nil, false},
		{nil, &past, false},
		{&future, &past, false},
	} {
		k := &store.APIKey{ExpiresAt: tt.expires, RevokedAt: tt.revoked}
		require.Equal(t, tt.want, k.Usable(now))
		e := &store.EnrollmentToken{ExpiresAt: tt.expires, RevokedAt: tt.revoked}
		require.Equal(t, tt.want, e.Usable(now))
	}
}
