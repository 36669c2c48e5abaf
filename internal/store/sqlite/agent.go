package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// AgentUpsert implements [store.Store].
func (s *Store) AgentUpsert(ctx context.Context, p *store.AgentUpsertParams) (*store.Agent, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("upsert agent: %w", err)
	}
	lbls, err := labelsArg(p.Labels)
	if err != nil {
		return nil, fmt.Errorf("upsert agent %s: %w", p.InstanceUID, err)
	}
	ts := now()
	seen := ts
	if !p.SeenAt.IsZero() {
		seen = p.SeenAt.UTC().Truncate(time.Microsecond)
	}
	a, err := scanAgent(s.writer(ctx).QueryRowContext(ctx, qAgentUpsert, p.TenantID, p.InstanceUID, p.HostName, lbls,
		p.AgentVersion, int64(p.Capabilities), p.Healthy, jsonArg(p.Health), p.EffectiveConfigHash,
		p.RemoteConfigHash, p.RemoteConfigStatus, p.RemoteConfigMessage, p.Connected, micros(seen), micros(ts)))
	if err != nil {
		return nil, fmt.Errorf("upsert agent %s: %w", p.InstanceUID, translate(err))
	}
	return a, nil
}

// AgentGet implements [store.Store].
func (s *Store) AgentGet(ctx context.Context, tenantID, instanceUID string) (*store.Agent, error) {
	a, err := scanAgent(s.reader(ctx).QueryRowContext(ctx, qAgentGet, tenantID, instanceUID))
	if err != nil {
		return nil, fmt.Errorf("get agent %s: %w", instanceUID, translate(err))
	}
	return a, nil
}

// AgentList implements [store.Store].
func (s *Store) AgentList(ctx context.Context, p *store.AgentListParams) (*store.Page[*store.Agent], error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	c, _ := decodeCursor(p.Cursor)
	limit := store.PageLimit(p.Limit)
	l := newListQuery(qAgentList, p.TenantID)
	if p.Connected != nil {
		l.and("connected = ?", *p.Connected)
	}
	if p.HostName != "" {
		l.and("host_name = ?", p.HostName)
	}
	q, args := l.page("created_at", "instance_uid", c, limit)
	rows, err := s.reader(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", translate(err))
	}
	out, err := collect(rows, scanAgent)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", translate(err))
	}
	return store.NextPage(out, limit, func(a *store.Agent) (time.Time, string) { return a.CreatedAt, a.InstanceUID }), nil
}

// AgentMarkDisconnected implements [store.Store].
func (s *Store) AgentMarkDisconnected(ctx context.Context, tenantID, instanceUID string) (*store.Agent, error) {
	a, err := scanAgent(s.writer(ctx).QueryRowContext(ctx, qAgentMarkDisconnected, tenantID, instanceUID, micros(now())))
	if err != nil {
		return nil, fmt.Errorf("mark agent %s disconnected: %w", instanceUID, translate(err))
	}
	return a, nil
}

// AgentMarkStale implements [store.Store].
func (s *Store) AgentMarkStale(ctx context.Context, seenBefore time.Time) (int64, error) {
	res, err := s.writer(ctx).ExecContext(ctx, qAgentMarkStale, micros(seenBefore), micros(now()))
	if err != nil {
		return 0, fmt.Errorf("mark stale agents disconnected: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark stale agents disconnected: %w", err)
	}
	return n, nil
}
