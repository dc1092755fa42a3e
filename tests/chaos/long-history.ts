/**
 * A mission whose history grows without a beat (docs/lifecycle.md#history-driven-continue-as-new):
 * held in council election, as in a chaos run, and moved only by signed Policy_Update proposals
 * until its history passes a small `maxEvents` and it continues as new. Shared by the recorded
 * fixture (tests/histories/scenarios.ts) and tests/chaos/history-continue-as-new.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities';
import {
  type MissionView,
  missionWorkflowId,
  TRANSITION_REJECTED,
  type TransitionOutcome,
  type TransitionRejection,
} from '../../schemas/mission';
import { ownerControlSignal, stateQuery, transitionUpdate } from '../../schemas/mission-messages';
import type { TransitionProposal } from '../../schemas/proposal';
import type { StateDocument } from '../../schemas/state-document';
import {
  newSigner,
  prompt,
  proposalSigner,
  signedCommand,
  type TestSigner,
  TEST_SCHEDULE,
} from '../lifecycle/support/missions';
import { startDevWorker } from '../support/dev-worker';
import { eventually, taskQueueFor } from '../support/temporal';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LongHistoryMission {
  missionId: string;
  workflowId: string;
  firstRunId: string;
  owner: TestSigner;
  /** Sends a Policy_Update on the current HEAD until it is answered; its outcome and proposal. */
  propose(): Promise<{ proposal: TransitionProposal; outcome: TransitionOutcome }>;
  /** Sends `proposal` again until it is answered. */
  send(proposal: TransitionProposal): Promise<TransitionOutcome>;
  /** Every proposal answered accepted, in order, with its post-state hash. */
  accepted: { idem_key: string; post_hash: string }[];
}

export async function startLongHistoryMission(
  client: Client,
  taskQueue: string,
  missionId: string,
  maxEvents: number,
  /** Keys that may sign this mission's owner commands. */
  controllers: string[] = [],
): Promise<LongHistoryMission> {
  const owner = newSigner();
  const silent = newSigner();
  const workflowId = missionWorkflowId(missionId);
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId,
    taskQueue,
    args: [
      prompt(missionId, { objective: 'A long history without a beat' }),
      {
        config: {
          signers: [{ key: owner.key, classes: ['control', 'policy'], label: 'proposer' }],
          council: { roles: ['planner'], members: [{ id: 'silent', key: silent.key }] },
          schedule: TEST_SCHEDULE,
        },
        history: { maxEvents },
        controllers,
      },
    ],
  });
  const latest = client.workflow.getHandle(workflowId);
  const state = async () =>
    ((await latest.query(stateQuery)) as { state?: StateDocument; hash?: string }) ?? {};
  const held = await eventually(
    state,
    (v) =>
      v.state?.council.phase === 'ELECT' &&
      v.state.ingestion.phase === 'READY' &&
      v.state.environment.phase === 'READY',
    60_000,
  );
  if (held.state?.council.phase !== 'ELECT')
    throw new Error(`mission not held in election: ${JSON.stringify(held).slice(0, 500)}`);
  const sign = proposalSigner(missionId, owner, TEST_SCHEDULE);
  const accepted: LongHistoryMission['accepted'] = [];

  const send = async (proposal: TransitionProposal): Promise<TransitionOutcome> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await latest.executeUpdate(transitionUpdate, {
          args: [proposal],
          updateId: proposal.idem_key,
        });
      } catch (error) {
        // A refusal is an answer; anything else (the run closing under the update) is sent again.
        const refused =
          error instanceof WorkflowUpdateFailedError &&
          error.cause instanceof ApplicationFailure &&
          error.cause.type === TRANSITION_REJECTED;
        if (refused || attempt > 50) throw error;
        await sleep(200);
      }
    }
  };
  const propose = async () => {
    for (let attempt = 0; ; attempt++) {
      const { hash } = await state();
      const proposal = sign(hash ?? '', 'Policy_Update', {
        policy_version: `v${accepted.length + 1}`,
        rationale: 'a long history',
      });
      try {
        const outcome = await send(proposal);
        accepted.push({ idem_key: proposal.idem_key, post_hash: outcome.post_hash });
        return { proposal, outcome };
      } catch (error) {
        // HEAD was moving (the run sealing its snapshot, say): a proposer reads HEAD again.
        if (headMoving(error) && attempt < 50) await sleep(50);
        else throw error;
      }
    }
  };
  return {
    missionId,
    workflowId,
    firstRunId: handle.firstExecutionRunId,
    owner,
    propose,
    send,
    accepted,
  };
}

function headMoving(error: unknown): boolean {
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure))
    return false;
  const [details] = error.cause.details ?? [];
  return (details as TransitionRejection | undefined)?.failing_guard === 'concurrency';
}

/** Proposes until the mission's first run has continued as new; the history of that first run. */
export async function untilContinuedAsNew(client: Client, m: LongHistoryMission, most = 400): Promise<void> {
  const latest = client.workflow.getHandle(m.workflowId);
  for (let i = 0; i < most; i++) {
    const { runId } = await latest.describe();
    if (runId !== m.firstRunId) return;
    await m.propose();
  }
  throw new Error(`${m.workflowId} did not continue as new after ${most} proposals`);
}

/** The owner commands sent on either side of a continue-as-new (`ownerCommandsAcrossContinueAsNew`). */
export const LATENCY_BEFORE = {
  action: 'latency',
  id: 'before-continue',
  actor: 'bob@ops',
  reason: 'slow store',
  budgets: { short: 45 },
} as const;
export const REROUTE_AFTER = {
  action: 'reroute',
  id: 'after-continue',
  actor: 'alice@ops',
  reason: 'move agents',
  taskQueue: 'agents-elsewhere',
} as const;

/**
 * A signed latency change, proposals until the run continues as new, then a signed reroute; `m`
 * must have `controller` among its controllers. Returns the second run's id and its state as it
 * started (before the reroute).
 */
export async function ownerCommandsAcrossContinueAsNew(
  client: Client,
  m: LongHistoryMission,
  controller: TestSigner,
): Promise<{ secondRunId: string; continued: MissionView }> {
  const handle = client.workflow.getHandle(m.workflowId);
  const applied = async (n: number) => {
    const v = await eventually(
      () => handle.query(stateQuery),
      (x) => (x.controls?.applied.length ?? 0) >= n,
      30_000,
    );
    if ((v.controls?.applied.length ?? 0) < n)
      throw new Error(`owner command ${n} not applied: ${JSON.stringify(v.controls)}`);
    return v;
  };
  await handle.signal(ownerControlSignal, signedCommand(controller, LATENCY_BEFORE, m.missionId, Date.now()));
  await applied(1);
  await untilContinuedAsNew(client, m);
  const secondRunId = (await handle.describe()).runId;
  const continued = await handle.query(stateQuery);
  await handle.signal(ownerControlSignal, signedCommand(controller, REROUTE_AFTER, m.missionId, Date.now()));
  await applied(2);
  return { secondRunId, continued };
}

/** A dev server, a SWOOSH worker and one long-history mission on it, for a test file's hooks. */
export interface LongHistoryFixture {
  env: TestWorkflowEnvironment;
  deps: ActivityDeps;
  m: LongHistoryMission;
  /** Terminates the mission and stops the worker and the server. */
  stop(): Promise<void>;
}

export async function startLongHistoryFixture(
  name: string,
  maxEvents: number,
  controllers: string[] = [],
): Promise<LongHistoryFixture> {
  const taskQueue = taskQueueFor(name);
  const worker = await startDevWorker(taskQueue);
  const { env, deps } = worker;
  const m = await startLongHistoryMission(env.client, taskQueue, randomUUID(), maxEvents, controllers);
  return {
    env,
    deps,
    m,
    async stop() {
      await env.client.workflow
        .getHandle(m.workflowId)
        .terminate('test over')
        .catch(() => undefined);
      await worker.stop();
    },
  };
}
