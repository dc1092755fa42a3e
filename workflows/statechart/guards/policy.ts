/**
 * Policy guards (SHHH, docs/design.md#guards): a breach quarantines the mission with its rationale; the quarantine
 * is sticky, lifted only by an owner release (authorised by signer class) or a policy update under
 * which the mission scans clear; a confirmed block terminates it.
 */
import { fail, PASS, verdict, type Guard, type GuardFor } from './types';

/** Policy_Quarantine needs the scanner's verdict to report the breach. */
export const policyBreachGuard: Guard = (_state, gi) => {
  const policy = gi.io.policy;
  if (policy === undefined) return fail('policy verdict required (io.policy)');
  return policy.breach ? PASS : fail('the policy verdict reports no breach');
};

/**
 * Policy_Update installs a new version; out of QUARANTINED it also needs a clean scan under that
 * version, so a policy update cannot be used to wave a breach through.
 */
export const policyUpdateGuard: GuardFor<'policy-update'> = (state, gi) => {
  const version = gi.inputs.policy_version;
  const reasons: string[] = [];
  if (version === state.policy.policy_version) reasons.push(`policy version ${version} is already in force`);
  if (state.policy.phase === 'QUARANTINED') {
    const policy = gi.io.policy;
    if (policy === undefined)
      reasons.push(`a scan under policy ${version} is required to lift the quarantine (io.policy)`);
    else {
      if (policy.policy_version !== version) {
        reasons.push(`the scan ran under policy ${policy.policy_version ?? 'unknown'}, not ${version}`);
      }
      if (policy.breach)
        reasons.push(`the mission still breaches policy ${version}: ${policy.rationale ?? 'breach'}`);
    }
  }
  return verdict(reasons);
};

/** Terminal_Terminate: only a quarantined mission whose block the policy owner confirmed. */
export const confirmedBlockGuard: Guard = (state, gi) => {
  const reasons: string[] = [];
  if (state.policy.phase !== 'QUARANTINED') reasons.push('mission is not QUARANTINED');
  if (gi.io.policy?.confirmed_block !== true) reasons.push('the policy verdict does not confirm a block');
  return reasons.length === 0 ? PASS : verdict(reasons);
};
