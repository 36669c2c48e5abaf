package api

import (
	"encoding/json"
	"errors"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// notFoundAs names the resource in a store.ErrNotFound.
func notFoundAs(err error, kind, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound(kind, id)
	}
	return err
}

// audit appends an entry to the tenant's audit log; a failure is logged,
// not returned, since the action itself succeeded.
func (a *API) audit(c *call, action, resourceType, resourceID string, details map[string]any) {
	var raw json.RawMessage
	if details != nil {
		raw, _ = json.Marshal(details)
	}
	if _, err := a.deps.Store.AuditLogAppend(c.r.Context(), &store.AuditLogAppendParams{
		TenantID: c.tenant(), Actor: c.actor(), Action: action,
		ResourceType: resourceType, ResourceID: resourceID, Details: raw,
	}); err != nil {
		a.log.WarnContext(c.r.Context(), "append audit log", "action", action, "err", err)
	}
}
