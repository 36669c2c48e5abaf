-- name: audit_log_append
INSERT INTO audit_log (tenant_id, id, at, actor, action, resource_type, resource_id, details)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
RETURNING tenant_id, id, at, actor, action, resource_type, resource_id, details;

-- The list filters, ORDER BY and LIMIT are appended by AuditLogList.
-- name: audit_log_list
SELECT tenant_id, id, at, actor, action, resource_type, resource_id, details
FROM audit_log
WHERE tenant_id = ?
