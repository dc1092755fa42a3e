/**
 * A licence that lapses while the regions run (PROJECT_LIFECYCLE, before any beat's PLAN) enters
 * GRACE on the licence watch's own schedule, and DENIED (boot EXPIRED) once the grace runs out
 * (workflows/mission/licence-watch.ts). On the time-skipping test server; the licence checker is
 * the real one, reading the development licence, on a clock the test moves past the licence's
 * expiry.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities';
import { dataPaths } from '../../host/data-dir';
import { FileLedgerReader } from '../../ledger';
import { loadSigner } from '../../host/keys';
import { LicenceChecker } from '../../host/licence/checker';
import { signLicence } from '../../host/licence/tokens';
import { missionWorkflowId } from '../../schemas/mission';
import { bundlerOptions, createSwooshWorker, workflowsPath } from '../../workers/worker';
import { DEFAULT_CONFIG } from '../../workflows/statechart';
import { eventually, startTimeSkippingEnv, taskQueueFor } from '../support/temporal';
import {
  newSigner,
  prompt,
  registerSearchAttributes,
  startMissionWith,
  testDeps,
  TEST_SCHEDULE,
} from './support/missions';
import { untilMission } from './support/time-skipping';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let deps: ActivityDeps;
let ledger: FileLedgerReader;
/** How far the checker's clock runs ahead of the real one. */
let ahead = 0;
const DAY = 24 * 3600_000;
const LIFE = 2 * 3600_000;

beforeAll(async () => {
  let base: ActivityDeps;
  [env, bundle, base] = await Promise.all([
    startTimeSkippingEnv(),
    bundleWorkflowCode({ workflowsPath, ...bundlerOptions }),
    testDeps(),
  ]);
  await registerSearchAttributes(env);
  const paths = dataPaths(base.dataDir);
  ledger = new FileLedgerReader(paths.ledgerDir);
  // A licence that lives two hours, signed by the development issuer testDeps made.
  const issuer = await loadSigner(paths.licenceIssuerKey, 'licence-issuer');
  const issued = new Date();
  const tokenFile = join(base.dataDir, 'two-hours.token');
  writeFileSync(
    tokenFile,
    signLicence(
      {
        v: 1,
        id: 'two-hours',
        issuer: issuer.keyId,
        licensee: 'test',
        seats: 1,
        features: ['development'],
        issuedAt: issued.toISOString(),
        notBefore: issued.toISOString(),
        expiresAt: new Date(issued.getTime() + LIFE).toISOString(),
      },
      issuer,
    ),
  );
  deps = {
    ...base,
    licence: new LicenceChecker({
      issuerKey: issuer.keyId,
      source: { kind: 'file', path: tokenFile },
      graceMs: DAY,
      refreshMs: 1_000,
      retryMs: 1_000,
      timeoutMs: 5_000,
      clock: () => Date.now() + ahead,
    }),
  };
}, 120_000);

/** The licence verdicts the mission has asked for so far. */
async function licenceChecks(missionId: string): Promise<number> {
  const history = await env.client.workflow.getHandle(missionWorkflowId(missionId)).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'licenceVerdict',
  ).length;
}

afterAll(async () => {
  await env?.teardown();
});

test('a licence that lapses in PROJECT_LIFECYCLE enters GRACE on its refresh schedule, then DENIED when grace runs out', async () => {
  const id = randomUUID();
  const members = ['alice', 'bob', 'carol'].map((m) => ({ id: m, key: newSigner().key }));
  const worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: taskQueueFor('licence lapse'),
    deps,
    overrides: { workflowsPath: undefined, bundlerOptions: undefined, workflowBundle: bundle },
  });
  const handle = env.client.workflow.getHandle(missionWorkflowId(id));
  await worker.runUntil(async () => {
    // No member votes, so the council stays in ELECT and no beat ever reaches PLAN (where the
    // licence was refreshed before the watch): only the watch can notice the lapse.
    await startMissionWith(env.client, taskQueueFor('licence lapse'), prompt(id), {
      council: { roles: ['planner', 'reviewer'], members },
      schedule: TEST_SCHEDULE,
    });
    const licensed = await untilMission(
      env,
      id,
      (v) => v.state.boot.phase === 'LICENSED' && v.state.council.phase === 'ELECT',
    );
    const licensedAt = await env.currentTimeMs();
    const expiresAt = licensed.state.boot.licence.expires_at_ms!;
    expect(expiresAt - licensedAt).toBeLessThanOrEqual(LIFE);

    // From now on the checker's clock is past the expiry: its verdict is DEGRADED (expired). The
    // mission hears of it at its next check, on the licence's refresh schedule.
    ahead = LIFE + 3600_000;
    expect((await deps.licence.check()).status).toBe('DEGRADED');
    const grace = await untilMission(env, id, (v) => v.state.boot.phase === 'GRACE', {
      maxWorkflowMs: LIFE,
    });
    expect(grace.phase).toBe('DEGRADED');
    expect(grace.state.execution.phase).toBe('IDLE');
    expect(grace.state.council.phase).toBe('ELECT');
    const graceUntil = grace.state.boot.licence.grace_until_ms!;
    expect(graceUntil).toBeGreaterThan(await env.currentTimeMs());
    // Entered at the refresh time (70-80% of the time left), before the token's own expiry.
    const enteredAt = graceUntil - DEFAULT_CONFIG.licenceGraceMs;
    expect(enteredAt).toBeGreaterThanOrEqual(licensedAt + 0.6 * (expiresAt - licensedAt));
    expect(enteredAt).toBeLessThan(expiresAt);
    expect(await licenceChecks(id)).toBeGreaterThanOrEqual(2);

    // The licence stays expired: once grace runs out the hard stop, and not before.
    const denied = await untilMission(env, id, (v) => v.state.boot.phase === 'EXPIRED', {
      maxWorkflowMs: DEFAULT_CONFIG.licenceGraceMs + 60_000,
    });
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(graceUntil);
    expect(denied.state.boot.licence.status).toBe('expired');
    expect(denied.phase).toBe('LICENSE_CHECK');

    // The ledger has both decisions, in order, once their appends have completed.
    const transitions = await eventually(
      async () =>
        (await ledger.page(id, { limit: 200, kind: 'decision' })).records.flatMap((r) =>
          r.kind === 'decision' ? [r.transition] : [],
        ),
      (names) => names.includes('Boot_LicenseExpire'),
      30_000,
    );
    const lapse = transitions.slice(transitions.indexOf('Boot_LicenseGrace'));
    expect(lapse).toEqual(['Boot_LicenseGrace', 'Boot_LicenseExpire']);
    await handle.terminate('test finished');
  });
}, 300_000);
