/** When the licence watch checks next (workflows/mission/licence-watch.ts). */
import { expect, test } from 'vitest';
import type { StateDocument } from '../../schemas/state-document';
import { MIN_RECHECK_MS, nextLicenceCheck } from '../../workflows/mission/licence-watch';

const MIN = 60_000;
const GRACE = 15 * MIN;
const now = Date.UTC(2026, 11, 2, 12);

function boot(phase: string, licence: Partial<StateDocument['boot']['licence']> = {}): StateDocument['boot'] {
  return {
    phase,
    licence: {
      status: 'valid',
      expires_at_ms: null,
      token_digest: 'sha256-x',
      grace_until_ms: null,
      ...licence,
    },
    identities: {},
  } as StateDocument['boot'];
}

test('a long licence is re-checked at its refresh time, not before', () => {
  const life = 90 * 24 * 60 * MIN;
  const at = nextLicenceCheck(boot('LICENSED', { expires_at_ms: now + life }), now, 'm')!;
  expect(at).toBeGreaterThanOrEqual(now + 0.7 * life);
  expect(at).toBeLessThanOrEqual(now + 0.8 * life);
});

test('a licence about to expire is re-checked before its expiry, on its refresh schedule, and at it at the latest', () => {
  const expires = now + 10 * MIN;
  const at = nextLicenceCheck(boot('LICENSED', { expires_at_ms: expires }), now, 'm')!;
  // licenceRefreshAt: 70-80% of the remaining life.
  expect(at).toBeGreaterThanOrEqual(now + 7 * MIN);
  expect(at).toBeLessThanOrEqual(now + 8 * MIN);
  const close = nextLicenceCheck(boot('LICENSED', { expires_at_ms: now + 500 }), now, 'm');
  expect(close).toBe(now + 500);
  expect(nextLicenceCheck(boot('LICENSED', { expires_at_ms: now - 1 }), now, 'm')).toBe(now);
});

test('in GRACE the check moves towards the end of grace, never more often than the minimum', () => {
  const until = now + GRACE;
  const at = nextLicenceCheck(boot('GRACE', { status: 'grace', grace_until_ms: until }), now, 'm')!;
  expect(at).toBeGreaterThan(now);
  expect(at).toBeLessThan(until);
  const late = nextLicenceCheck(boot('GRACE', { grace_until_ms: now + 5_000 }), now, 'm')!;
  expect(late).toBeGreaterThanOrEqual(now + MIN_RECHECK_MS);
  expect(nextLicenceCheck(boot('GRACE', { grace_until_ms: now }), now, 'm')).toBe(now);
});

test('nothing to watch before a licence or after the hard stop', () => {
  expect(nextLicenceCheck(boot('LICENSE_CHECK'), now, 'm')).toBeNull();
  expect(
    nextLicenceCheck(boot('EXPIRED', { status: 'expired', grace_until_ms: now - 1 }), now, 'm'),
  ).toBeNull();
});
