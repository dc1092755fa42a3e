/**
 * `npx tsx bench/mission-throughput.ts`: transitions per second one mission sustains through its
 * `transition` update, on a Temporal CLI dev server this bench starts itself (the project's
 * toolchain, free ports) with its own worker and a temporary data folder.
 *
 * The mission is held where only the bench moves HEAD: ingestion and environment READY, the council
 * electing a member who never votes. Then, sequentially:
 *  - `query+Policy_Update`: read the state (the `state` query, as `GET /state` does), sign a
 *    Policy_Update against it, send it — what the gateway figure measured;
 *  - `Policy_Update`: the next proposal built from a local model of the reducer (the model-based
 *    test proves it agrees), so only the transition path is timed (policy scan + ledger);
 *  - `Control_Pause/Resume`: transitions whose only I/O is the ledger append.
 * Pipelining on one mission is not something to build on: every proposal names its predecessor's
 * HEAD (`current_state_hash`), so a second proposal in flight is accepted only when the update
 * validator happens to see it after the first was applied, and is refused as stale otherwise; the
 * bench sends one such pair and prints what happened. Then a profile: the pure validator, one durable ledger append, and from the mission's
 * history the workflow-task and activity round trips per transition.
 *
 * Env: BENCH_TRANSITIONS (default 200 per phase).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { dataPaths } from '../host/data-dir';
import { FileLedger } from '../ledger';
import { missionWorkflowId, type MissionView } from '../schemas/mission';
import { swooshSearchAttributes } from '../schemas/search-attributes';
import { ensureTemporalCli } from '../temporal-dev/toolchain';
import { createSwooshWorker } from '../workers/worker';
import { stateQuery, transitionUpdate } from '../schemas/mission-messages';
import {
  applyProposal,
  createSignerRegistry,
  defineConfig,
  EMPTY_IDEMPOTENCY,
  stateHash,
  type IdempotencyTable,
} from '../workflows/statechart';
import { type SignerKey } from '../schemas/signed-bytes';
import { type StateDocument } from '../schemas/state-document';
import { type TransitionName } from '../schemas/statechart';
import { newSigner, prompt, propose, testDeps, TEST_SCHEDULE } from '../tests/lifecycle/support/missions';

const N = Number(process.env.BENCH_TRANSITIONS ?? 200);
const owner = newSigner();
const silent = newSigner();

type Proposal = ReturnType<typeof propose>;

const path = await ensureTemporalCli();
const env = await TestWorkflowEnvironment.createLocal({
  server: {
    executable: { type: 'existing-path', path },
    ip: '127.0.0.1',
    ui: false,
    searchAttributes: swooshSearchAttributes,
    log: { format: 'json', level: 'warn' },
  },
});
const deps = await testDeps();
const taskQueue = `bench-throughput-${randomUUID().slice(0, 8)}`;
const worker = await createSwooshWorker({
  connection: env.nativeConnection,
  namespace: 'default',
  taskQueue,
  deps,
});

try {
  await worker.runUntil(bench(env.client));
} finally {
  await env.teardown();
}

async function bench(client: Client): Promise<void> {
  const id = randomUUID();
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(id),
    taskQueue,
    args: [
      prompt(id),
      {
        config: {
          signers: [{ key: owner.key, classes: ['control', 'policy'], label: 'owner' }],
          council: { roles: ['planner'], members: [{ id: 'silent', key: silent.key }] },
          schedule: TEST_SCHEDULE,
        },
      },
    ],
  });
  const query = async () =>
    (await handle.query(stateQuery)) as MissionView & { state: StateDocument; hash: string };
  let v = await query();
  while (
    v.state?.ingestion.phase !== 'READY' ||
    v.state.environment.phase !== 'READY' ||
    v.state.council.phase !== 'ELECT'
  ) {
    await new Promise((r) => setTimeout(r, 100));
    v = await query();
  }
  const send = (p: Proposal) => handle.executeUpdate(transitionUpdate, { args: [p], updateId: p.idem_key });
  const historyStart = (await handle.fetchHistory()).events?.length ?? 0;
  const results: { phase: string; n: number; ms: number; p50: number; p95: number }[] = [];
  const timed = async (phase: string, step: (i: number) => Promise<void>) => {
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const s = performance.now();
      await step(i);
      lat.push(performance.now() - s);
    }
    const ms = performance.now() - t0;
    lat.sort((a, b) => a - b);
    results.push({ phase, n: N, ms, p50: lat[Math.floor(N / 2)]!, p95: lat[Math.floor(N * 0.95)]! });
  };

  // 1. Query + Policy_Update, as through the gateway.
  await timed('query+Policy_Update', async (i) => {
    const cur = await query();
    await send(policyUpdate(cur.state, `q-${i}`));
  });

  // 2. and 3. The local model supplies the next state: the transition path alone.
  const cur = await query();
  const registry = createSignerRegistry([
    { key: cur.state.boot.identities.orchestrator! as SignerKey, classes: ['*'] },
    { key: owner.key, classes: ['control', 'policy'] },
  ]);
  const machine = defineConfig({ quorumSize: 1, schedule: TEST_SCHEDULE });
  let state = cur.state;
  let idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  let validateMs = 0;
  const step = async (p: Proposal) => {
    const t = performance.now();
    const model = applyProposal(state, p, { registry, idempotency, config: machine, now: Date.now() });
    validateMs += performance.now() - t;
    if (!model.accepted) throw new Error(`model rejected ${p.transition}: ${model.failing_guard}`);
    const outcome = await send(p);
    if (outcome.post_hash !== model.post_hash) throw new Error('the model and the mission disagree');
    state = model.state;
    idempotency = model.idempotency;
  };
  await timed('Policy_Update', (i) => step(policyUpdate(state, `m-${i}`)));
  await timed('Control_Pause/Resume', (i) =>
    step(control(state, state.control.phase === 'PAUSED' ? 'Control_Resume' : 'Control_Pause', i)),
  );
  if (stateHash(state) !== (await query()).hash) throw new Error('final HEAD differs from the model');

  // Pipelining: the second proposal is built on the first one's predicted HEAD; whether it is
  // admitted depends on whether the first was applied before the second reached the validator.
  const a = policyUpdate(state, 'pipe-a');
  const predicted = applyProposal(state, a, { registry, idempotency, config: machine, now: Date.now() });
  const b = predicted.accepted ? policyUpdate(predicted.state, 'pipe-b') : a;
  const [ra, rb] = await Promise.allSettled([send(a), send(b)]);
  const pipelined = `${ra.status}/${rb.status}${rb.status === 'rejected' ? ` (${String((rb.reason as Error).cause ?? rb.reason).slice(0, 120)})` : ''}`;

  // Profile.
  const history = (await handle.fetchHistory()).events ?? [];
  const phaseEvents = history.slice(historyStart);
  const transitions = 3 * N;
  const count = (k: string) => phaseEvents.filter((e) => (e as Record<string, unknown>)[k] != null).length;
  const wfts = count('workflowTaskCompletedEventAttributes');
  const activities = count('activityTaskScheduledEventAttributes');
  const markers = count('markerRecordedEventAttributes');
  const scheduled = new Map<string, number>();
  let activityMs = 0;
  let activityN = 0;
  for (const e of phaseEvents) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), at);
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const s = scheduled.get(String(done.scheduledEventId));
      if (s !== undefined) {
        activityMs += at - s;
        activityN++;
      }
    }
  }
  const paths = dataPaths(mkdtempSync(join(tmpdir(), 'swoosh-bench-ledger-')));
  const ledger = new FileLedger({
    dir: paths.ledgerDir,
    signer: deps.orchestrator,
  });
  const appends = 200;
  const t = performance.now();
  for (let i = 0; i < appends; i++) {
    await ledger.appendDecision({
      mission: id,
      workflow_id: 'bench',
      seq: i,
      region: 'policy',
      transition: 'Policy_Update',
      guards: [],
      signer: owner.key,
      proposal_signature: null,
      signature_verified: false,
      pre_state_hash: state.meta.schema_hash,
      post_state_hash: state.meta.schema_hash,
      inputs_hash: state.meta.schema_hash,
      idem_key: `bench-${i}`,
      hlc: '0000000000000:0000',
      window_id: 'bench',
      evidence: [],
      decided_at: new Date().toISOString(),
    });
  }
  const appendMs = (performance.now() - t) / appends;

  console.log(`mission throughput, one mission, dev server, ${N} transitions per phase (sequential)`);
  for (const r of results) {
    console.log(
      `  ${r.phase.padEnd(22)} ${((r.n / r.ms) * 1000).toFixed(1).padStart(7)} transitions/s   p50 ${r.p50.toFixed(1)} ms   p95 ${r.p95.toFixed(1)} ms`,
    );
  }
  console.log(`  pipelined pair (2 in flight): ${pipelined}`);
  console.log('profile (per transition):');
  console.log(
    `  validator (pure applyProposal incl. ed25519 verify): ${(validateMs / (2 * N)).toFixed(2)} ms`,
  );
  console.log(`  durable ledger append (fsync): ${appendMs.toFixed(2)} ms`);
  console.log(
    `  workflow tasks: ${(wfts / transitions).toFixed(2)}, activity tasks: ${(activities / transitions).toFixed(2)} (mean scheduled→completed ${(activityMs / Math.max(1, activityN)).toFixed(1)} ms), local-activity markers: ${(markers / transitions).toFixed(2)}`,
  );
  await handle.terminate('bench done');
}

function policyUpdate(state: StateDocument, tag: string): Proposal {
  return propose(
    state,
    owner,
    'Policy_Update',
    { policy_version: `bench-${tag}`, rationale: 'bench policy update' },
    Date.now(),
    TEST_SCHEDULE,
  );
}

function control(state: StateDocument, transition: TransitionName, i: number): Proposal {
  return propose(state, owner, transition, { reason: `bench ${i}` }, Date.now(), TEST_SCHEDULE);
}
