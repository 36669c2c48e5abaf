package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// AuditLogAppend implements [store.Store].
func (s *Store) AuditLogAppend(ctx context.Context, p *store.AuditLogAppendParams) (*store.AuditEntry, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("append audit entry: %w", err)
	}
	id := p.ID
	if id == "" {
		id = store.NewID()
	}
	at := now()
	if !p.At.IsZero() {
		at = p.At.UTC().Truncate(time.Microsecond)
	}
	a, err := scanAuditEntry(s.writer(ctx).QueryRowContext(ctx, qAuditLogAppend, p.TenantID, id, micros(at), p.Actor,
		p.Action, p.ResourceType, p.ResourceID, jsonArg(p.Details)))
	if err != nil {
		return nil, fmt.Errorf("append audit entry %s: %w", p.Action, translate(err))
	}
	return a, nil
}

// AuditLogList implements [store.Store].
func (s *Store) AuditLogList(ctx context.Context, p *store.AuditLogListParams) (*store.Page[*store.AuditEntry], error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	c, _ := decodeCursor(p.Cursor)
	limit := store.PageLimit(p.Limit)
	l := newListQuery(qAuditLogList, p.TenantID)
	for _, f := range []struct{ col, v string }{
		{"actor", p.Actor}, {"action", p.Action}, {"resource_type", p.ResourceType}, {"resource_id", p.ResourceID},
	} {
		if f.v != "" {
			l.and(f.col+" = ?", f.v)
		}
	}
	q, args := l.page("at", "id", c, limit)
	rows, err := s.reader(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", translate(err))
	}
	out, err := collect(rows, scanAuditEntry)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", translate(err))
	}
	return store.NextPage(out, limit, func(a *store.AuditEntry) (time.Time, string) { return a.At, a.ID }), nil
}
