package store

// Code in this file wraps every Store method in a tracing span; keep it in
// step with the Store interface (the compiler checks the signatures).

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Traced returns st with every call recorded as a client span named
// "store.<Method>" on the global tracer provider (a no-op until tracing is
// set up). Errors mark the span; ErrNotFound does not, it is an answer.
func Traced(st Store, system string) Store {
	return &traced{st: st, tracer: otel.Tracer("github.com/phoenix/platform/internal/store"), system: system}
}

type traced struct {
	st     Store
	tracer trace.Tracer
	system string
}

var _ Store = (*traced)(nil)

func (t *traced) start(ctx context.Context, op string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", t.system), attribute.String("db.operation", op)))
}

func end(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ErrNotFound) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Close is not traced: it has no context.
func (t *traced) Close() error { return t.st.Close() }

// Ping implements Store.
func (t *traced) Ping(ctx context.Context) error {
	ctx, span := t.start(ctx, "Ping")
	err := t.st.Ping(ctx)
	end(span, err)
	return err
}

// SchemaVersion implements Store.
func (t *traced) SchemaVersion(ctx context.Context) (int, error) {
	ctx, span := t.start(ctx, "SchemaVersion")
	r0, err := t.st.SchemaVersion(ctx)
	end(span, err)
	return r0, err
}

// LeaderTry implements Store.
func (t *traced) LeaderTry(ctx context.Context, name string) (leaderCtx context.Context, release func(), ok bool, err error) {
	ctx, span := t.start(ctx, "LeaderTry")
	leaderCtx, release, ok, err = t.st.LeaderTry(ctx, name)
	end(span, err)
	return leaderCtx, release, ok, err
}

// Atomic implements Store: one span covers the transaction, and the calls
// inside it are spans of their own, its children.
func (t *traced) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, span := t.start(ctx, "Atomic")
	err := t.st.Atomic(ctx, fn)
	end(span, err)
	return err
}

// TenantCreate implements Store.
func (t *traced) TenantCreate(ctx context.Context, p *TenantCreateParams) (*Tenant, error) {
	ctx, span := t.start(ctx, "TenantCreate")
	r0, err := t.st.TenantCreate(ctx, p)
	end(span, err)
	return r0, err
}

// TenantGet implements Store.
func (t *traced) TenantGet(ctx context.Context, id string) (*Tenant, error) {
	ctx, span := t.start(ctx, "TenantGet")
	r0, err := t.st.TenantGet(ctx, id)
	end(span, err)
	return r0, err
}

// TenantList implements Store.
func (t *traced) TenantList(ctx context.Context) ([]*Tenant, error) {
	ctx, span := t.start(ctx, "TenantList")
	r0, err := t.st.TenantList(ctx)
	end(span, err)
	return r0, err
}

// TenantSettingsGet implements Store.
func (t *traced) TenantSettingsGet(ctx context.Context, tenantID string) (*TenantSettings, error) {
	ctx, span := t.start(ctx, "TenantSettingsGet")
	r0, err := t.st.TenantSettingsGet(ctx, tenantID)
	end(span, err)
	return r0, err
}

// TenantSettingsPut implements Store.
func (t *traced) TenantSettingsPut(ctx context.Context, p *TenantSettingsPutParams) (*TenantSettings, error) {
	ctx, span := t.start(ctx, "TenantSettingsPut")
	r0, err := t.st.TenantSettingsPut(ctx, p)
	end(span, err)
	return r0, err
}

// APIKeyCreate implements Store.
func (t *traced) APIKeyCreate(ctx context.Context, p *APIKeyCreateParams) (*APIKey, error) {
	ctx, span := t.start(ctx, "APIKeyCreate")
	r0, err := t.st.APIKeyCreate(ctx, p)
	end(span, err)
	return r0, err
}

// APIKeyGetByHash implements Store.
func (t *traced) APIKeyGetByHash(ctx context.Context, hash string) (*APIKey, error) {
	ctx, span := t.start(ctx, "APIKeyGetByHash")
	r0, err := t.st.APIKeyGetByHash(ctx, hash)
	end(span, err)
	return r0, err
}

// APIKeyList implements Store.
func (t *traced) APIKeyList(ctx context.Context, tenantID string) ([]*APIKey, error) {
	ctx, span := t.start(ctx, "APIKeyList")
	r0, err := t.st.APIKeyList(ctx, tenantID)
	end(span, err)
	return r0, err
}

// APIKeyTouch implements Store.
func (t *traced) APIKeyTouch(ctx context.Context, tenantID, id string, at time.Time) error {
	ctx, span := t.start(ctx, "APIKeyTouch")
	err := t.st.APIKeyTouch(ctx, tenantID, id, at)
	end(span, err)
	return err
}

// APIKeyRevoke implements Store.
func (t *traced) APIKeyRevoke(ctx context.Context, tenantID, id string) (*APIKey, error) {
	ctx, span := t.start(ctx, "APIKeyRevoke")
	r0, err := t.st.APIKeyRevoke(ctx, tenantID, id)
	end(span, err)
	return r0, err
}

// ExperimentCreate implements Store.
func (t *traced) ExperimentCreate(ctx context.Context, p *ExperimentCreateParams) (*Experiment, error) {
	ctx, span := t.start(ctx, "ExperimentCreate")
	r0, err := t.st.ExperimentCreate(ctx, p)
	end(span, err)
	return r0, err
}

// ExperimentGet implements Store.
func (t *traced) ExperimentGet(ctx context.Context, tenantID, id string) (*Experiment, error) {
	ctx, span := t.start(ctx, "ExperimentGet")
	r0, err := t.st.ExperimentGet(ctx, tenantID, id)
	end(span, err)
	return r0, err
}

// ExperimentList implements Store.
func (t *traced) ExperimentList(ctx context.Context, p *ExperimentListParams) (*Page[*Experiment], error) {
	ctx, span := t.start(ctx, "ExperimentList")
	r0, err := t.st.ExperimentList(ctx, p)
	end(span, err)
	return r0, err
}

// ExperimentListActive implements Store.
func (t *traced) ExperimentListActive(ctx context.Context) ([]*Experiment, error) {
	ctx, span := t.start(ctx, "ExperimentListActive")
	r0, err := t.st.ExperimentListActive(ctx)
	end(span, err)
	return r0, err
}

// ExperimentUpdate implements Store.
func (t *traced) ExperimentUpdate(ctx context.Context, p *ExperimentUpdateParams) (*Experiment, error) {
	ctx, span := t.start(ctx, "ExperimentUpdate")
	r0, err := t.st.ExperimentUpdate(ctx, p)
	end(span, err)
	return r0, err
}

// ExperimentSetResult implements Store.
func (t *traced) ExperimentSetResult(ctx context.Context, p *ExperimentSetResultParams) (*Experiment, error) {
	ctx, span := t.start(ctx, "ExperimentSetResult")
	r0, err := t.st.ExperimentSetResult(ctx, p)
	end(span, err)
	return r0, err
}

// ExperimentDelete implements Store.
func (t *traced) ExperimentDelete(ctx context.Context, tenantID, id string) error {
	ctx, span := t.start(ctx, "ExperimentDelete")
	err := t.st.ExperimentDelete(ctx, tenantID, id)
	end(span, err)
	return err
}

// ExperimentTransition implements Store.
func (t *traced) ExperimentTransition(ctx context.Context, p *ExperimentTransitionParams) (*Experiment, *ExperimentEvent, error) {
	ctx, span := t.start(ctx, "ExperimentTransition")
	r0, r1, err := t.st.ExperimentTransition(ctx, p)
	end(span, err)
	return r0, r1, err
}

// ExperimentEventList implements Store.
func (t *traced) ExperimentEventList(ctx context.Context, tenantID, experimentID string) ([]*ExperimentEvent, error) {
	ctx, span := t.start(ctx, "ExperimentEventList")
	r0, err := t.st.ExperimentEventList(ctx, tenantID, experimentID)
	end(span, err)
	return r0, err
}

// PipelineCreate implements Store.
func (t *traced) PipelineCreate(ctx context.Context, p *PipelineCreateParams) (*Pipeline, error) {
	ctx, span := t.start(ctx, "PipelineCreate")
	r0, err := t.st.PipelineCreate(ctx, p)
	end(span, err)
	return r0, err
}

// PipelineGet implements Store.
func (t *traced) PipelineGet(ctx context.Context, tenantID, id string) (*Pipeline, error) {
	ctx, span := t.start(ctx, "PipelineGet")
	r0, err := t.st.PipelineGet(ctx, tenantID, id)
	end(span, err)
	return r0, err
}

// PipelineGetByName implements Store.
func (t *traced) PipelineGetByName(ctx context.Context, tenantID, name string) (*Pipeline, error) {
	ctx, span := t.start(ctx, "PipelineGetByName")
	r0, err := t.st.PipelineGetByName(ctx, tenantID, name)
	end(span, err)
	return r0, err
}

// PipelineList implements Store.
func (t *traced) PipelineList(ctx context.Context, p *PipelineListParams) (*Page[*Pipeline], error) {
	ctx, span := t.start(ctx, "PipelineList")
	r0, err := t.st.PipelineList(ctx, p)
	end(span, err)
	return r0, err
}

// PipelineUpdate implements Store.
func (t *traced) PipelineUpdate(ctx context.Context, p *PipelineUpdateParams) (*Pipeline, error) {
	ctx, span := t.start(ctx, "PipelineUpdate")
	r0, err := t.st.PipelineUpdate(ctx, p)
	end(span, err)
	return r0, err
}

// PipelineDelete implements Store.
func (t *traced) PipelineDelete(ctx context.Context, tenantID, id string) error {
	ctx, span := t.start(ctx, "PipelineDelete")
	err := t.st.PipelineDelete(ctx, tenantID, id)
	end(span, err)
	return err
}

// DeploymentCreate implements Store.
func (t *traced) DeploymentCreate(ctx context.Context, p *DeploymentCreateParams) (*Deployment, error) {
	ctx, span := t.start(ctx, "DeploymentCreate")
	r0, err := t.st.DeploymentCreate(ctx, p)
	end(span, err)
	return r0, err
}

// DeploymentGet implements Store.
func (t *traced) DeploymentGet(ctx context.Context, tenantID, id string) (*Deployment, error) {
	ctx, span := t.start(ctx, "DeploymentGet")
	r0, err := t.st.DeploymentGet(ctx, tenantID, id)
	end(span, err)
	return r0, err
}

// DeploymentList implements Store.
func (t *traced) DeploymentList(ctx context.Context, p *DeploymentListParams) (*Page[*Deployment], error) {
	ctx, span := t.start(ctx, "DeploymentList")
	r0, err := t.st.DeploymentList(ctx, p)
	end(span, err)
	return r0, err
}

// DeploymentUpdate implements Store.
func (t *traced) DeploymentUpdate(ctx context.Context, p *DeploymentUpdateParams) (*Deployment, error) {
	ctx, span := t.start(ctx, "DeploymentUpdate")
	r0, err := t.st.DeploymentUpdate(ctx, p)
	end(span, err)
	return r0, err
}

// DeploymentDelete implements Store.
func (t *traced) DeploymentDelete(ctx context.Context, tenantID, id string) error {
	ctx, span := t.start(ctx, "DeploymentDelete")
	err := t.st.DeploymentDelete(ctx, tenantID, id)
	end(span, err)
	return err
}

// AgentUpsert implements Store.
func (t *traced) AgentUpsert(ctx context.Context, p *AgentUpsertParams) (*Agent, error) {
	ctx, span := t.start(ctx, "AgentUpsert")
	r0, err := t.st.AgentUpsert(ctx, p)
	end(span, err)
	return r0, err
}

// AgentGet implements Store.
func (t *traced) AgentGet(ctx context.Context, tenantID, instanceUID string) (*Agent, error) {
	ctx, span := t.start(ctx, "AgentGet")
	r0, err := t.st.AgentGet(ctx, tenantID, instanceUID)
	end(span, err)
	return r0, err
}

// AgentList implements Store.
func (t *traced) AgentList(ctx context.Context, p *AgentListParams) (*Page[*Agent], error) {
	ctx, span := t.start(ctx, "AgentList")
	r0, err := t.st.AgentList(ctx, p)
	end(span, err)
	return r0, err
}

// AgentMarkDisconnected implements Store.
func (t *traced) AgentMarkDisconnected(ctx context.Context, tenantID, instanceUID string) (*Agent, error) {
	ctx, span := t.start(ctx, "AgentMarkDisconnected")
	r0, err := t.st.AgentMarkDisconnected(ctx, tenantID, instanceUID)
	end(span, err)
	return r0, err
}

// AgentMarkStale implements Store.
func (t *traced) AgentMarkStale(ctx context.Context, seenBefore time.Time) (int64, error) {
	ctx, span := t.start(ctx, "AgentMarkStale")
	r0, err := t.st.AgentMarkStale(ctx, seenBefore)
	end(span, err)
	return r0, err
}

// EnrollmentTokenCreate implements Store.
func (t *traced) EnrollmentTokenCreate(ctx context.Context, p *EnrollmentTokenCreateParams) (*EnrollmentToken, error) {
	ctx, span := t.start(ctx, "EnrollmentTokenCreate")
	r0, err := t.st.EnrollmentTokenCreate(ctx, p)
	end(span, err)
	return r0, err
}

// EnrollmentTokenGetByHash implements Store.
func (t *traced) EnrollmentTokenGetByHash(ctx context.Context, hash string) (*EnrollmentToken, error) {
	ctx, span := t.start(ctx, "EnrollmentTokenGetByHash")
	r0, err := t.st.EnrollmentTokenGetByHash(ctx, hash)
	end(span, err)
	return r0, err
}

// EnrollmentTokenList implements Store.
func (t *traced) EnrollmentTokenList(ctx context.Context, tenantID string) ([]*EnrollmentToken, error) {
	ctx, span := t.start(ctx, "EnrollmentTokenList")
	r0, err := t.st.EnrollmentTokenList(ctx, tenantID)
	end(span, err)
	return r0, err
}

// EnrollmentTokenRevoke implements Store.
func (t *traced) EnrollmentTokenRevoke(ctx context.Context, tenantID, id string) (*EnrollmentToken, error) {
	ctx, span := t.start(ctx, "EnrollmentTokenRevoke")
	r0, err := t.st.EnrollmentTokenRevoke(ctx, tenantID, id)
	end(span, err)
	return r0, err
}

// AuditLogAppend implements Store.
func (t *traced) AuditLogAppend(ctx context.Context, p *AuditLogAppendParams) (*AuditEntry, error) {
	ctx, span := t.start(ctx, "AuditLogAppend")
	r0, err := t.st.AuditLogAppend(ctx, p)
	end(span, err)
	return r0, err
}

// AuditLogList implements Store.
func (t *traced) AuditLogList(ctx context.Context, p *AuditLogListParams) (*Page[*AuditEntry], error) {
	ctx, span := t.start(ctx, "AuditLogList")
	r0, err := t.st.AuditLogList(ctx, p)
	end(span, err)
	return r0, err
}

// IdempotencyGet implements Store.
func (t *traced) IdempotencyGet(ctx context.Context, tenantID, key string) (*IdempotencyRecord, error) {
	ctx, span := t.start(ctx, "IdempotencyGet")
	r0, err := t.st.IdempotencyGet(ctx, tenantID, key)
	end(span, err)
	return r0, err
}

// IdempotencyPut implements Store.
func (t *traced) IdempotencyPut(ctx context.Context, p *IdempotencyPutParams) (*IdempotencyRecord, error) {
	ctx, span := t.start(ctx, "IdempotencyPut")
	r0, err := t.st.IdempotencyPut(ctx, p)
	end(span, err)
	return r0, err
}

// IdempotencyClaim implements Store.
func (t *traced) IdempotencyClaim(ctx context.Context, p *IdempotencyClaimParams) (*IdempotencyRecord, bool, error) {
	ctx, span := t.start(ctx, "IdempotencyClaim")
	r0, r1, err := t.st.IdempotencyClaim(ctx, p)
	end(span, err)
	return r0, r1, err
}

// IdempotencyRelease implements Store.
func (t *traced) IdempotencyRelease(ctx context.Context, tenantID, key, requestHash string) error {
	ctx, span := t.start(ctx, "IdempotencyRelease")
	err := t.st.IdempotencyRelease(ctx, tenantID, key, requestHash)
	end(span, err)
	return err
}

// IdempotencyDeleteExpired implements Store.
func (t *traced) IdempotencyDeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	ctx, span := t.start(ctx, "IdempotencyDeleteExpired")
	r0, err := t.st.IdempotencyDeleteExpired(ctx, now)
	end(span, err)
	return r0, err
}
