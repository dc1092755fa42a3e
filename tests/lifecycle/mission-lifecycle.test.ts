/**
 * The mission lifecycle on the Java test server with time skipping (docs/design.md): one
 * environment and one workflow bundle for the file, one worker and task queue per test, tests in
 * series because skipped time is shared.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { missionWorkflowId, type TransitionRejection } from '../../schemas/mission';
import type { MissionConfigInput } from '../../schemas/mission-config';
import { bundlerOptions, createSwooshWorker, workflowsPath } from '../../workers/worker';
import { voteUpdate } from '../../schemas/mission-messages';
import {
  applyProposal,
  createSignerRegistry,
  defineConfig,
  EMPTY_IDEMPOTENCY,
  memberSetHash,
  stateHash,
  type IdempotencyTable,
} from '../../workflows/statechart';
import { hashCanonical } from '../../schemas/hash';
import { type StateDocument } from '../../schemas/state-document';
import { startTimeSkippingEnv, taskQueueFor } from '../support/temporal';
import {
  newSigner,
  prompt,
  propose,
  registerSearchAttributes,
  startMissionWith,
  submit,
  testDeps,
  TEST_SCHEDULE,
  view,
  vote,
  type TestSigner,
} from './support/missions';
import { onOwnTestServer, skipWhenIdle, untilMission, type MissionState } from './support/time-skipping';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let deps: ActivityDeps;

beforeAll(async () => {
  [env, bundle, deps] = await Promise.all([
    startTimeSkippingEnv(),
    bundleWorkflowCode({ workflowsPath, ...bundlerOptions }),
    testDeps(),
  ]);
  await registerSearchAttributes(env);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

const members = { alice: newSigner(), bob: newSigner(), carol: newSigner() };
const approver = newSigner();
const owner = newSigner();

function config(overrides: Partial<MissionConfigInput> = {}): MissionConfigInput {
  return {
    signers: [
      { key: approver.key, classes: ['approval'], label: 'approver' },
      { key: owner.key, classes: ['control', 'owner', 'policy', 'terminal', 'review'], label: 'owner' },
    ],
    council: {
      roles: ['planner', 'reviewer'],
      members: Object.entries(members).map(([id, s]) => ({ id, key: s.key })),
    },
    schedule: TEST_SCHEDULE,
    ...overrides,
  };
}

const started: string[] = [];

/** Starts a mission and remembers it, so a failed test cannot leave it running (skipped time is shared). */
function start(taskQueue: string, missionId: string, cfg: MissionConfigInput) {
  started.push(missionId);
  return startMissionWith(env.client, taskQueue, prompt(missionId), cfg);
}

async function withWorker<T>(name: string, run: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = taskQueueFor(name);
  const worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
    overrides: { workflowsPath: undefined, bundlerOptions: undefined, workflowBundle: bundle },
  });
  try {
    return await worker.runUntil(run(taskQueue));
  } finally {
    for (const id of started.splice(0)) {
      await env.client.workflow
        .getHandle(missionWorkflowId(id))
        .terminate('test finished')
        .catch(() => undefined);
    }
  }
}

/** The largest single skip while waiting; the happy path's 16-hour bars raise it. */
let stepMs = 60_000;
const DAY_SCHEDULE = { ...TEST_SCHEDULE, tempoBpm: 0.125 };

function until(missionId: string, ok: (v: MissionState) => boolean): Promise<MissionState> {
  return untilMission(env, missionId, ok, { maxStepMs: stepMs, maxWorkflowMs: 200 * stepMs });
}

async function castVotes(missionId: string, voters: [string, TestSigner][]): Promise<void> {
  const v = await until(missionId, (x) => x.state.council.phase === 'ELECT');
  const setHash = v.state.council.council_set_hash!;
  const handle = env.client.workflow.getHandle(missionWorkflowId(missionId));
  for (const [id, s] of voters)
    await handle.executeUpdate(voteUpdate, { args: [vote(id, setHash, missionId, s)] });
}

async function approveBeat(missionId: string, beat: number): Promise<void> {
  const v = await until(
    missionId,
    (x) => x.state.execution.phase === 'REVIEW' && x.state.execution.beat === beat,
  );
  const now = await env.currentTimeMs();
  await submit(
    env.client,
    missionId,
    propose(
      v.state,
      approver,
      'Execution_Approve',
      { decision: 'approve' },
      now,
      stepMs > 60_000 ? DAY_SCHEDULE : TEST_SCHEDULE,
    ),
  );
}

async function rejectionOf(p: Promise<unknown>): Promise<TransitionRejection> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return (cause as ApplicationFailure).details?.[0] as TransitionRejection;
}

async function causeOf(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  return (error as WorkflowUpdateFailedError).cause?.message ?? '';
}

/** Update events in the mission's history (the regions keep working meanwhile, so not all events). */
async function historyLength(missionId: string): Promise<number> {
  const h = await env.client.workflow.getHandle(missionWorkflowId(missionId)).fetchHistory();
  return (h.events ?? []).filter(
    (e) =>
      e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes,
  ).length;
}

describe('mission lifecycle on the time-skipping test server', () => {
  test('votes: a forged vote and a member-set mismatch are refused before they reach history', async () => {
    const id = randomUUID();
    await withWorker('votes', async (tq) => {
      await start(tq, id, config());
      const v = await until(id, (x) => x.state.council.phase === 'ELECT');
      const setHash = v.state.council.council_set_hash!;
      const handle = env.client.workflow.getHandle(missionWorkflowId(id));
      const before = await historyLength(id);
      const mallory = newSigner();
      expect(
        await causeOf(handle.executeUpdate(voteUpdate, { args: [vote('alice', setHash, id, mallory)] })),
      ).toMatch(/invalid vote signature from alice/);
      const otherSet = memberSetHash([
        { id: 'alice', key: members.alice.key },
        { id: 'mallory', key: mallory.key },
      ]);
      expect(
        await causeOf(
          handle.executeUpdate(voteUpdate, { args: [vote('alice', otherSet, id, members.alice)] }),
        ),
      ).toMatch(/member-set mismatch/);
      expect(
        await causeOf(handle.executeUpdate(voteUpdate, { args: [vote('mallory', setHash, id, mallory)] })),
      ).toMatch(/not a member/);
      expect(await historyLength(id)).toBe(before);
      await castVotes(id, [['alice', members.alice]]);
      // One valid vote of three members is below the quorum of two: still electing.
      await skipWhenIdle(env, id, 60_000);
      expect((await view(env.client, id)).state.council.phase).toBe('ELECT');
      await castVotes(id, [['carol', members.carol]]);
      const ready = await until(id, (x) => x.state.council.phase === 'READY');
      expect(ready.state.council.quorum_certificate?.votes.map((x) => x.member)).toEqual(['alice', 'carol']);
      await handle.terminate('test done');
    });
  }, 240_000);

  // Skipped time is shared by everything on one test server; a test server of their own keeps
  // earlier tests' leftovers (work still holding the clock) from slowing the hours these skip.
  test('proposals: window guard, stale hash, duplicate, pause and resume', async () => {
    await isolated(proposals);
  }, 240_000);

  test('quarantine: a breach in ingestion quarantines the mission until the owner releases it', async () => {
    await isolated(quarantine);
  }, 120_000);

  test('model-based: the pure reducer fed the same proposal stream agrees with the workflow at every step', async () => {
    const id = randomUUID();
    await withWorker('model', async (tq) => {
      await start(tq, id, config());
      // While the council waits for votes and the other regions are READY, only our stream moves HEAD.
      const v = await until(
        id,
        (x) =>
          x.state.council.phase === 'ELECT' &&
          x.state.ingestion.phase === 'READY' &&
          x.state.environment.phase === 'READY',
      );
      let state = v.state;
      let idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
      const registry = createSignerRegistry([
        { key: v.state.boot.identities.orchestrator! as `ed25519:${string}`, classes: ['*'] },
        { key: approver.key, classes: ['approval'] },
        { key: owner.key, classes: ['control', 'owner', 'policy', 'terminal', 'review'] },
      ]);
      const machine = defineConfig({ quorumSize: 2, schedule: TEST_SCHEDULE });
      const sent: ReturnType<typeof propose>[] = [];
      for (let i = 0; i < 12; i++) {
        const now = await env.currentTimeMs();
        const roll = i % 4;
        let p: ReturnType<typeof propose>;
        if (roll === 3 && sent.length > 0)
          p = sent[sent.length - 1]!; // duplicate
        else
          p = propose(
            state,
            owner,
            state.control.phase === 'PAUSED' ? 'Control_Resume' : 'Control_Pause',
            { reason: `step ${i}` },
            now,
            TEST_SCHEDULE,
          );
        sent.push(p);
        const model = applyProposal(state, p, { registry, idempotency, config: machine, now });
        expect(model.accepted).toBe(true);
        if (model.accepted) {
          const outcome = await submit(env.client, id, p);
          expect(outcome.post_hash).toBe(model.post_hash);
          if (!model.duplicate) {
            state = model.state;
            idempotency = model.idempotency;
          }
          expect((await view(env.client, id)).hash).toBe(stateHash(state));
        }
      }
      await env.client.workflow.getHandle(missionWorkflowId(id)).terminate('test done');
    });
  }, 240_000);

  // Skipped time is shared by everything on one test server, and this test skips days freely while it
  // waits for the result; it gets a test server of its own so no other test sees that clock.
  test('happy path: BOOT → three regions → three execution cycles, days of windows skipped, continue-as-new keeps the hash', async () => {
    await isolated(happyPath);
  }, 300_000);
});

async function proposals(): Promise<void> {
  const id = randomUUID();
  await withWorker('proposals', async (tq) => {
    await start(tq, id, config());
    await castVotes(id, [
      ['alice', members.alice],
      ['bob', members.bob],
    ]);
    let v = await until(id, (x) => x.state.execution.phase === 'WORK');
    let now = await env.currentTimeMs();

    // REVIEW proposed during the WORK window is rejected by the window guard, before history.
    const before = await historyLength(id);
    const early = await rejectionOf(
      submit(
        env.client,
        id,
        propose(v.state, owner, 'Execution_Review', {}, now, TEST_SCHEDULE, ['bubble://evidence/x']),
      ),
    );
    expect(early.failing_guard).toBe('window');
    expect(early.reasons.join(' ')).toMatch(/window 'review' is closed/);

    // A stale current_state_hash is rejected with HEAD to re-read.
    const stalePause = propose(
      { ...v.state, hlc_last: v.state.hlc_last },
      owner,
      'Control_Pause',
      { reason: 'x' },
      now,
      TEST_SCHEDULE,
    );
    const staleRejection = await rejectionOf(
      submit(env.client, id, { ...stalePause, current_state_hash: `sha256-${'0'.repeat(64)}` }),
    );
    expect(staleRejection.failing_guard).toMatch(/schema|signature|concurrency/);
    expect(await historyLength(id)).toBe(before);

    // Pause, duplicated: the repeat returns the first outcome, with the first sender's request id,
    // and adds nothing to history. A request id that does not parse is refused before history.
    v = await view(env.client, id);
    now = await env.currentTimeMs();
    const pause = propose(v.state, owner, 'Control_Pause', { reason: 'operator pause' }, now, TEST_SCHEDULE);
    const badRequest = await rejectionOf(submit(env.client, id, pause, { request_id: '' }));
    expect(badRequest.failing_guard).toBe('schema');
    expect(badRequest.reasons.join(' ')).toMatch(/^request: /);
    expect(await historyLength(id)).toBe(before);
    const first = await submit(env.client, id, pause, { request_id: 'first' });
    expect(first.request_id).toBe('first');
    const afterFirst = await historyLength(id);
    const second = await submit(env.client, id, pause, { request_id: 'second' });
    expect(second).toEqual(first);
    expect(await historyLength(id)).toBe(afterFirst);
    const paused = await view(env.client, id);
    expect(paused.hash).toBe(first.post_hash);
    expect(paused.phase).toBe('PAUSED');

    // The same proposal against the new HEAD is stale: concurrency names HEAD.
    const stale = await rejectionOf(
      submit(
        env.client,
        id,
        propose(v.state, owner, 'Control_Resume', { reason: 'stale' }, now, TEST_SCHEDULE),
      ),
    );
    expect(stale.failing_guard).toBe('concurrency');
    expect(stale.head).toBe(first.post_hash);

    // While paused, hours pass and nothing moves.
    await skipWhenIdle(env, id, 3 * 60 * 60_000);
    const still = await view(env.client, id);
    expect(still.hash).toBe(paused.hash);

    now = await env.currentTimeMs();
    await submit(
      env.client,
      id,
      propose(still.state, owner, 'Control_Resume', { reason: 'go on' }, now, TEST_SCHEDULE),
    );
    const resumed = await until(id, (x) => x.state.execution.phase === 'REVIEW');
    expect(resumed.state.control.phase).toBe('RUNNING');
    await env.client.workflow.getHandle(missionWorkflowId(id)).terminate('test done');
  });
}

/** Runs `body` on a time-skipping test server of its own. */
async function isolated(body: () => Promise<void>): Promise<void> {
  const shared = env;
  try {
    await onOwnTestServer(async (own) => {
      env = own;
      await body();
    });
  } finally {
    env = shared;
  }
}

async function quarantine(): Promise<void> {
  const id = randomUUID();
  // Under the worker's inputs folder: sources are read from nowhere else.
  const dir = mkdtempSync(join(deps.inputsDir!, 'src-'));
  const file = join(dir, 'notes.md');
  writeFileSync(file, '# notes\n-----BEGIN RSA PRIVATE KEY-----\nabc\n');
  await withWorker('quarantine', async (tq) => {
    await start(tq, id, config({ sources: [pathToFileURL(file).href] }));
    const q = await until(id, (x) => x.state.policy.phase === 'QUARANTINED');
    expect(q.state.ingestion.phase).toBe('QUARANTINED');
    expect(q.phase).toBe('QUARANTINED');
    await skipWhenIdle(env, id, 4 * 60 * 60_000);
    const sticky = await view(env.client, id);
    expect(sticky.state.policy.phase).toBe('QUARANTINED');
    expect(sticky.state.execution.phase).toBe('IDLE');

    writeFileSync(file, '# notes\nclean now\n');
    const now = await env.currentTimeMs();
    await submit(
      env.client,
      id,
      propose(sticky.state, owner, 'Policy_Release', { rationale: 'owner reviewed' }, now, TEST_SCHEDULE),
    );
    const released = await until(id, (x) => x.state.ingestion.phase === 'READY');
    expect(released.state.policy.phase).toBe('CLEAR');
    expect(released.state.ingestion.rollbacks).toBe(1);
    await env.client.workflow.getHandle(missionWorkflowId(id)).terminate('test done');
  });
}

async function happyPath(): Promise<void> {
  const id = randomUUID();
  await withWorker('happy-path', async (tq) => {
    const startedAt = await env.currentTimeMs();
    // 16-hour bars: three beats in three bars skip more than a day of BACKBEAT windows.
    stepMs = 30 * 60_000;
    const handle = await start(
      tq,
      id,
      config({ maxBeats: 3, continueAsNewEveryBeats: 2, schedule: DAY_SCHEDULE }),
    );
    await castVotes(id, [
      ['alice', members.alice],
      ['bob', members.bob],
    ]);
    const ready = await until(id, (x) => x.state.execution.phase !== 'IDLE');
    expect(ready.state.ingestion.phase).toBe('READY');
    expect(ready.state.council.phase).toBe('READY');
    expect(ready.state.environment.phase).toBe('READY');
    expect(ready.state.execution.plan_lock?.content_hash).toBe(ready.state.ingestion.content_hash);

    await approveBeat(id, 1);
    await approveBeat(id, 2);
    // Beat 2 ends the first run: the mission continues as new with the same HEAD.
    const beforeCan = await until(
      id,
      (x) => x.state.execution.phase === 'REVERB' && x.state.execution.beat === 2,
    );
    const afterCan = await until(id, (x) => x.state.execution.beat === 3);
    const firstRun = handle.firstExecutionRunId;
    const described = await handle.describe();
    expect(described.runId).not.toBe(firstRun);
    expect(afterCan.state.head.seq).toBeGreaterThan(beforeCan.state.head.seq);
    const canHistory = await env.client.workflow.getHandle(missionWorkflowId(id), firstRun).fetchHistory();
    const canEvent = canHistory.events?.at(-1);
    const payload = canEvent?.workflowExecutionContinuedAsNewEventAttributes?.input?.payloads?.[1];
    const snapshot = (
      JSON.parse(Buffer.from(payload!.data!).toString('utf8')) as {
        snapshot: { hash: string; state: StateDocument };
      }
    ).snapshot;
    expect(snapshot.hash).toBe(hashCanonical(snapshot.state));
    expect(snapshot.hash).toBe(beforeCan.hash);

    await approveBeat(id, 3);
    const result = (await handle.result()) as { state: StateDocument; hash: string };
    expect(result.state.execution.beat).toBe(3);
    expect(result.state.environment.phase).toBe('ALLOCATE');
    const elapsed = (await env.currentTimeMs()) - startedAt;
    // Beat 1's REVIEW window and beat 3's lie two bars apart, so the run spans about 1.8 bars at
    // least (two bars less REVIEW's share of one): some 29 h with 16-hour bars, more than a day.
    expect(elapsed).toBeGreaterThan(24 * 60 * 60_000);
    expect(hashCanonical(result.state)).toBe(result.hash);
  });
}
