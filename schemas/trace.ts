/**
 * The tracing contract (SPEC §9): the name and attribute keys of the span SWOOSH opens for every
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

export type TransitionOutcomeLabel = 'accepted' | 'rejected';
