/**
 * Observability for transition decisions, called from workflow code (docs/design.md#observability). Sandbox-safe.
 *
 * - Metrics go through the SDK's workflow `metricMeter`, which forwards to the worker's Runtime
 *   through a sink and skips the call while replaying, so a replayed history never counts twice.
 * - The log line goes through the workflow `log`, which the SDK also silences during replay; the
 *   worker's Runtime logger writes it as one JSON line (workers/telemetry.ts).
 * - The span comes from the tracer provider that @temporalio/interceptors-opentelemetry registers
 *   inside the sandbox (workflows/interceptors.ts). Its spans leave through a sink that is not
 *   called during replay. Without those interceptors the tracer is OpenTelemetry's no-op one, so
 *   a worker with tracing off pays nothing for it.
 *
 * None of this writes to history, so wiring it into an existing workflow needs no `patched()`.
 */
import { SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { log, metricMeter } from '@temporalio/workflow';
import {
  TRANSITION_LOG_MESSAGES,
  UNKNOWN_FIELD,
  type AcceptedTransitionLog,
  type RejectedTransitionLog,
} from '../schemas/log-record';
import { METRICS } from '../schemas/metrics';
import { SPAN_ATTRIBUTES as A, TRANSITION_SPAN_PREFIX } from '../schemas/trace';
import type { InvariantViolation, Rejected } from './statechart';
import type { StatechartDecisionDraft } from '../schemas/decision-record';
import { decisionId } from '../schemas/decision-id';
import type { TransitionName } from '../schemas/statechart';
import { TRANSITIONS } from '../schemas/statechart';

const TRACER_NAME = 'swoosh-workflow';

export interface AcceptedObservation {
  /** Workflow time (`Date.now()` in the workflow) when the transition was requested. */
  readonly requestedAtMs: number;
  /** Retries spent before this acceptance (stale resubmissions, retried steps); default 0. */
  readonly retries?: number;
}

/**
 * Records an accepted transition once its decision record is written: counts it (and a
 * quarantine if it entered QUARANTINED), observes the state-advance latency of its region,
 * adds its retries, logs the JSON transition line and emits the `transition:<name>` span with
 * hashes, HLC, window, guard outcomes and evidence as attributes.
 */
export function observeAcceptedTransition(
  decision: StatechartDecisionDraft,
  observation: AcceptedObservation,
): void {
  const retries = observation.retries ?? 0;
  const id = decisionId(decision);
  metricMeter
    .createCounter(METRICS.transitionTotal.name, undefined, METRICS.transitionTotal.help)
    .add(1, { transition: decision.transition });
  if (TRANSITIONS[decision.transition].to === 'QUARANTINED') {
    metricMeter.createCounter(METRICS.quarantineTotal.name, undefined, METRICS.quarantineTotal.help).add(1);
  }
  if (retries > 0) {
    metricMeter
      .createCounter(METRICS.retryCount.name, undefined, METRICS.retryCount.help)
      .add(retries, { transition: decision.transition });
  }
  metricMeter
    .createHistogram(METRICS.stateAdvanceLatency.name, 'float', undefined, METRICS.stateAdvanceLatency.help)
    .record(Math.max(0, Date.now() - observation.requestedAtMs) / 1000, { region: decision.region });

  const line: AcceptedTransitionLog = {
    outcome: 'accepted',
    mission: decision.mission,
    region: decision.region,
    transition: decision.transition,
    state_pre_hash: decision.pre_state_hash,
    state_post_hash: decision.post_state_hash,
    hlc: decision.hlc,
    window_id: decision.window_id,
    decision_id: id,
    seq: decision.seq,
    guards: decision.guards.map((g) => g.guard),
    evidence: [...decision.evidence],
  };
  log.info(TRANSITION_LOG_MESSAGES.accepted, line);

  emitSpan(decision.transition, {
    [A.mission]: decision.mission,
    [A.region]: decision.region,
    [A.transition]: decision.transition,
    [A.outcome]: 'accepted',
    [A.statePreHash]: decision.pre_state_hash,
    [A.statePostHash]: decision.post_state_hash,
    [A.hlc]: decision.hlc,
    [A.windowId]: decision.window_id,
    [A.decisionId]: id,
    [A.guards]: decision.guards.map((g) => `${g.guard}=${g.ok ? 'pass' : 'fail'}`),
    [A.guardReasons]: decision.guards.flatMap((g) => g.reasons.map((r) => `${g.guard}: ${r}`)),
    [A.evidence]: [...decision.evidence],
  });
}

export interface RejectedObservation {
  readonly mission: string;
  /** HEAD when the proposal was rejected; the state is unchanged, so pre and post hash both. */
  readonly head: string;
  /** The proposal as received; transition, HLC and window id are read from it when present. */
  readonly proposal: unknown;
}

/**
 * Records a rejected proposal: counts the failing guard, logs the JSON rejection line and emits
 * a `transition:<name>` span with ERROR status that names the failing guard and its reasons.
 * Safe to call from an update validator: it writes nothing to history.
 */
export function observeRejectedTransition(rejected: Rejected, observation: RejectedObservation): void {
  metricMeter
    .createCounter(METRICS.guardFailTotal.name, undefined, METRICS.guardFailTotal.help)
    .add(1, { guard: rejected.failing_guard });

  const proposal = fieldsOf(observation.proposal);
  // A rejected proposal is untrusted input: only a known transition name reaches span names.
  const known = proposal.transition !== null && Object.hasOwn(TRANSITIONS, proposal.transition);
  const transition = known ? (proposal.transition as TransitionName) : UNKNOWN_FIELD;
  const region = known ? TRANSITIONS[transition as TransitionName].region : UNKNOWN_FIELD;
  const hlc = proposal.hlc ?? UNKNOWN_FIELD;
  const windowId = proposal.window_id ?? UNKNOWN_FIELD;
  const line: RejectedTransitionLog = {
    outcome: 'rejected',
    mission: observation.mission,
    region,
    transition,
    state_pre_hash: observation.head,
    state_post_hash: observation.head,
    hlc,
    window_id: windowId,
    failing_guard: rejected.failing_guard,
    reasons: [...rejected.reasons],
  };
  // INFO, not WARN: rejections are normal protocol outcomes (stale HEAD, closed window), not faults.
  log.info(TRANSITION_LOG_MESSAGES.rejected, line);

  emitSpan(
    transition,
    {
      [A.mission]: observation.mission,
      [A.region]: region,
      [A.transition]: transition,
      [A.outcome]: 'rejected',
      [A.statePreHash]: observation.head,
      [A.statePostHash]: observation.head,
      [A.hlc]: hlc,
      [A.windowId]: windowId,
      [A.failingGuard]: rejected.failing_guard,
      [A.reasons]: [...rejected.reasons],
      [A.guards]: rejected.outcomes.map((g) => `${g.guard}=${g.ok ? 'pass' : 'fail'}`),
    },
    `rejected by ${rejected.failing_guard}`,
  );
}

/**
 * Records the invariant violations the checker found after an accepted transition: counts each
 * broken invariant once and logs them at ERROR. What the mission does about them is the engine's.
 */
export function observeInvariantViolations(
  decision: StatechartDecisionDraft,
  violations: readonly InvariantViolation[],
): void {
  const counter = metricMeter.createCounter(
    METRICS.invariantViolationTotal.name,
    undefined,
    METRICS.invariantViolationTotal.help,
  );
  for (const invariant of new Set(violations.map((v) => v.invariant))) counter.add(1, { invariant });
  log.error('invariant violation', {
    mission: decision.mission,
    transition: decision.transition,
    seq: decision.seq,
    violations: violations.map((v) => `${v.invariant}: ${v.detail}`),
  });
}

/** Time a mission spent in RECOVERY, observed when it leaves it. */
export function observeRecoveryTime(seconds: number): void {
  metricMeter
    .createHistogram(METRICS.recoveryTime.name, 'float', undefined, METRICS.recoveryTime.help)
    .record(Math.max(0, seconds));
}

/** How late a durable timer fired: workflow time at firing minus its due time. */
export function observeTimerLateness(seconds: number, action: string): void {
  metricMeter
    .createHistogram(METRICS.timerLateness.name, 'float', undefined, METRICS.timerLateness.help)
    .record(Math.max(0, seconds), { action });
}

function emitSpan(transition: string, attributes: Attributes, error?: string): void {
  // Workflow time: the span marks the decision instant; replays never reach the exporter sink.
  const span = trace
    .getTracer(TRACER_NAME)
    .startSpan(`${TRANSITION_SPAN_PREFIX}${transition}`, { attributes });
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

/** Longest HLC or window id copied from an untrusted proposal into logs and spans. */
const MAX_FIELD = 128;

function fieldsOf(proposal: unknown): {
  transition: string | null;
  hlc: string | null;
  window_id: string | null;
} {
  const record =
    typeof proposal === 'object' && proposal !== null ? (proposal as Record<string, unknown>) : {};
  const text = (key: string): string | null => {
    const value = record[key];
    return typeof value === 'string' && value.length > 0 && value.length <= MAX_FIELD ? value : null;
  };
  return { transition: text('transition'), hlc: text('hlc'), window_id: text('window_id') };
}
