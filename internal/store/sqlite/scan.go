package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/phoenix/platform/internal/store"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// jsonArg is the stored form of a JSON document: NULL for nil, else its text.
func jsonArg(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	return string(raw)
}

// jsonOr is the stored form of a JSON document that defaults to def.
func jsonOr(raw json.RawMessage, def string) string {
	if raw == nil {
		return def
	}
	return string(raw)
}

// rawJSON converts a stored document back; NULL is nil.
func rawJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// labelsArg is the stored form of a label map.
func labelsArg(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode labels: %w", err)
	}
	return string(b), nil
}

// labels converts stored labels back; an empty object is a nil map.
func labels(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode labels: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// strArg is the argument of an optional string: NULL keeps the column.
func strArg(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func scanTenant(r scanner) (*store.Tenant, error) {
	var t store.Tenant
	var created int64
	if err := r.Scan(&t.ID, &t.Name, &created); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

func scanTenantSettings(r scanner) (*store.TenantSettings, error) {
	var ts store.TenantSettings
	var pricing string
	var updated int64
	if err := r.Scan(&ts.TenantID, &pricing, &ts.Version, &updated, &ts.UpdatedBy); err != nil {
		return nil, err
	}
	ts.Pricing = json.RawMessage(pricing)
	ts.UpdatedAt = fromMicros(updated)
	return &ts, nil
}

func scanAPIKey(r scanner) (*store.APIKey, error) {
	var k store.APIKey
	var created int64
	var expires, lastUsed, revoked sql.NullInt64
	if err := r.Scan(&k.TenantID, &k.ID, &k.Name, &k.Prefix, &k.Hash, &k.Role, &k.CreatedBy,
		&created, &expires, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt = timePtr(expires)
	k.LastUsedAt = timePtr(lastUsed)
	k.RevokedAt = timePtr(revoked)
	return &k, nil
}

func scanExperiment(r scanner) (*store.Experiment, error) {
	var e store.Experiment
	var spec string
	var result sql.NullString
	var created, updated int64
	var started, ended sql.NullInt64
	if err := r.Scan(&e.TenantID, &e.ID, &e.OwnerID, &e.Name, &e.State, &spec, &result, &e.Version,
		&created, &updated, &started, &ended); err != nil {
		return nil, err
	}
	e.Spec = json.RawMessage(spec)
	e.Result = rawJSON(result)
	e.CreatedAt = fromMicros(created)
	e.UpdatedAt = fromMicros(updated)
	e.StartedAt = timePtr(started)
	e.EndedAt = timePtr(ended)
	return &e, nil
}

func scanEvent(r scanner) (*store.ExperimentEvent, error) {
	var ev store.ExperimentEvent
	var at int64
	if err := r.Scan(&ev.Seq, &ev.TenantID, &ev.ExperimentID, &ev.From, &ev.To, &ev.Actor, &ev.Reason,
		&ev.Version, &at); err != nil {
		return nil, err
	}
	ev.At = fromMicros(at)
	return &ev, nil
}

func scanPipeline(r scanner) (*store.Pipeline, error) {
	var p store.Pipeline
	var config string
	var created, updated int64
	if err := r.Scan(&p.TenantID, &p.ID, &p.Name, &p.Description, &config, &p.YAML, &p.CreatedBy,
		&p.Version, &created, &updated); err != nil {
		return nil, err
	}
	p.Config = json.RawMessage(config)
	p.CreatedAt = fromMicros(created)
	p.UpdatedAt = fromMicros(updated)
	return &p, nil
}

func scanDeployment(r scanner) (*store.Deployment, error) {
	var d store.Deployment
	var params, selector, rollout string
	var created, updated int64
	if err := r.Scan(&d.TenantID, &d.ID, &d.Name, &d.PipelineRef, &params, &selector, &d.State, &rollout,
		&d.PreviousID, &d.ExperimentID, &d.CreatedBy, &d.Version, &created, &updated); err != nil {
		return nil, err
	}
	d.Params = json.RawMessage(params)
	d.Selector = json.RawMessage(selector)
	d.Rollout = json.RawMessage(rollout)
	d.CreatedAt = fromMicros(created)
	d.UpdatedAt = fromMicros(updated)
	return &d, nil
}

func scanAgent(r scanner) (*store.Agent, error) {
	var a store.Agent
	var lbls string
	var capabilities int64
	var health sql.NullString
	var seen, created, updated int64
	if err := r.Scan(&a.TenantID, &a.InstanceUID, &a.HostName, &lbls, &a.AgentVersion, &capabilities,
		&a.Healthy, &health, &a.EffectiveConfigHash, &a.RemoteConfigHash, &a.RemoteConfigStatus,
		&a.RemoteConfigMessage, &a.Connected, &seen, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if a.Labels, err = labels(lbls); err != nil {
		return nil, err
	}
	a.Capabilities = uint64(capabilities)
	a.Health = rawJSON(health)
	a.LastSeenAt = fromMicros(seen)
	a.CreatedAt = fromMicros(created)
	a.UpdatedAt = fromMicros(updated)
	return &a, nil
}

func scanEnrollmentToken(r scanner) (*store.EnrollmentToken, error) {
	var e store.EnrollmentToken
	var lbls string
	var created int64
	var expires, revoked sql.NullInt64
	if err := r.Scan(&e.TenantID, &e.ID, &e.Name, &e.Prefix, &e.Hash, &lbls, &e.CreatedBy,
		&created, &expires, &revoked); err != nil {
		return nil, err
	}
	var err error
	if e.Labels, err = labels(lbls); err != nil {
		return nil, err
	}
	e.CreatedAt = fromMicros(created)
	e.ExpiresAt = timePtr(expires)
	e.RevokedAt = timePtr(revoked)
	return &e, nil
}

func scanAuditEntry(r scanner) (*store.AuditEntry, error) {
	var a store.AuditEntry
	var at int64
	var details sql.NullString
	if err := r.Scan(&a.TenantID, &a.ID, &at, &a.Actor, &a.Action, &a.ResourceType, &a.ResourceID,
		&details); err != nil {
		return nil, err
	}
	a.At = fromMicros(at)
	a.Details = rawJSON(details)
	return &a, nil
}

func scanIdempotency(r scanner) (*store.IdempotencyRecord, error) {
	var rec store.IdempotencyRecord
	var created, expires int64
	if err := r.Scan(&rec.TenantID, &rec.Key, &rec.RequestHash, &rec.ResponseStatus, &rec.ResponseBody,
		&created, &expires); err != nil {
		return nil, err
	}
	rec.CreatedAt = fromMicros(created)
	rec.ExpiresAt = fromMicros(expires)
	return &rec, nil
}
