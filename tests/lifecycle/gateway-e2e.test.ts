/**
 * A mission driven end to end through the REST gateway on the real dev server: started by
 * POST /missions, read through GET /state projections, steered by signed POST /transition
 * proposals (202 / 400 / 409 and a deduplicated retry), run through execution beats.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApp } from '../../api/app';
import { Authenticator } from '../../api/auth';
import { createSwooshWorker } from '../../workers/worker';
import { signProposal } from '../../workflows/statechart';
import { type TransitionName } from '../../schemas/statechart';
import { serve, type Served } from '../support/http';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { FAST_SCHEDULE as FAST, newSigner, prompt, proposalSigner, testDeps } from './support/missions';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let gateway: Served;
/** A token made for this run (the gateway stores only its digest); the e2e caller is the owner. */
const token = `e2e-${randomUUID()}`;
const authorization = { authorization: `Bearer ${token}` };
const get = (url: string) => fetch(url, { headers: authorization });
const postJson = (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { ...authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  env = await startDevServerEnv();
  const taskQueue = taskQueueFor('gateway-e2e');
  const deps = await testDeps();
  worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
  });
  running = worker.run();
  gateway = await serve(
    createApp({
      client: env.client,
      taskQueue,
      auth: new Authenticator({ tokens: [{ name: 'e2e-owner', role: 'owner', token }] }),
      dataDir: deps.dataDir,
      accessLog: () => undefined,
    }),
  );
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

interface StateBody {
  hash: string;
  phase: string;
  projection?: Record<string, { phase: string; beat?: number } | undefined>;
}

test('a mission driven through the gateway: projections, signed transitions, 202/400/409, execution beats', async () => {
  const owner = newSigner();
  const id = randomUUID();
  const started = await postJson(`${gateway.baseUrl}/missions`, {
    ...prompt(id),
    config: {
      signers: [{ key: owner.key, classes: ['control', 'owner', 'policy'], label: 'owner' }],
      autoApprove: true,
      schedule: FAST,
    },
  });
  expect(started.status).toBe(201);

  const state = async (projection = 'Council,Ingestion,Environment,Execution,Control'): Promise<StateBody> =>
    (
      await get(`${gateway.baseUrl}/state?mission=${id}&projection=${projection}`)
    ).json() as Promise<StateBody>;
  const ready = await eventually(
    () => state('Council,Ingestion'),
    (s) => s.projection?.council?.phase === 'READY' && s.projection?.ingestion?.phase === 'READY',
    60_000,
  );
  expect(Object.keys(ready.projection ?? {}).sort()).toEqual(['council', 'ingestion']);
  expect(ready.hash).toMatch(/^sha256-/);

  const proposal = proposalSigner(id, owner, FAST);
  /** Submits against a fresh HEAD, re-reading on 409 (and on an HLC behind the mission's own). */
  const apply = async (transition: TransitionName, inputs: Record<string, unknown>) => {
    for (let i = 0; i < 50; i++) {
      const full = (await (await get(`${gateway.baseUrl}/state?mission=${id}`)).json()) as { hash: string };
      const res = await postJson(`${gateway.baseUrl}/transition`, proposal(full.hash, transition, inputs));
      if (res.status === 202) return (await res.json()) as { post_hash: string; decision_id: string };
      const body = (await res.json()) as { failing_guard: string; reasons: string[] };
      if (res.status === 400 && body.failing_guard === 'hlc') {
        proposal.catchUp();
        continue;
      }
      if (res.status !== 409) throw new Error(`${res.status} ${JSON.stringify(body)}`);
    }
    throw new Error('no HEAD to apply against');
  };

  // Pause through the gateway; the same POST again returns the first outcome, marked a repeat.
  const head = (await state()).hash;
  const pause = proposal(head, 'Control_Pause', { reason: 'operator pause' });
  const first = await postJson(`${gateway.baseUrl}/transition`, pause);
  let firstBody: { post_hash: string; decision_id: string };
  if (first.status === 409) {
    firstBody = await apply('Control_Pause', { reason: 'operator pause' });
  } else {
    expect(first.status).toBe(202);
    firstBody = (await first.json()) as { post_hash: string; decision_id: string };
    const again = await postJson(`${gateway.baseUrl}/transition`, pause);
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ ...firstBody, duplicate: true });
  }
  expect(firstBody.decision_id).toMatch(/^ucxl:\/\/swoosh:.*@control\/Control_Pause\//);
  const paused = await state();
  expect(paused.phase).toBe('PAUSED');

  // Stale: 409 with the current hash. Forged signature: 400 naming the guard.
  const stale = await postJson(
    `${gateway.baseUrl}/transition`,
    proposal(head, 'Control_Resume', { reason: 'x' }),
  );
  expect(stale.status).toBe(409);
  expect(await stale.json()).toMatchObject({ failing_guard: 'concurrency', current_hash: paused.hash });
  const forged = { ...proposal(paused.hash, 'Control_Resume', { reason: 'x' }) };
  forged.signature = signProposal({ ...forged, inputs: { reason: 'y' } }, owner.secret).signature;
  const bad = await postJson(`${gateway.baseUrl}/transition`, forged);
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ failing_guard: 'signature' });

  // Throughput while paused (only our proposals move HEAD): policy version updates back to back.
  const n = 20;
  const t0 = performance.now();
  for (let i = 0; i < n; i++)
    await apply('Policy_Update', { policy_version: `v${i + 1}`, rationale: 'bench' });
  const perSecond = n / ((performance.now() - t0) / 1000);
  console.log(`[gateway-e2e] ${n} transitions through the gateway at ${perSecond.toFixed(1)}/s`);

  await apply('Control_Resume', { reason: 'carry on' });
  const beats = await eventually(
    () => state('Execution'),
    (s) => (s.projection?.execution?.beat ?? 0) >= 2,
    90_000,
  );
  expect(beats.projection?.execution?.beat).toBeGreaterThanOrEqual(2);
}, 240_000);
