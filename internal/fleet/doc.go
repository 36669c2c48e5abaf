// Package fleet is the OpAMP server side of Phoenix: the agent registry,
// what each agent runs, the push of its configuration, and the staged
// rollout of deployments.
//
// # Wiring
//
// [New] attaches an opamp-go server to Phoenix's own HTTP server instead
// of listening by itself. The caller mounts [Server.Handler] at [Path]
// (/v1/opamp) and must set [Server.ConnContext] as the http.Server's
// ConnContext (chaining it with its own, if any): plain-HTTP OpAMP
// requests find their connection through it, and the library panics on a
// plain-HTTP request without it. Both transports work: WebSocket (the
// configuration is pushed when it changes) and plain HTTP (it is returned
// in the response to the agent's next poll). [Server.Start] starts the
// loops and [Server.Shutdown] stops them, closes the agents' WebSockets
// and writes their last status. The API calls [Server.RevokeToken] after
// revoking an enrollment token (api.Deps.OnTokenRevoked), [Server.Reconcile]
// after changing deployments or experiments, [Server.Rollback] to roll a
// deployment back and [Server.Status] for a host's pipeline status; the
// experiment controller uses [Server.Deployer].
//
// # Enrollment and registry
//
// An agent connects with "Authorization: Bearer phxa_..." (an enrollment
// token); unknown, revoked and expired tokens are refused with HTTP 401,
// a store failure with 503 and Retry-After. Any agent speaking OpAMP can
// enroll. On every message the agent's record is updated: tenant from the
// token; host name from the agent description's identifying host.name
// attribute (else the non-identifying one); labels are the token's labels
// plus every description attribute, identifying and non-identifying,
// stringified (the token's labels win a conflict, then identifying
// attributes); version from service.version; capabilities; health
// (ComponentHealth); the SHA-256 of the effective configuration's files;
// and the remote configuration status (applying, applied, failed) with its
// error message. Records are written to the store behind the protocol (a
// burst of reports from one agent costs one write), and a WebSocket's
// close marks its agent disconnected. An agent that sends only part of
// its state to a server that does not know it is asked for its full
// state. A sweeper marks agents silent for longer than StaleAfter
// disconnected; an open WebSocket counts as a sign of life.
//
// # What an agent runs
//
// An agent's pipeline.Assignment is its host name, the configured
// collection interval and exporters, the active pipeline of its
// deployment, and every experiment in state deploying or running whose
// target lists its host or whose selector matches its labels. It is
// composed with pipeline.Compose and sent as the remote configuration
// files collector.yaml and phoenix.yaml (a [PhoenixConfig] naming the
// measurements' remote-write URL), both text/yaml, with the SHA-256 of
// both as the config hash. A configuration is sent only when its hash
// differs from what the agent reports and from what was sent to it (or was
// sent more than ResendAfter ago unacknowledged). A configuration that
// cannot be composed is not sent: the agent keeps what it runs and its
// record shows status failed with the error.
//
// Agents whose assignments differ only in the host name share one
// composition; rendering for a host substitutes the host name, which
// produces exactly what composing for that host would.
//
// # Which deployment an agent runs
//
// An agent runs exactly one deployment's pipeline (or the baseline
// pipeline when none applies). The candidates are the active deployments
// whose selector matches the agent's labels, and the rolling-out
// deployments whose selector matches and whose rollout already reached
// the agent's host. Among them the most specific selector (most labels)
// wins; ties go to the newest deployment (then the greatest ID). So a
// host not yet in a rollout's batches keeps running the deployment it ran
// before, and a {"host.name": "web-1"} deployment overrides an
// {"env": "prod"} one on web-1 only.
//
// # Rollouts
//
// The rollout loop (on the store's "fleet-rollouts" leader) moves a
// pending deployment to rolling_out and includes its first batch: the
// first BatchSize of its target hosts (hosts of connected agents on which
// it would be the winning deployment, sorted by name), then batches Growth
// times larger. A batch passes its health gate when every included host's
// agents report applied for their new configuration, none reports
// unhealthy, HealthGate has passed since, and Settings.Healthy approves
// each host of the batch. When no target host is left the deployment
// becomes active and the active deployments with exactly its selector
// become superseded. When an agent of the rollout reports failed, the
// deployment is paused with the reason and then failed: it no longer
// applies to any host, so every host returns to the pipeline it ran
// before. A batch that has not passed BatchTimeout (default 5m) plus
// HealthGate after it started is rolled back the same way, with the hosts
// that did not report in the reason. Progress (batch, per-host status and message) lives in the
// deployment's Rollout document, so a restarted server continues a
// rollout where it stopped.
//
// Deploy, the rollouts and Status read agents connected to this server
// from its registry and agents of other replicas from the store, and
// compute every agent's configuration from the same store state, so they
// hold behind a load balancer as long as the replicas share their Config.
package fleet
