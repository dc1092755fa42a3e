/**
 * The licence while the mission runs (docs/design.md#guards): re-checked on its refresh schedule
 * by a coroutine beside the regions, not only at PLAN, so a licence that lapses while the regions
 * work (or while a beat waits for its window) enters GRACE, and DENIED (boot EXPIRED) once the
 * grace runs out.
 */
import { condition, patched } from '@temporalio/workflow';
import type { StateDocument } from '../../schemas/state-document';
import { licenceRefreshAt } from '../statechart';
import type { MissionEngine } from './engine';

/** The patch that started the licence watch; missions recorded before it re-checked only at PLAN. */
export const LICENCE_WATCH_PATCH = 'swoosh-licence-watch-v1';

/** Never re-check more often than this, however close the expiry or the end of grace. */
export const MIN_RECHECK_MS = 1_000;

/** One refresh at a time per mission: PLAN and the watch may both ask at once. */
const refreshing = new WeakMap<MissionEngine, Promise<void>>();

/** Refreshes the licence: renews it, enters grace when it lapsed, hard-stops when grace ran out. */
export function refreshLicence(m: MissionEngine): Promise<void> {
  let running = refreshing.get(m);
  if (running === undefined) {
    running = refreshOnce(m).finally(() => refreshing.delete(m));
    refreshing.set(m, running);
  }
  return running;
}

async function refreshOnce(m: MissionEngine): Promise<void> {
  const licence = await m.ioCall('refresh the licence (KACHING)').licenceVerdict();
  const boot = m.state.boot;
  if (licence.status === 'valid') {
    const same =
      boot.phase === 'LICENSED' &&
      boot.licence.expires_at_ms === licence.expires_at_ms &&
      boot.licence.token_digest === licence.token_digest;
    if (!same)
      await m.take(
        'Boot_Licensed',
        { expires_at_ms: licence.expires_at_ms, token_digest: licence.token_digest },
        { io: { licence } },
      );
  } else if (boot.phase === 'LICENSED') {
    await m.take(
      'Boot_LicenseGrace',
      { reason: licence.detail ?? `licence ${licence.status}` },
      { io: { licence } },
    );
  } else if (
    boot.phase === 'GRACE' &&
    boot.licence.grace_until_ms !== null &&
    Date.now() >= boot.licence.grace_until_ms
  ) {
    await m.take('Boot_LicenseExpire', {});
  }
}

/**
 * When to check the licence next, or null when there is nothing to watch (not licensed, or
 * already EXPIRED). LICENSED: at the token's refresh time (`licenceRefreshAt`, from now to its
 * expiry), and at its expiry at the latest. GRACE: on the same schedule towards the end of grace,
 * and at the end of grace at the latest. A beat's PLAN refreshes it too, so a running beat also
 * notices a licence withdrawn long before its expiry.
 */
export function nextLicenceCheck(boot: StateDocument['boot'], now: number, seed: string): number | null {
  const seeded = `${seed}:${boot.licence.token_digest ?? 'none'}`;
  const towards = (deadline: number): number => {
    if (now >= deadline) return now;
    const at = Math.max(licenceRefreshAt(now, deadline, seeded), now + MIN_RECHECK_MS);
    return Math.min(at, deadline);
  };
  if (boot.phase === 'LICENSED' && boot.licence.expires_at_ms !== null)
    return towards(boot.licence.expires_at_ms);
  if (boot.phase === 'GRACE' && boot.licence.grace_until_ms !== null)
    return towards(boot.licence.grace_until_ms);
  return null;
}

/** The licence fields a check is scheduled from: when one changes, the schedule starts again. */
function scheduleKey(boot: StateDocument['boot']): string {
  const { phase, licence } = boot;
  return `${phase}:${licence.expires_at_ms}:${licence.token_digest}:${licence.grace_until_ms}`;
}

/** Runs beside the regions from BOOT on; returns when the mission is terminated. */
export async function runLicenceWatch(m: MissionEngine): Promise<void> {
  if (!patched(LICENCE_WATCH_PATCH)) return;
  while (!m.terminated) {
    const key = scheduleKey(m.state.boot);
    const changed = () => m.terminated || scheduleKey(m.state.boot) !== key;
    const now = Date.now();
    const at = nextLicenceCheck(m.state.boot, now, m.missionId);
    if (at === null) {
      await condition(changed);
      continue;
    }
    const early = at > now && (await condition(changed, at - now, { summary: 'licence re-check' }));
    // Something else (PLAN's refresh, an outside Boot_Licensed) moved the licence: reschedule.
    if (early || m.terminated) continue;
    await refreshLicence(m);
  }
}
