/**
 * The tracing contract (docs/design.md#observability): the name and attribute keys of the span SWOOSH opens for every
 * transition decision, so trace queries and the workflow helper that sets them agree. Temporal's
 * own spans (StartWorkflow, RunWorkflow, HandleUpdate, StartActivity, RunActivity, …) come from
 * @temporalio/interceptors-opentelemetry and keep that package's names.
 */

/** Span name prefix: a transition span is `transition:<TransitionName>`. */
export const TRANSITION_SPAN_PREFIX = 'transition:';

export const SPAN_ATTRIBUTES = {
  mission: 'swoosh.mission',
  region: 'swoosh.region',
  transition: 'swoosh.transition',
  /** `accepted` or `rejected`. */
  outcome: 'swoosh.outcome',
  statePreHash: 'swoosh.state_pre_hash',
  statePostHash: 'swoosh.state_post_hash',
  hlc: 'swoosh.hlc',
  windowId: 'swoosh.window_id',
  decisionId: 'swoosh.decision_id',
  /** Every guard evaluated, as `name=pass|fail`. */
  guards: 'swoosh.guards',
  /** Every guard reason, as `name: reason`. */
  guardReasons: 'swoosh.guard_reasons',
  evidence: 'swoosh.evidence',
  failingGuard: 'swoosh.failing_guard',
  reasons: 'swoosh.reasons',
} as const;

/** The spans of an agent Job's life, each with `swoosh.job_name`, `swoosh.job_backend` and, once known, `swoosh.job_outcome`. */
export const AGENT_JOB_SPANS = {
  spawn: 'agent-job:spawn',
  follow: 'agent-job:follow',
  reap: 'agent-job:reap',
} as const;

export const AGENT_JOB_ATTRIBUTES = {
  name: 'swoosh.job_name',
  backend: 'swoosh.job_backend',
  outcome: 'swoosh.job_outcome',
} as const;

/** Each A2A JSON-RPC call is a span `a2a:<method>` (`a2a:unknown` for a method SWOOSH does not have). */
export const A2A_SPAN_PREFIX = 'a2a:';

/** OpenTelemetry's JSON-RPC attribute names, plus whether the call was a notification. */
export const A2A_SPAN_ATTRIBUTES = {
  system: 'rpc.system',
  method: 'rpc.method',
  /** The request id as a string (`''` for null); absent on a notification. */
  requestId: 'rpc.jsonrpc.request_id',
  errorCode: 'rpc.jsonrpc.error_code',
  notification: 'swoosh.a2a.notification',
} as const;

export type TransitionOutcomeLabel = 'accepted' | 'rejected';
