/**
 * Failure is compensated, not fatal (docs/design.md#compensation). When an activity fails for good
 * (its retry policy is spent, or it failed with a non-retryable error), the step that called it
 * runs the compensation the statechart defines for its region, the mission goes DEGRADED with the
 * reason (Control_Degrade, whose decision record binds it) and the step is tried again after a backoff. Once
 * every failing part has recovered, the orchestrator takes Control_Resume itself. Only a confirmed
 * policy block (Terminal_Terminate) or an owner ends a mission early.
 *
 * The faults are the mission's own bookkeeping beside the state document: which parts are failing
 * and why, and the reason of the Control_Degrade taken for them, carried across continue-as-new.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  isCancellation,
  patched,
} from '@temporalio/workflow';
import type { FaultsView } from '../../schemas/mission';
import { backoffMs } from '../statechart';
import type { MissionEngine } from './engine';

/**
 * The patch that compensates an activity failing for good instead of failing the mission with it.
 * It is checked only where such a failure is caught, so a history recorded before it (where the
 * failure failed the workflow) replays the same.
 */
export const COMPENSATION_PATCH = 'swoosh-compensation-v1';

/** Transition inputs' `reason` is at most 1024 characters. */
const REASON_MAX = 1024;

export function clipReason(reason: string): string {
  return reason.length <= REASON_MAX ? reason : `${reason.slice(0, REASON_MAX - 1)}…`;
}

/** The open faults and the orchestrator's own DEGRADED (the `faults` of the mission view). */
export class MissionFaults {
  #view: FaultsView;

  constructor(view: FaultsView = { open: [], degraded_with: null }) {
    this.#view = view;
  }

  get view(): FaultsView {
    return this.#view;
  }

  /** Worth carrying across continue-as-new. */
  get any(): boolean {
    return this.#view.open.length > 0 || this.#view.degraded_with !== null;
  }

  has(fault: string): boolean {
    return this.#view.open.some((f) => f.fault === fault);
  }

  open(fault: string, reason: string, nowMs: number): void {
    const open = this.has(fault)
      ? this.#view.open.map((f) => (f.fault === fault ? { ...f, reason } : f))
      : [...this.#view.open, { fault, reason, since_ms: nowMs }];
    this.#view = { ...this.#view, open };
  }

  close(fault: string): void {
    this.#view = { ...this.#view, open: this.#view.open.filter((f) => f.fault !== fault) };
  }

  degradedWith(reason: string | null): void {
    this.#view = { ...this.#view, degraded_with: reason };
  }
}

/**
 * Why an activity or a child workflow (an agent job) failed for good — its retries are spent, or it
 * failed with a non-retryable error — for the caller to compensate, when the mission runs under
 * COMPENSATION_PATCH. Anything else — another error, a cancellation, or any failure in a history
 * recorded before the patch — is thrown again, as before. Callers catch around the very `await` of
 * the call so the successful path resumes exactly as it did before the patch.
 */
export function failedForGood(error: unknown): string {
  const failed = error instanceof ActivityFailure || error instanceof ChildWorkflowFailure;
  if (!failed || isCancellation(error) || !patched(COMPENSATION_PATCH)) throw error;
  return failureReason(error);
}

/** `<activity or workflow type> failed for good (<retry state>): <type>: <message>` from the cause. */
function failureReason(error: ActivityFailure | ChildWorkflowFailure): string {
  const what = error instanceof ActivityFailure ? error.activityType : error.workflowType;
  const cause = error.cause;
  const type = cause instanceof ApplicationFailure && cause.type ? `${cause.type}: ` : '';
  const message = cause?.message ?? error.message;
  return clipReason(`${what} failed for good (${error.retryState}): ${type}${message}`);
}

/**
 * Degrades the mission for `fault` (a region's name; `execution` unless named) with `reason`, and
 * records the fault as open until `recovered(m, fault, how)`. Idempotent and safe in any control
 * phase: from RUNNING it takes Control_Degrade with the reason (its decision record binds it); when
 * already DEGRADED it only records the fault (the reason is in the faults view, not a second
 * record); when PAUSED or in RECOVERY (which hold forward work already) or TERMINATED it records the
 * fault and takes nothing. A fault opened again keeps its first `since_ms` and the newest reason.
 * Returns whether the mission is DEGRADED afterwards. It queues in the engine's mutex, so it must
 * not be awaited from inside `m.exclusive` (that would wait for itself).
 */
export function degrade(m: MissionEngine, reason: string, fault = 'execution'): Promise<boolean> {
  return m.exclusive(async () => {
    const text = clipReason(reason);
    m.faults.open(fault, text, Date.now());
    if (m.terminated) return false;
    const phase = m.state.control.phase;
    if (phase === 'DEGRADED') return true;
    if (phase !== 'RUNNING') return false;
    const r = await m.takeLocked('Control_Degrade', { reason: text });
    if (r.accepted) m.faults.degradedWith(text);
    return r.accepted;
  });
}

/**
 * Closes `fault`. When it was the last one open and the mission is still in the DEGRADED the
 * orchestrator entered for them (not one an operator entered, nor one after a pause or an owner's
 * resume), takes Control_Resume with `how` as its reason. Returns whether it resumed. Does nothing,
 * and records nothing, for a fault that is not open.
 */
export function recovered(m: MissionEngine, fault: string, how: string): Promise<boolean> {
  if (!m.faults.has(fault)) return Promise.resolve(false);
  return m.exclusive(async () => {
    if (!m.faults.has(fault)) return false;
    m.faults.close(fault);
    const ours = m.faults.view.degraded_with;
    // Control_Degrade enters DEGRADED only from RUNNING: the same reason means the same stay.
    if (ours !== null && (m.state.control.phase !== 'DEGRADED' || m.state.control.reason !== ours))
      m.faults.degradedWith(null);
    if (m.faults.view.degraded_with === null || m.faults.view.open.length > 0 || m.terminated) return false;
    const r = await m.takeLocked('Control_Resume', { reason: clipReason(`recovered: ${how}`) });
    if (r.accepted) m.faults.degradedWith(null);
    return r.accepted;
  });
}

/**
 * Waits before a compensated step is tried again: the schedule's backoff for the `failures` so far,
 * cut short when an owner resumes the DEGRADED mission (their way to say "try again now").
 */
export async function retryLater(m: MissionEngine, failures: number): Promise<void> {
  const degraded = m.state.control.phase === 'DEGRADED';
  await condition(
    () => m.terminated || (degraded && m.state.control.phase === 'RUNNING'),
    backoffMs(m.machine.schedule, Math.min(failures, 16)),
  );
}
