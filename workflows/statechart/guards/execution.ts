/**
 * Guards of the EXECUTION loop. Entry needs all three lifecycle regions READY and a plan locked to
 * exactly their current content/version hashes (docs/design.md#the-statechart); each later step re-checks the lock, so an
 * index swapped mid-flight holds execution until an explicit Execution_Replan.
 */
import type { PlanLock } from '../../../schemas/state-document';
import { currentPlanLock, samePlanLock } from '../state';
import { windowAt } from '../window';
import { fail, PASS, verdict, type Guard, type GuardFor } from './types';

/** Ingestion, council and environment are all READY. */
export const regionsReadyGuard: Guard = (state) => {
  const reasons: string[] = [];
  if (state.ingestion.phase !== 'READY') reasons.push(`ingestion is ${state.ingestion.phase}, not READY`);
  if (state.council.phase !== 'READY') reasons.push(`council is ${state.council.phase}, not READY`);
  if (state.environment.phase !== 'READY')
    reasons.push(`environment is ${state.environment.phase}, not READY`);
  return verdict(reasons);
};

function lockMismatch(proposed: PlanLock, current: PlanLock): string[] {
  const reasons: string[] = [];
  for (const field of ['content_hash', 'index_version', 'council_set_hash', 'environment_hash'] as const) {
    if (proposed[field] !== current[field]) {
      reasons.push(
        `plan ${field} ${String(proposed[field])} does not match the regions' ${String(current[field])}`,
      );
    }
  }
  return reasons;
}

/** Execution_Enter / Execution_Replan: the proposed plan lock equals the regions' current versions. */
export const planLockGuard: GuardFor<'plan-lock'> = (state, gi) => {
  const current = currentPlanLock(state);
  if (current === null) return fail('the regions have no complete content/version to lock a plan to');
  return verdict(lockMismatch(gi.inputs.plan_lock, current));
};

/** Steps inside the loop: the locked plan still matches the regions (no swap since). */
export const planCurrentGuard: Guard = (state) => {
  const locked = state.execution.plan_lock;
  if (locked === null) return fail('no plan is locked');
  const current = currentPlanLock(state);
  if (samePlanLock(locked, current)) return PASS;
  if (current === null) return fail('the regions no longer have a complete version');
  return verdict(lockMismatch(locked, current).map((r) => `${r}: an explicit Execution_Replan is required`));
};

/** Execution_Review: review needs evidence pointers to review. */
export const evidenceGuard: Guard = (_state, gi) =>
  gi.evidence.length > 0 ? PASS : fail('review needs at least one evidence pointer');

/** Execution_Approve: one approval per signer per beat, so one approver cannot make a quorum. */
export const approvalUniqueGuard: Guard = (state, gi) =>
  state.execution.approvals.some((a) => a.approver === gi.signer)
    ? fail(`${gi.signer} already decided on beat ${state.execution.beat}`)
    : PASS;

/** Execution_Reverb: enough approvals and no rejection of this beat's evidence. */
export const approvalsGuard: Guard = (state, _gi, config) => {
  const approvals = state.execution.approvals;
  const approved = approvals.filter((a) => a.decision === 'approve').length;
  const reasons = approvals.filter((a) => a.decision === 'reject').map((a) => `rejected by ${a.approver}`);
  if (approved < config.approvalsRequired) {
    reasons.push(`${approved} approval(s), ${config.approvalsRequired} required`);
  }
  return verdict(reasons);
};

/** Execution_NextWindow: the next beat starts in a new window, at most one beat per window. */
export const nextWindowGuard: Guard = (state, gi, config) => {
  const id = windowAt(config.schedule, gi.now).id;
  return id === state.execution.window_id
    ? fail(`still in window ${id}: the next window has not opened`)
    : PASS;
};
