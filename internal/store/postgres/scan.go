package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phoenix/platform/internal/store"
)

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, scan func(scanner) (T, error)) ([]T, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// jsonOr is a JSON document that defaults to def when nil.
func jsonOr(raw json.RawMessage, def string) json.RawMessage {
	if raw == nil {
		return json.RawMessage(def)
	}
	return raw
}

// labelsArg is the stored form of a label map.
func labelsArg(m map[string]string) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode labels: %w", err)
	}
	return b, nil
}

// labels normalises stored labels: an empty object is a nil map.
func labels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func scanTenant(r scanner) (*store.Tenant, error) {
	var t store.Tenant
	if err := r.Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

func scanTenantSettings(r scanner) (*store.TenantSettings, error) {
	var ts store.TenantSettings
	if err := r.Scan(&ts.TenantID, (*[]byte)(&ts.Pricing), &ts.Version, &ts.UpdatedAt, &ts.UpdatedBy); err != nil {
		return nil, err
	}
	ts.UpdatedAt = ts.UpdatedAt.UTC()
	return &ts, nil
}

func scanAPIKey(r scanner) (*store.APIKey, error) {
	var k store.APIKey
	if err := r.Scan(&k.TenantID, &k.ID, &k.Name, &k.Prefix, &k.Hash, &k.Role, &k.CreatedBy,
		&k.CreatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = utc(k.ExpiresAt)
	k.LastUsedAt = utc(k.LastUsedAt)
	k.RevokedAt = utc(k.RevokedAt)
	return &k, nil
}

func scanExperiment(r scanner) (*store.Experiment, error) {
	var e store.Experiment
	if err := r.Scan(&e.TenantID, &e.ID, &e.OwnerID, &e.Name, &e.State, (*[]byte)(&e.Spec), (*[]byte)(&e.Result),
		&e.Version, &e.CreatedAt, &e.UpdatedAt, &e.StartedAt, &e.EndedAt); err != nil {
		return nil, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	e.StartedAt = utc(e.StartedAt)
	e.EndedAt = utc(e.EndedAt)
	return &e, nil
}

func scanEvent(r scanner) (*store.ExperimentEvent, error) {
	var ev store.ExperimentEvent
	if err := r.Scan(&ev.Seq, &ev.TenantID, &ev.ExperimentID, &ev.From, &ev.To, &ev.Actor, &ev.Reason,
		&ev.Version, &ev.At); err != nil {
		return nil, err
	}
	ev.At = ev.At.UTC()
	return &ev, nil
}

func scanPipeline(r scanner) (*store.Pipeline, error) {
	var p store.Pipeline
	if err := r.Scan(&p.TenantID, &p.ID, &p.Name, &p.Description, (*[]byte)(&p.Config), &p.YAML, &p.CreatedBy,
		&p.Version, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	return &p, nil
}

func scanDeployment(r scanner) (*store.Deployment, error) {
	var d store.Deployment
	if err := r.Scan(&d.TenantID, &d.ID, &d.Name, &d.PipelineRef, (*[]byte)(&d.Params), (*[]byte)(&d.Selector),
		&d.State, (*[]byte)(&d.Rollout), &d.PreviousID, &d.ExperimentID, &d.CreatedBy, &d.Version,
		&d.CreatedAt, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.CreatedAt = d.CreatedAt.UTC()
	d.UpdatedAt = d.UpdatedAt.UTC()
	return &d, nil
}

func scanAgent(r scanner) (*store.Agent, error) {
	var a store.Agent
	var capabilities int64
	if err := r.Scan(&a.TenantID, &a.InstanceUID, &a.HostName, &a.Labels, &a.AgentVersion, &capabilities,
		&a.Healthy, (*[]byte)(&a.Health), &a.EffectiveConfigHash, &a.RemoteConfigHash, &a.RemoteConfigStatus,
		&a.RemoteConfigMessage, &a.Connected, &a.LastSeenAt, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, err
	}
	a.Labels = labels(a.Labels)
	a.Capabilities = uint64(capabilities)
	a.LastSeenAt = a.LastSeenAt.UTC()
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	return &a, nil
}

func scanEnrollmentToken(r scanner) (*store.EnrollmentToken, error) {
	var e store.EnrollmentToken
	if err := r.Scan(&e.TenantID, &e.ID, &e.Name, &e.Prefix, &e.Hash, &e.Labels, &e.CreatedBy,
		&e.CreatedAt, &e.ExpiresAt, &e.RevokedAt); err != nil {
		return nil, err
	}
	e.Labels = labels(e.Labels)
	e.CreatedAt = e.CreatedAt.UTC()
	e.ExpiresAt = utc(e.ExpiresAt)
	e.RevokedAt = utc(e.RevokedAt)
	return &e, nil
}

func scanAuditEntry(r scanner) (*store.AuditEntry, error) {
	var a store.AuditEntry
	if err := r.Scan(&a.TenantID, &a.ID, &a.At, &a.Actor, &a.Action, &a.ResourceType, &a.ResourceID,
		(*[]byte)(&a.Details)); err != nil {
		return nil, err
	}
	a.At = a.At.UTC()
	return &a, nil
}

func scanIdempotency(r scanner) (*store.IdempotencyRecord, error) {
	var rec store.IdempotencyRecord
	if err := r.Scan(&rec.TenantID, &rec.Key, &rec.RequestHash, &rec.ResponseStatus, &rec.ResponseBody,
		&rec.CreatedAt, &rec.ExpiresAt); err != nil {
		return nil, err
	}
	rec.CreatedAt = rec.CreatedAt.UTC()
	rec.ExpiresAt = rec.ExpiresAt.UTC()
	return &rec, nil
}
