/**
 * Licence guards (KACHING, docs/design.md#guards): a hard gate at LICENSE_CHECK, a grace substate (boot GRACE)
 * when the licence lapses, and a hard stop of all external work when grace expires. The licence
 * server is reached by an activity; its verdict arrives as `io.licence`.
 */
import { formatInstant } from '../../../schemas/hlc';
import { hashCanonical } from '../../../schemas/hash';
import { fail, PASS, verdict, type Guard, type GuardFor } from './types';

/**
 * External work needs a live licence: LICENSED with an unexpired token, or GRACE before the grace
 * deadline. The deadline is checked against the clock, not only the phase, so work stops at grace
 * expiry even if Boot_LicenseExpire has not been applied yet.
 */
export const licenceGuard: Guard = (state, gi) => {
  const { phase, licence } = state.boot;
  if (phase === 'LICENSED') {
    if (licence.expires_at_ms !== null && gi.now >= licence.expires_at_ms) {
      return fail(
        `licence token expired at ${formatInstant(licence.expires_at_ms)}: refresh with Boot_Licensed`,
      );
    }
    return PASS;
  }
  if (phase === 'GRACE') {
    if (licence.grace_until_ms !== null && gi.now < licence.grace_until_ms) return PASS;
    return fail(
      `licence grace expired at ${formatInstant(licence.grace_until_ms ?? gi.now)}: all external work stops`,
    );
  }
  return fail(`mission is not licensed (boot is ${phase})`);
};

/**
 * Boot_Licensed needs a valid verdict with a token that has not already expired, and the proposal
 * must record exactly that token (expiry and digest): the state is rebuilt from proposals alone on
 * replay, so what the verdict said has to be carried by the proposal.
 */
export const licenceVerdictGuard: GuardFor<'licence-verdict'> = (_state, gi) => {
  const v = gi.io.licence;
  if (v === undefined) return fail('licence verdict required (io.licence)');
  const reasons: string[] = [];
  if (v.expires_at_ms !== gi.inputs.expires_at_ms) {
    reasons.push(
      `proposal records expiry ${gi.inputs.expires_at_ms}, the verdict says ${String(v.expires_at_ms)}`,
    );
  }
  if (v.token_digest !== gi.inputs.token_digest) {
    reasons.push(
      `proposal records token ${gi.inputs.token_digest}, the verdict says ${String(v.token_digest)}`,
    );
  }
  if (v.status !== 'valid') reasons.push(`licence ${v.status}${v.detail ? `: ${v.detail}` : ''}`);
  if (v.status === 'valid' && v.expires_at_ms === null) reasons.push('licence verdict has no expiry');
  if (v.status === 'valid' && v.expires_at_ms !== null && v.expires_at_ms <= gi.now) {
    reasons.push(`licence token already expired at ${formatInstant(v.expires_at_ms)}`);
  }
  if (v.status === 'valid' && v.token_digest === null) reasons.push('licence verdict has no token digest');
  return verdict(reasons);
};

/**
 * Boot_LicenseGrace needs evidence that the licence lapsed: a verdict other than valid, or a cached
 * token that has run out. Entering grace on a healthy licence would start a needless countdown.
 */
export const licenceLapseGuard: Guard = (state, gi) => {
  const v = gi.io.licence;
  if (v !== undefined && v.status !== 'valid') return PASS;
  const expires = state.boot.licence.expires_at_ms;
  if (expires !== null && gi.now >= expires) return PASS;
  return fail(
    v === undefined
      ? `licence has not lapsed (token valid until ${expires === null ? 'unknown' : formatInstant(expires)}) and no failed verdict was supplied`
      : 'licence verdict is valid: nothing lapsed',
  );
};

/** Boot_LicenseExpire only once the grace deadline has passed. */
export const graceExpiredGuard: Guard = (state, gi) => {
  const until = state.boot.licence.grace_until_ms;
  if (until === null) return fail('no grace period is running');
  return gi.now >= until ? PASS : fail(`grace runs until ${formatInstant(until)}`);
};

/**
 * When to refresh a cached licence token: at 80% of its lifetime minus a jitter of up to 10% of
 * it. The jitter is derived from `seed` (mission id, token digest) instead of a random number, so
 * many missions spread their refreshes while each one stays replayable.
 */
export function licenceRefreshAt(issuedAtMs: number, expiresAtMs: number, seed: string): number {
  const lifetime = Math.max(0, expiresAtMs - issuedAtMs);
  const digest = hashCanonical(seed);
  const fraction = parseInt(digest.slice(7, 15), 16) / 0xffffffff;
  return issuedAtMs + Math.floor(lifetime * 0.8 - lifetime * 0.1 * fraction);
}
