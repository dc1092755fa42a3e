/**
 * Guards of the PROJECT_LIFECYCLE regions: validation outcomes for ingestion, council membership
 * for ejections, health checks for the environment.
 */
import { fail, PASS, verdict, type Guard, type GuardFor } from './types';

/** Ingestion_Index: only content that passed validation with no violations is indexed. */
export const validationGuard: GuardFor<'validation'> = (_state, gi) => {
  const reasons: string[] = [];
  if (!gi.inputs.passed) reasons.push(`validation report ${gi.inputs.report_hash} did not pass`);
  for (const v of gi.inputs.violations) reasons.push(`validation violation: ${v}`);
  return verdict(reasons);
};

/**
 * Ingestion_Quarantine: a quarantine needs the violations that justify it. The inputs schema
 * already demands at least one; the guard states the rule where a reader of the statechart looks.
 */
export const validationViolationGuard: GuardFor<'validation-violation'> = (_state, gi) =>
  gi.inputs.violations.length > 0 ? PASS : fail('a quarantine needs the violations that justify it');

/**
 * Ingestion_RollbackIndex out of QUARANTINED waits for the mission quarantine to lift: otherwise a
 * rollback would route around the sticky POLICY quarantine and let the same content back in.
 */
export const quarantineExitGuard: Guard = (state) =>
  state.ingestion.phase === 'QUARANTINED' && state.policy.phase === 'QUARANTINED'
    ? fail(
        'ingestion quarantine lifts only after the mission quarantine is released or a policy update clears it',
      )
    : PASS;

/** Council_Eject: only current members can be ejected, and someone must remain. */
export const membershipGuard: GuardFor<'membership'> = (state, gi) => {
  const ejected = gi.inputs.members;
  const current = new Set(state.council.members.map((m) => m.id));
  const reasons: string[] = [];
  for (const id of ejected) if (!current.has(id)) reasons.push(`${id} is not a council member`);
  const remaining = state.council.members.filter((m) => !ejected.includes(m.id)).length;
  if (remaining === 0) reasons.push('ejecting every member leaves no council: use Council_ReElect');
  return verdict(reasons);
};

/** Environment_Ready: every reported check passed. */
export const healthGuard: GuardFor<'health'> = (_state, gi) =>
  verdict(
    gi.inputs.checks
      .filter((c) => !c.ok)
      .map((c) => `health check ${c.name} failed${c.detail ? `: ${c.detail}` : ''}`),
  );

/** Environment_Degrade: degrading needs at least one failed check to point at. */
export const healthFailureGuard: GuardFor<'health-failure'> = (_state, gi) =>
  gi.inputs.checks.some((c) => !c.ok) ? PASS : fail('every health check passed: nothing to degrade for');
