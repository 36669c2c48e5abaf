package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testAuditLog(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, b := twoTenants(t, s)

	at := time.Date(2020, 3, 4, 5, 6, 7, 8_000, time.UTC) // backdated: oldest
	details := json.RawMessage(`{"from":"draft","to":"deploying"}`)
	e1, err := s.AuditLogAppend(c, &store.AuditLogAppendParams{
		TenantID: a, At: at, Actor: "key:abc", Action: "experiment.start", ResourceType: "experiment", ResourceID: "exp-1", Details: details,
	})
	require.NoError(t, err)
	require.NotEmpty(t, e1.ID)
	require.Equal(t, a, e1.TenantID)
	require.True(t, at.Equal(e1.At))
	require.Equal(t, "key:abc", e1.Actor)
	require.Equal(t, "experiment.start", e1.Action)
	require.Equal(t, "experiment", e1.ResourceType)
	require.Equal(t, "exp-1", e1.ResourceID)
	require.JSONEq(t, string(details), string(e1.Details))

	e2, err := s.AuditLogAppend(c, &store.AuditLogAppendParams{TenantID: a, Actor: "key:def", Action: "pipeline.create", ResourceType: "pipeline", ResourceID: "p-1"})
	require.NoError(t, err)
	recent(t, e2.At)
	require.Nil(t, e2.Details)

	_, err = s.AuditLogAppend(c, &store.AuditLogAppendParams{TenantID: a, Actor: "x"})
	require.ErrorIs(t, err, store.ErrInvalid, "action is required")
	_, err = s.AuditLogAppend(c, &store.AuditLogAppendParams{TenantID: a, Actor: "x", Action: "y", Details: json.RawMessage(`{`)})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.AuditLogAppend(c, &store.AuditLogAppendParams{TenantID: b, Actor: "key:zzz", Action: "experiment.start", ResourceType: "experiment", ResourceID: "exp-1"})
	require.NoError(t, err)

	for i := range 7 {
		_, err := s.AuditLogAppend(c, &store.AuditLogAppendParams{TenantID: a, Actor: "key:abc", Action: "agent.enroll", ResourceType: "agent", ResourceID: fmt.Sprint("uid-", i)})
		require.NoError(t, err)
	}

	list := func(p store.AuditLogListParams) []string {
		var out []string
		for {
			page, err := s.AuditLogList(c, &p)
			require.NoError(t, err)
			for _, e := range page.Items {
				require.Equal(t, a, e.TenantID)
				out = append(out, e.Action+" "+e.ResourceID)
			}
			if page.NextCursor == "" {
				return out
			}
			p.Cursor = page.NextCursor
		}
	}
	all := list(store.AuditLogListParams{TenantID: a, Limit: 3})
	require.Len(t, all, 9)
	require.Equal(t, "agent.enroll uid-6", all[0], "newest first")
	require.Equal(t, "experiment.start exp-1", all[8], "ordered by At, not by insertion")
	require.Equal(t, "pipeline.create p-1", all[7])

	require.Equal(t, []string{"pipeline.create p-1"}, list(store.AuditLogListParams{TenantID: a, Actor: "key:def"}))
	require.Len(t, list(store.AuditLogListParams{TenantID: a, Action: "agent.enroll", Limit: 2}), 7)
	require.Equal(t, []string{"experiment.start exp-1"}, list(store.AuditLogListParams{TenantID: a, ResourceType: "experiment"}))
	require.Equal(t, []string{"agent.enroll uid-3"}, list(store.AuditLogListParams{TenantID: a, ResourceType: "agent", ResourceID: "uid-3"}))
	require.Empty(t, list(store.AuditLogListParams{TenantID: a, Actor: "key:zzz"}), "tenant B's entries stay in B")

	page, err := s.AuditLogList(c, &store.AuditLogListParams{TenantID: b})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, "key:zzz", page.Items[0].Actor)
	_, err = s.AuditLogList(c, &store.AuditLogListParams{TenantID: a, Cursor: "bm9wZQ"})
	require.ErrorIs(t, err, store.ErrInvalid)
}
