/**
 * Gates shared by many transitions: the mission is not terminated, control lets work run, the
 * mission is not quarantined, and the latest policy scan found no breach.
 */
import { fail, PASS, type Guard } from './types';

/** A TERMINATED mission accepts nothing: termination is absorbing. */
export const activeGuard: Guard = (state) =>
  state.terminal.phase === 'TERMINATED'
    ? fail(`mission is TERMINATED (${state.terminal.rationale ?? 'no rationale'}): no further transitions`)
    : PASS;

/** Forward work runs only while control is RUNNING or DEGRADED (PAUSED and RECOVERY hold it). */
export const controlGuard: Guard = (state) =>
  state.control.phase === 'RUNNING' || state.control.phase === 'DEGRADED'
    ? PASS
    : fail(`control is ${state.control.phase}: forward work holds until Control_Resume`);

/**
 * QUARANTINED blocks all forward work; only compensations, control, an owner release or a policy
 * update may run. This is half of what makes the quarantine sticky (the other half is that only
 * Policy_Release and Policy_Update leave it).
 */
export const notQuarantinedGuard: Guard = (state) =>
  state.policy.phase === 'CLEAR'
    ? PASS
    : fail(
        `mission is QUARANTINED (${state.policy.rationale ?? 'no rationale'}): forward work is blocked until an owner release or a policy update`,
      );

/**
 * The SHHH scan of this step's inputs. No verdict means the caller did not scan this step, which
 * passes; a breach fails and asks the orchestrator to take Policy_Quarantine with the rationale,
 * so that the breach is acted on through the same guarded, recorded path as any transition.
 */
export const policyScanGuard: Guard = (_state, gi) => {
  const policy = gi.io.policy;
  if (policy === undefined || !policy.breach) return PASS;
  const rationale = policy.rationale ?? policy.breaches[0] ?? 'policy breach';
  const breaches = policy.breaches.length > 0 ? policy.breaches : [rationale];
  return {
    ok: false,
    reasons: [
      `policy breach: ${rationale}`,
      ...breaches.filter((b) => b !== rationale).map((b) => `breach: ${b}`),
    ],
    escalation: { transition: 'Policy_Quarantine', inputs: { rationale, breaches } },
  };
};
