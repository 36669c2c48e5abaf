package sqlite

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/phoenix/platform/internal/store/sqlfile"
)

//go:embed query/*.sql
var queryFiles embed.FS

// queries maps each "-- name: x" block of query/*.sql to its SQL text.
var queries = mustLoadQueries(queryFiles)

// query returns the named query. A missing name is a programming error caught
// when the package initialises, so every test run exercises it.
func query(name string) string {
	q, ok := queries[name]
	if !ok {
		panic(fmt.Sprintf("sqlite: query %q is not defined in query/*.sql", name))
	}
	return q
}

// mustLoadQueries parses the embedded query files; they are part of the
// binary, so a malformed file is a build defect.
func mustLoadQueries(fsys fs.FS) map[string]string {
	m, err := sqlfile.Queries(fsys, "query/*.sql")
	if err != nil {
		panic(err)
	}
	return m
}

// Queries of every method, resolved once at start.
var (
	qTenantCreate = query("tenant_create")
	qTenantGet    = query("tenant_get")
	qTenantList   = query("tenant_list")

	qTenantSettingsGet     = query("tenant_settings_get")
	qTenantSettingsUpsert  = query("tenant_settings_upsert")
	qTenantSettingsUpdate  = query("tenant_settings_update")
	qTenantSettingsVersion = query("tenant_settings_version")

	qAPIKeyCreate    = query("api_key_create")
	qAPIKeyGetByHash = query("api_key_get_by_hash")
	qAPIKeyList      = query("api_key_list")
	qAPIKeyTouch     = query("api_key_touch")
	qAPIKeyRevoke    = query("api_key_revoke")

	qExperimentCreate      = query("experiment_create")
	qExperimentGet         = query("experiment_get")
	qExperimentExists      = query("experiment_exists")
	qExperimentList        = query("experiment_list")
	qExperimentListActive  = query("experiment_list_active")
	qExperimentUpdate      = query("experiment_update")
	qExperimentSetResult   = query("experiment_set_result")
	qExperimentDelete      = query("experiment_delete")
	qExperimentTransition  = query("experiment_transition")
	qExperimentEventInsert = query("experiment_event_insert")
	qExperimentEventList   = query("experiment_event_list")

	qPipelineCreate    = query("pipeline_create")
	qPipelineGet       = query("pipeline_get")
	qPipelineGetByName = query("pipeline_get_by_name")
	qPipelineExists    = query("pipeline_exists")
	qPipelineList      = query("pipeline_list")
	qPipelineUpdate    = query("pipeline_update")
	qPipelineDelete    = query("pipeline_delete")

	qDeploymentCreate = query("deployment_create")
	qDeploymentGet    = query("deployment_get")
	qDeploymentExists = query("deployment_exists")
	qDeploymentList   = query("deployment_list")
	qDeploymentUpdate = query("deployment_update")
	qDeploymentDelete = query("deployment_delete")

	qAgentUpsert           = query("agent_upsert")
	qAgentGet              = query("agent_get")
	qAgentList             = query("agent_list")
	qAgentMarkDisconnected = query("agent_mark_disconnected")
	qAgentMarkStale        = query("agent_mark_stale")

	qEnrollmentTokenCreate    = query("enrollment_token_create")
	qEnrollmentTokenGetByHash = query("enrollment_token_get_by_hash")
	qEnrollmentTokenList      = query("enrollment_token_list")
	qEnrollmentTokenRevoke    = query("enrollment_token_revoke")

	qAuditLogAppend = query("audit_log_append")
	qAuditLogList   = query("audit_log_list")

	qIdempotencyGet           = query("idempotency_get")
	qIdempotencyClaim         = query("idempotency_claim")
	qIdempotencyPut           = query("idempotency_put")
	qIdempotencyRelease       = query("idempotency_release")
	qIdempotencyDeleteExpired = query("idempotency_delete_expired")

	qSchemaMigrationsCreate  = query("schema_migrations_create")
	qSchemaMigrationsVersion = query("schema_migrations_version")
	qSchemaMigrationsInsert  = query("schema_migrations_insert")
)

// listQuery appends filters, the keyset condition, the page order and the
// limit to a list query whose text ends in "WHERE tenant_id = ?".
type listQuery struct {
	sql  strings.Builder
	args []any
}

func newListQuery(base, tenantID string) *listQuery {
	l := &listQuery{args: []any{tenantID}}
	l.sql.WriteString(base)
	return l
}

// and appends "AND cond" with its arguments.
func (l *listQuery) and(cond string, args ...any) {
	l.sql.WriteString("\n  AND ")
	l.sql.WriteString(cond)
	l.args = append(l.args, args...)
}

// in appends "AND col IN (?, ...)" when values is not empty.
func (l *listQuery) in(col string, values []string) {
	if len(values) == 0 {
		return
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	l.and(col+" IN ("+marks+")", args...)
}

// page appends the keyset condition after cursor c (if ok), the order on
// (timeCol DESC, idCol DESC) and a limit of limit+1 rows, so the caller can
// tell whether another page follows.
func (l *listQuery) page(timeCol, idCol string, c cursor, limit int) (string, []any) {
	if c.ok {
		l.and("("+timeCol+", "+idCol+") < (?, ?)", micros(c.Time), c.ID)
	}
	l.sql.WriteString("\nORDER BY " + timeCol + " DESC, " + idCol + " DESC\nLIMIT ?")
	l.args = append(l.args, limit+1)
	return l.sql.String(), l.args
}
