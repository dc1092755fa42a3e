/**
 * Exactly-once firing across a worker crash, on the real dev server: the worker runs in a child
 * process, is SIGKILLed while timers are armed, and a new one is started. Every timer must fire
 * once, as seen by a real webhook target, and be archived once in its shard's timer ledger, which
 * verifies.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TimerRecord } from '../../schemas/timer';
import { shardStatusQuery } from '../../schemas/timer-messages';
import { shardWorkflowId } from '../../schemas/timer-shard-key';
import { ensureTimerShards } from '../../workers/timers';
import { postJson, serve, type Served } from '../support/http';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { startWorkerProcess, stopWorkerProcess as stop } from '../support/worker-process';
import {
  makeSigner,
  removeDir,
  terminateShards,
  timerApi,
  waitForIdleShards,
  workflowsPath,
} from './support/harness';
import { readLedger, verifyLedger } from '../../ledger';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';

const SHARDS = 4;
const TIMERS = 40;
const workerScript = fileURLToPath(new URL('./support/worker-process.ts', import.meta.url));

let env: TestWorkflowEnvironment;
let dir: string;
let keyId: string;
let keyFile: string;
let bundlePath: string;
let target: WebhookTarget;
let gateway: Served;
const taskQueue = taskQueueFor('timer worker restart');
const idPrefix = `${taskQueue}-shard`;
const children: ChildProcess[] = [];

/** Starts a worker process and resolves once it polls. */
function startWorker(): Promise<ChildProcess> {
  return startWorkerProcess(
    workerScript,
    {
      TIMER_WORKER_ADDRESS: env.address,
      TIMER_WORKER_TASK_QUEUE: taskQueue,
      TIMER_WORKER_BUNDLE: bundlePath,
      TIMER_WORKER_KEY_FILE: keyFile,
      TIMER_WORKER_DEAD_LETTERS: join(dir, 'dead-letters.jsonl'),
      // The webhook target listens on loopback, as a worker allows it through its environment.
      SWOOSH_OUTBOUND_ALLOW: '127.0.0.1',
    },
    children,
  );
}

beforeAll(async () => {
  env = await startDevServerEnv();
  let signer;
  ({ signer, keyFile, dir } = await makeSigner());
  keyId = signer.keyId;
  // Bundled once here; both worker processes load the same code.
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
  target = await startWebhookTarget(keyId);
  // Timers act as their creator: the API authenticates every request as the test's caller.
  gateway = await serve(timerApi({ client: env.client, taskQueue, shards: SHARDS, shardIdPrefix: idPrefix }));
});

afterAll(async () => {
  for (const child of children) await stop(child, 'SIGTERM');
  if (env) await terminateShards(env.client, idPrefix, SHARDS);
  await gateway?.close();
  await target?.close();
  await env?.teardown();
  await removeDir(dir);
});

test('a worker killed while timers are armed is restarted, and every timer fires exactly once', async () => {
  const first = await startWorker();
  await ensureTimerShards(env.client, taskQueue, SHARDS, { idPrefix });
  const ids = Array.from({ length: TIMERS }, (_, i) => `restart-${String(i).padStart(2, '0')}`);
  for (const [i, id] of ids.entries()) {
    const res = await postJson(`${gateway.baseUrl}/timers`, {
      id,
      delayMs: 4_000 + i * 250,
      action: { type: 'webhook', url: target.url },
    });
    expect(res.status).toBe(201);
  }

  // A few have fired; the rest are armed (all are due within the one-minute horizon).
  await eventually(
    () => Promise.resolve(target.delivered().length),
    (n) => n >= 5,
    30_000,
  );
  const armed = (await (await fetch(`${gateway.baseUrl}/timers?state=Armed&limit=1000`)).json()) as {
    timers: TimerRecord[];
  };
  expect(armed.timers.length).toBeGreaterThan(10);
  await stop(first, 'SIGKILL');
  const killedAt = Date.now();
  const deliveredBeforeRestart = new Set(target.delivered().map((d) => d.timerId)).size;

  // Timers fall due while no worker runs; they fire when one is back.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  await startWorker();
  await eventually(
    () => Promise.resolve(new Set(target.delivered().map((d) => d.timerId)).size),
    (n) => n === TIMERS,
    90_000,
  );

  const byTimer = new Map<string, Set<string>>();
  for (const delivery of target.delivered()) {
    const seen = byTimer.get(delivery.timerId) ?? new Set<string>();
    byTimer.set(delivery.timerId, seen.add(delivery.deliveryId));
  }
  expect([...byTimer.keys()].sort()).toEqual(ids);
  // One firing per timer: a second firing would carry a second delivery id. (A retried HTTP
  // attempt repeats the same id, which a target deduplicates.)
  for (const [id, deliveryIds] of byTimer) expect(deliveryIds.size, id).toBe(1);
  expect(target.requests.every((r) => r.verified)).toBe(true);

  const records = await Promise.all(
    ids.map(async (id) => (await (await fetch(`${gateway.baseUrl}/timers/${id}`)).json()) as TimerRecord),
  );
  for (const record of records) {
    expect(record.state, record.id).toBe('Settled');
    expect([...byTimer.get(record.id)!]).toEqual([record.deliveryId]);
    expect(Date.parse(record.firedAt!)).toBeGreaterThanOrEqual(Date.parse(record.dueAt));
  }
  // Those due while the worker was down fired late, and their records say so.
  const dueWhileDown = records.filter((r) => Date.parse(r.dueAt) > killedAt + 1_000);
  expect(dueWhileDown.length).toBeGreaterThan(0);
  expect(deliveredBeforeRestart).toBeLessThan(TIMERS);
  for (const record of dueWhileDown) expect(record.latenessMs).toBeGreaterThan(0);

  let fired = 0;
  for (let shard = 0; shard < SHARDS; shard++) {
    fired += (await env.client.workflow.getHandle(shardWorkflowId(idPrefix, shard)).query(shardStatusQuery))
      .counters.fired;
  }
  expect(fired).toBe(TIMERS);

  // Each settled timer was archived once in its shard's timer ledger, which verifies, even though
  // the first worker died with appends of its own and its lock on the files.
  await waitForIdleShards(env.client, idPrefix, SHARDS);
  const archived = new Map<string, string[]>();
  for (let shard = 0; shard < SHARDS; shard++) {
    const ledger = shardWorkflowId(idPrefix, shard);
    expect(await verifyLedger(join(dir, 'ledger'), ledger, [keyId]), ledger).toMatchObject({ ok: true });
    for (const record of (await readLedger(join(dir, 'ledger'), ledger)).records) {
      if (record.kind !== 'timer-closed') continue;
      const timer = JSON.parse(record.timer) as TimerRecord;
      archived.set(record.timer_id, [...(archived.get(record.timer_id) ?? []), timer.deliveryId!]);
    }
  }
  expect([...archived.keys()].sort()).toEqual(ids);
  for (const [id, deliveryIds] of archived) expect(deliveryIds, id).toEqual([...byTimer.get(id)!]);
}, 180_000);
