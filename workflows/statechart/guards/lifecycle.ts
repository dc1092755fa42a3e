/**
 * Guards of the PROJECT_LIFECYCLE regions: validation outcomes for ingestion, council membership
 * for ejections, health checks for the environment.
 */
import { parseInputs } from '../../../schemas/transition-inputs';
import { fail, PASS, verdict, type Guard } from './types';

/** Ingestion_Index: only content that passed validation with no violations is indexed. */
export const validationGuard: Guard = (_state, gi) => {
  const parsed = parseInputs('Ingestion_Index', gi.inputs);
  if (!parsed.ok) return verdict(parsed.reasons);
  const reasons: string[] = [];
  if (!parsed.value.passed) reasons.push(`validation report ${parsed.value.report_hash} did not pass`);
  for (const v of parsed.value.violations) reasons.push(`validation violation: ${v}`);
  return verdict(reasons);
};

/** Ingestion_Quarantine: a quarantine needs the violations that justify it. */
export const validationViolationGuard: Guard = (_state, gi) => {
  const parsed = parseInputs('Ingestion_Quarantine', gi.inputs);
  return parsed.ok ? PASS : verdict(parsed.reasons);
};

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
export const membershipGuard: Guard = (state, gi) => {
  const parsed = parseInputs('Council_Eject', gi.inputs);
  if (!parsed.ok) return verdict(parsed.reasons);
  const current = new Set(state.council.members.map((m) => m.id));
  const reasons: string[] = [];
  for (const id of parsed.value.members) if (!current.has(id)) reasons.push(`${id} is not a council member`);
  const remaining = state.council.members.filter((m) => !parsed.value.members.includes(m.id)).length;
  if (remaining === 0) reasons.push('ejecting every member leaves no council: use Council_ReElect');
  return verdict(reasons);
};

/** Environment_Ready: every reported check passed. */
export const healthGuard: Guard = (_state, gi) => {
  const parsed = parseInputs('Environment_Ready', gi.inputs);
  if (!parsed.ok) return verdict(parsed.reasons);
  return verdict(
    parsed.value.checks
      .filter((c) => !c.ok)
      .map((c) => `health check ${c.name} failed${c.detail ? `: ${c.detail}` : ''}`),
  );
};

/** Environment_Degrade: degrading needs at least one failed check to point at. */
export const healthFailureGuard: Guard = (_state, gi) => {
  const parsed = parseInputs('Environment_Degrade', gi.inputs);
  if (!parsed.ok) return verdict(parsed.reasons);
  return parsed.value.checks.some((c) => !c.ok)
    ? PASS
    : fail('every health check passed: nothing to degrade for');
};
