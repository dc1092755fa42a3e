/**
 * A broken invariant in production (issue 19 §5): a mission continued from a snapshot whose
 * council set hash names members it does not have. Its first transition is checked, the checker
 * finds `quorum-certificate` broken, and the mission must quarantine itself naming the invariant —
 * in the `GET /missions/:id` view, the Phase search attribute and the ledger — and count it in
 * `swoosh_invariant_violation_total` on the worker's /metrics, not only log it.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { readMission } from '../../api/missions';
import { dataPaths } from '../../host/data-dir';
import { readLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import { missionWorkflowId, type MissionView } from '../../schemas/mission';
import { METRICS } from '../../schemas/metrics';
import { PhaseKey } from '../../schemas/search-attributes';
import type { StateDocument } from '../../schemas/state-document';
import { createSwooshWorker } from '../../workers/worker';
import { startFromBrokenSnapshot } from '../histories/broken-snapshot';
import { parseExposition, valueOf } from '../observability/support/prometheus';
import { installTestTelemetry } from '../observability/support/worker-telemetry';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { noLedgerYet, testDeps } from './support/missions';

const { metricsPort, logLines } = await installTestTelemetry('swoosh-invariant-test');

let env: TestWorkflowEnvironment;
let deps: ActivityDeps;
let worker: Worker;
let running: Promise<void>;
const missionId = randomUUID();
type Viewed = MissionView & { state: StateDocument };
let quarantined: Viewed;

beforeAll(async () => {
  [env, deps] = await Promise.all([startDevServerEnv(), testDeps()]);
  const taskQueue = taskQueueFor('invariant quarantine');
  worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
  });
  running = worker.run();
  await startFromBrokenSnapshot(env.client, taskQueue, missionId);
  quarantined = (await eventually(
    () => readMission(env.client, missionId),
    (v) => v.phase === 'QUARANTINED',
    60_000,
  )) as Viewed;
});

afterAll(async () => {
  await env?.client.workflow
    .getHandle(missionWorkflowId(missionId))
    .terminate('test over')
    .catch(() => undefined);
  worker?.shutdown();
  await running;
  await env?.teardown();
});

describe('a violated invariant quarantines the mission', () => {
  test('GET /missions/:id shows QUARANTINED with the invariant named among the breaches', () => {
    expect(quarantined.phase).toBe('QUARANTINED');
    expect(quarantined.state.policy.phase).toBe('QUARANTINED');
    expect(quarantined.state.policy.breaches).toEqual(['invariant:quorum-certificate']);
    expect(quarantined.state.policy.rationale).toMatch(
      /^invariant violated after Boot_\w+ #1: quorum-certificate: council_set_hash \S+ is not the members' hash null/,
    );
  });

  test('forward work holds: the council never leaves its first phase', () => {
    expect(quarantined.state.council.phase).toBe('PLAN_ROLES');
    expect(quarantined.state.execution.phase).toBe('IDLE');
  });

  test('the Phase search attribute says QUARANTINED', async () => {
    const handle = env.client.workflow.getHandle(missionWorkflowId(missionId));
    const described = await eventually(
      () => handle.describe(),
      (d) => d.typedSearchAttributes.get(PhaseKey) === 'QUARANTINED',
      30_000,
    );
    expect(described.typedSearchAttributes.get(PhaseKey)).toBe('QUARANTINED');
  });

  test('the quarantine is a decision in the ledger, taken right after the violating transition', async () => {
    // The quarantine's ledger append follows the state a query shows.
    const decisions = await eventually(
      async () =>
        (await readLedger(dataPaths(deps.dataDir).ledgerDir, missionId).catch(noLedgerYet)).records.filter(
          (r): r is DecisionRecord => r.kind === 'decision',
        ),
      (all) => all.some((d) => d.transition === 'Policy_Quarantine'),
      30_000,
    );
    const quarantine = decisions.find((d) => d.transition === 'Policy_Quarantine');
    expect(quarantine?.seq).toBe(2);
    expect(decisions[0]?.transition).toMatch(/^Boot_/);
  });

  test('swoosh_invariant_violation_total counts it, labelled with the invariant', async () => {
    const scrape = async () =>
      parseExposition(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    const metrics = await eventually(
      scrape,
      (e) => valueOf(e, METRICS.invariantViolationTotal.name, { invariant: 'quorum-certificate' }) > 0,
      30_000,
    );
    expect(
      valueOf(metrics, METRICS.invariantViolationTotal.name, { invariant: 'quorum-certificate' }),
    ).toBeGreaterThan(0);
    expect(metrics.type.get(METRICS.invariantViolationTotal.name)).toBe('counter');
  });

  test('the violation is logged at ERROR with the mission and the transition', () => {
    const lines = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'invariant violation' && l.mission === missionId);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatchObject({ level: 'ERROR', seq: 1 });
  });
});
