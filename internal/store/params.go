package store

import (
	"encoding/json"
	"time"
)

// TenantCreateParams creates a tenant.
type TenantCreateParams struct {
	// ID of the new tenant; empty assigns [NewID].
	ID string
	// Name is required and unique across tenants.
	Name string
}

// Validate reports nil params, missing fields.
func (p *TenantCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return required("name", p.Name)
}

// TenantSettingsPutParams writes a tenant's settings, inserting them on the
// first write.
type TenantSettingsPutParams struct {
	// TenantID is required.
	TenantID string
	// Pricing is the pricing document; required, valid JSON.
	Pricing json.RawMessage
	// Version is the version the caller read. Zero writes whatever is stored
	// (last write wins); a positive value writes only if the stored settings
	// are still at that version, else ErrVersionConflict (also when none are
	// stored). Negative is refused.
	Version int64
	// UpdatedBy names the writer; may be empty.
	UpdatedBy string
}

// Validate reports nil params, missing fields, malformed JSON and a negative
// version.
func (p *TenantSettingsPutParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID); err != nil {
		return err
	}
	if p.Pricing == nil {
		return invalid("pricing: is required")
	}
	if err := validJSON("pricing", p.Pricing); err != nil {
		return err
	}
	if p.Version < 0 {
		return invalid("version: must not be negative")
	}
	return nil
}

// APIKeyCreateParams creates an API key.
type APIKeyCreateParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new key; empty assigns [NewID].
	ID string
	// Name is a free label.
	Name string
	// Prefix is the displayable start of the key; required.
	Prefix string
	// Hash of the secret; required and unique across tenants.
	Hash string
	// Role is RoleAdmin, RoleEditor or RoleViewer.
	Role string
	// CreatedBy names the creator; may be empty.
	CreatedBy string
	// ExpiresAt is when the key stops working; nil means never.
	ExpiresAt *time.Time
}

// Validate reports nil params, missing fields and an unknown role.
func (p *APIKeyCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "prefix", p.Prefix, "hash", p.Hash); err != nil {
		return err
	}
	switch p.Role {
	case RoleAdmin, RoleEditor, RoleViewer:
		return nil
	default:
		return invalid("role: %q is not one of admin, editor, viewer", p.Role)
	}
}

// ExperimentCreateParams creates an experiment at Version 1.
type ExperimentCreateParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new experiment; empty assigns [NewID].
	ID string
	// OwnerID is the owner; may be empty.
	OwnerID string
	// Name is required.
	Name string
	// State is the initial state, e.g. "draft"; required.
	State string
	// Spec is the definition, a JSON document; nil stores {}.
	Spec json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *ExperimentCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "name", p.Name, "state", p.State); err != nil {
		return err
	}
	return validJSON("spec", p.Spec)
}

// ExperimentListParams filters and pages experiments of one tenant, newest
// first.
type ExperimentListParams struct {
	// TenantID is required.
	TenantID string
	// States keeps experiments in any of these states; empty keeps all.
	States []string
	// OwnerID keeps experiments of this owner; empty keeps all.
	OwnerID string
	// NamePrefix keeps experiments whose name starts with it (case
	// sensitive); empty keeps all.
	NamePrefix string
	// Cursor continues after a previous page; empty starts at the newest.
	Cursor string
	// Limit is the page size, bounded by [PageLimit].
	Limit int
}

// Validate reports nil params, a missing tenant and a malformed cursor.
func (p *ExperimentListParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return listValidate(p.TenantID, p.Cursor)
}

// ExperimentUpdateParams changes the editable fields of an experiment if it
// is still at Version. Nil fields are left unchanged. State is changed only by
// [Store.ExperimentTransition].
type ExperimentUpdateParams struct {
	// TenantID is required.
	TenantID string
	// ID is required.
	ID string
	// Version is the version the caller read; required.
	Version int64
	// Name replaces the name when non-nil; must not be empty.
	Name *string
	// OwnerID replaces the owner when non-nil.
	OwnerID *string
	// Spec replaces the definition when non-nil.
	Spec json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *ExperimentUpdateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "id", p.ID); err != nil {
		return err
	}
	if p.Version <= 0 {
		return invalid("version: must be the positive version that was read")
	}
	if p.Name != nil && *p.Name == "" {
		return invalid("name: must not be empty")
	}
	return validJSON("spec", p.Spec)
}

// ExperimentSetResultParams stores the analysis result of an experiment.
type ExperimentSetResultParams struct {
	// TenantID is required.
	TenantID string
	// ID is required.
	ID string
	// Version, when positive, makes the write optimistic: it fails with
	// [ErrVersionConflict] unless the experiment is still at Version. Zero
	// writes unconditionally.
	Version int64
	// Result is the analysis, a JSON document; required.
	Result json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *ExperimentSetResultParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "id", p.ID); err != nil {
		return err
	}
	if p.Version < 0 {
		return invalid("version: must not be negative")
	}
	if p.Result == nil {
		return invalid("result: is required")
	}
	return validJSON("result", p.Result)
}

// ExperimentTransitionParams moves an experiment from one state to another
// with a compare-and-set, recording an [ExperimentEvent] in the same
// transaction.
type ExperimentTransitionParams struct {
	// TenantID is required.
	TenantID string
	// ID is required.
	ID string
	// From is the state the experiment must be in; required.
	From string
	// To is the new state; required.
	To string
	// Actor names who or what causes the transition.
	Actor string
	// Reason explains the transition; may be empty.
	Reason string
	// At is when the transition happens; zero means now.
	At time.Time
	// SetStarted sets the experiment's StartedAt to At.
	SetStarted bool
	// SetEnded sets the experiment's EndedAt to At.
	SetEnded bool
	// Result, when non-nil, stores the analysis result in the same write,
	// e.g. the verdict of a transition to "completed".
	Result json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *ExperimentTransitionParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "id", p.ID, "from", p.From, "to", p.To); err != nil {
		return err
	}
	return validJSON("result", p.Result)
}

// PipelineCreateParams creates a pipeline at Version 1.
type PipelineCreateParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new pipeline; empty assigns [NewID].
	ID string
	// Name is required and unique within the tenant.
	Name string
	// Description is free text.
	Description string
	// Config is the definition as a JSON document; nil stores {}.
	Config json.RawMessage
	// YAML is the definition as written by the user.
	YAML string
	// CreatedBy names the creator; may be empty.
	CreatedBy string
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *PipelineCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "name", p.Name); err != nil {
		return err
	}
	return validJSON("config", p.Config)
}

// PipelineListParams filters and pages pipelines of one tenant, newest first.
type PipelineListParams struct {
	// TenantID is required.
	TenantID string
	// NamePrefix keeps pipelines whose name starts with it; empty keeps all.
	NamePrefix string
	// Cursor continues after a previous page; empty starts at the newest.
	Cursor string
	// Limit is the page size, bounded by [PageLimit].
	Limit int
}

// Validate reports nil params, a missing tenant and a malformed cursor.
func (p *PipelineListParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return listValidate(p.TenantID, p.Cursor)
}

// PipelineUpdateParams changes a pipeline if it is still at Version. Nil
// fields are left unchanged.
type PipelineUpdateParams struct {
	// TenantID is required.
	TenantID string
	// ID is required.
	ID string
	// Version is the version the caller read; required.
	Version int64
	// Name replaces the name when non-nil; must not be empty.
	Name *string
	// Description replaces the description when non-nil.
	Description *string
	// Config replaces the JSON definition when non-nil.
	Config json.RawMessage
	// YAML replaces the YAML text when non-nil.
	YAML *string
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *PipelineUpdateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "id", p.ID); err != nil {
		return err
	}
	if p.Version <= 0 {
		return invalid("version: must be the positive version that was read")
	}
	if p.Name != nil && *p.Name == "" {
		return invalid("name: must not be empty")
	}
	return validJSON("config", p.Config)
}

// DeploymentCreateParams creates a deployment at Version 1.
type DeploymentCreateParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new deployment; empty assigns [NewID].
	ID string
	// Name is a human label.
	Name string
	// PipelineRef names the pipeline; required.
	PipelineRef string
	// Params are the pipeline parameters; nil stores {}.
	Params json.RawMessage
	// Selector chooses the agents; nil stores {}.
	Selector json.RawMessage
	// State is the initial state; required.
	State string
	// Rollout holds the batches; nil stores {}.
	Rollout json.RawMessage
	// PreviousID is the deployment this one replaces; may be empty.
	PreviousID string
	// ExperimentID is the experiment this deployment promotes; may be empty.
	ExperimentID string
	// CreatedBy names the creator; may be empty.
	CreatedBy string
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *DeploymentCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "pipeline_ref", p.PipelineRef, "state", p.State); err != nil {
		return err
	}
	return validJSON("params", p.Params, "selector", p.Selector, "rollout", p.Rollout)
}

// DeploymentListParams filters and pages deployments of one tenant, newest
// first.
type DeploymentListParams struct {
	// TenantID is required.
	TenantID string
	// States keeps deployments in any of these states; empty keeps all.
	States []string
	// PipelineRef keeps deployments of this pipeline; empty keeps all.
	PipelineRef string
	// Cursor continues after a previous page; empty starts at the newest.
	Cursor string
	// Limit is the page size, bounded by [PageLimit].
	Limit int
}

// Validate reports nil params, a missing tenant and a malformed cursor.
func (p *DeploymentListParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return listValidate(p.TenantID, p.Cursor)
}

// DeploymentUpdateParams changes a deployment if it is still at Version. Nil
// fields are left unchanged.
type DeploymentUpdateParams struct {
	// TenantID is required.
	TenantID string
	// ID is required.
	ID string
	// Version is the version the caller read; required.
	Version int64
	// State replaces the state when non-nil; must not be empty.
	State *string
	// Params replaces the parameters when non-nil.
	Params json.RawMessage
	// Selector replaces the selector when non-nil.
	Selector json.RawMessage
	// Rollout replaces the rollout document when non-nil.
	Rollout json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *DeploymentUpdateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "id", p.ID); err != nil {
		return err
	}
	if p.Version <= 0 {
		return invalid("version: must be the positive version that was read")
	}
	if p.State != nil && *p.State == "" {
		return invalid("state: must not be empty")
	}
	return validJSON("params", p.Params, "selector", p.Selector, "rollout", p.Rollout)
}

// AgentUpsertParams records the full current status of an agent, inserting
// it on first sight. CreatedAt is kept from the first insert.
type AgentUpsertParams struct {
	// TenantID is required.
	TenantID string
	// InstanceUID is required.
	InstanceUID string
	// HostName is the agent's host.
	HostName string
	// Labels are the agent's attributes; nil stores none.
	Labels map[string]string
	// AgentVersion is the agent's build version.
	AgentVersion string
	// Capabilities is the OpAMP capability bit set.
	Capabilities uint64
	// Healthy is the overall health.
	Healthy bool
	// Health is the component health report; nil stores none.
	Health json.RawMessage
	// EffectiveConfigHash is the hash of the running configuration.
	EffectiveConfigHash string
	// RemoteConfigHash is the hash of the last remote configuration reported on.
	RemoteConfigHash string
	// RemoteConfigStatus is the remote config status, e.g. "APPLIED".
	RemoteConfigStatus string
	// RemoteConfigMessage is the remote config error message.
	RemoteConfigMessage string
	// Connected reports whether the agent holds a connection.
	Connected bool
	// SeenAt is when the agent was heard from; zero means now.
	SeenAt time.Time
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *AgentUpsertParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "instance_uid", p.InstanceUID); err != nil {
		return err
	}
	return validJSON("health", p.Health)
}

// AgentListParams filters and pages agents of one tenant, newest first.
type AgentListParams struct {
	// TenantID is required.
	TenantID string
	// Connected, when non-nil, keeps agents whose Connected equals it.
	Connected *bool
	// HostName keeps agents on this host; empty keeps all.
	HostName string
	// Cursor continues after a previous page; empty starts at the newest.
	Cursor string
	// Limit is the page size, bounded by [PageLimit].
	Limit int
}

// Validate reports nil params, a missing tenant and a malformed cursor.
func (p *AgentListParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return listValidate(p.TenantID, p.Cursor)
}

// EnrollmentTokenCreateParams creates an enrollment token.
type EnrollmentTokenCreateParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new token; empty assigns [NewID].
	ID string
	// Name is a free label.
	Name string
	// Prefix is the displayable start of the token; required.
	Prefix string
	// Hash of the secret; required and unique across tenants.
	Hash string
	// Labels are attached to agents that enroll with it; nil stores none.
	Labels map[string]string
	// CreatedBy names the creator; may be empty.
	CreatedBy string
	// ExpiresAt is when the token stops working; nil means never.
	ExpiresAt *time.Time
}

// Validate reports nil params, missing fields.
func (p *EnrollmentTokenCreateParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return required("tenant_id", p.TenantID, "prefix", p.Prefix, "hash", p.Hash)
}

// AuditLogAppendParams appends an audit entry.
type AuditLogAppendParams struct {
	// TenantID is required.
	TenantID string
	// ID of the new entry; empty assigns [NewID].
	ID string
	// At is when the action happened; zero means now.
	At time.Time
	// Actor names who acted; required.
	Actor string
	// Action is what was done; required.
	Action string
	// ResourceType is the kind of resource acted on.
	ResourceType string
	// ResourceID identifies the resource acted on.
	ResourceID string
	// Details is extra context; nil stores none.
	Details json.RawMessage
}

// Validate reports nil params, missing fields and malformed JSON.
func (p *AuditLogAppendParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "actor", p.Actor, "action", p.Action); err != nil {
		return err
	}
	return validJSON("details", p.Details)
}

// AuditLogListParams filters and pages the audit log of one tenant, newest
// first (ordered by At, then ID).
type AuditLogListParams struct {
	// TenantID is required.
	TenantID string
	// Actor keeps entries of this actor; empty keeps all.
	Actor string
	// Action keeps entries of this action; empty keeps all.
	Action string
	// ResourceType keeps entries on this kind of resource; empty keeps all.
	ResourceType string
	// ResourceID keeps entries on this resource; empty keeps all.
	ResourceID string
	// Cursor continues after a previous page; empty starts at the newest.
	Cursor string
	// Limit is the page size, bounded by [PageLimit].
	Limit int
}

// Validate reports nil params, a missing tenant and a malformed cursor.
func (p *AuditLogListParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	return listValidate(p.TenantID, p.Cursor)
}

// IdempotencyClaimParams reserve an Idempotency-Key for the request about
// to be served.
type IdempotencyClaimParams struct {
	// TenantID is required.
	TenantID string
	// Key is the client's Idempotency-Key; required.
	Key string
	// RequestHash identifies the request; required.
	RequestHash string
	// ExpiresAt is when the claim lapses if it is never completed nor
	// released (the server stopped while serving); required.
	ExpiresAt time.Time
}

// Validate reports nil params and missing fields.
func (p *IdempotencyClaimParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "key", p.Key, "request_hash", p.RequestHash); err != nil {
		return err
	}
	if p.ExpiresAt.IsZero() {
		return invalid("expires_at: is required")
	}
	return nil
}

// IdempotencyPutParams records the response to a request made with an
// Idempotency-Key.
type IdempotencyPutParams struct {
	// TenantID is required.
	TenantID string
	// Key is the client's Idempotency-Key; required.
	Key string
	// RequestHash identifies the request; required.
	RequestHash string
	// ResponseStatus is the HTTP status to replay; required (100-599).
	ResponseStatus int
	// ResponseBody is the body to replay.
	ResponseBody []byte
	// ExpiresAt is when the record stops being replayed; required.
	ExpiresAt time.Time
}

// Validate reports nil params, missing fields.
func (p *IdempotencyPutParams) Validate() error {
	if p == nil {
		return invalid("params: are required")
	}
	if err := required("tenant_id", p.TenantID, "key", p.Key, "request_hash", p.RequestHash); err != nil {
		return err
	}
	if p.ResponseStatus < 100 || p.ResponseStatus > 599 {
		return invalid("response_status: %d is not an HTTP status", p.ResponseStatus)
	}
	if p.ExpiresAt.IsZero() {
		return invalid("expires_at: is required")
	}
	return nil
}

// required checks name/value pairs and reports the first empty value.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return invalid("%s: is required", pairs[i])
		}
	}
	return nil
}

// validJSON checks name/document pairs: a nil document is allowed, anything
// else must be valid JSON.
func validJSON(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		doc, _ := pairs[i+1].(json.RawMessage)
		if doc != nil && !json.Valid(doc) {
			return invalid("%s: is not valid JSON", pairs[i])
		}
	}
	return nil
}

// listValidate checks the fields every List params struct shares.
func listValidate(tenantID, cursor string) error {
	if err := required("tenant_id", tenantID); err != nil {
		return err
	}
	_, _, err := DecodeCursor(cursor)
	return err
}
