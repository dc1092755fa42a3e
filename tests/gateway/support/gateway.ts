/**
 * One real gateway per test file: the Temporal CLI dev server, a SWOOSH worker on its own task
 * queue and data folder, and the gateway on a free port with one token per role. Clients for
 * each role are typed `SwooshClient`s; access-log lines are kept for assertions.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createFileDeadLetterStore, deadLetterFile } from '../../../activities/timers';
import { type AppDeps, createGateway, type Gateway } from '../../../api/app';
import { createFileParkedTimerStore, parkedTimersDir } from '../../../host/parked-timers';
import { createTimerEventLog, timerEventsDir } from '../../../host/timer-events';
import { Authenticator, newToken } from '../../../api/auth';
import { type Exchange, SwooshClient } from '../../../api/client';
import { type RunningGateway, startGateway } from '../../../api/server';
import type { AccessLogLine } from '../../../schemas/api';
import type { Role } from '../../../schemas/auth';
import { missionWorkflowId } from '../../../schemas/mission';
import type { WorkerTuning } from '../../../schemas/config';
import { parseOutboundAllow } from '../../../schemas/outbound';
import { createSwooshWorker } from '../../../workers/worker';
import type { TransitionName } from '../../../schemas/statechart';
import {
  FAST_SCHEDULE,
  newSigner,
  prompt,
  proposalSigner,
  testDeps,
  type TestSigner,
} from '../../lifecycle/support/missions';
import { eventually, startDevServerEnv, taskQueueFor } from '../../support/temporal';

/** 4-second bars: windows open often enough for tests. */
export const FAST = FAST_SCHEDULE;

export interface GatewayFixture {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  dataDir: string;
  gateway: Gateway;
  running: RunningGateway;
  tokens: Record<Role, string>;
  /** A client per role, and one without a token. */
  as: Record<Role | 'anonymous', SwooshClient>;
  accessLog: AccessLogLine[];
  /** Every request the role clients made and what came back. */
  exchanges: Exchange[];
  stop(): Promise<void>;
}

export async function startGatewayFixture(
  name: string,
  tuning?: WorkerTuning,
  /** Owner keys and quorum the gateway accepts broadcast owner commands from. */
  owners?: Pick<AppDeps, 'ownerKeys' | 'ownerQuorum'>,
): Promise<GatewayFixture> {
  const env = await startDevServerEnv();
  const taskQueue = taskQueueFor(name);
  const deps = await testDeps();
  // As workers/main.ts wires it, so timers created through the gateway can fire, dead-letter and park.
  const parked = createFileParkedTimerStore(parkedTimersDir(deps.dataDir));
  deps.timers = {
    signer: deps.orchestrator,
    deadLetters: createFileDeadLetterStore(deadLetterFile(deps.dataDir)),
    ledger: deps.ledger,
    events: createTimerEventLog(timerEventsDir(deps.dataDir), deps.orchestrator),
    client: env.client,
    // Its tests' webhooks aim at loopback ports, which only an explicit allow lets them try.
    outbound: { allow: parseOutboundAllow('127.0.0.1') },
    parked,
  };
  const worker: Worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
    ...(tuning ? { tuning } : {}),
  });
  const workerRun = worker.run();
  const tokens = { owner: newToken(), operator: newToken(), agent: newToken(), viewer: newToken() };
  // The viewer is configured by hash only, as a production tokens file would hold it.
  const auth = new Authenticator({
    tokens: [
      { name: 'test-owner', role: 'owner', token: tokens.owner },
      { name: 'test-operator', role: 'operator', token: tokens.operator },
      { name: 'test-agent', role: 'agent', token: tokens.agent },
      { name: 'test-viewer', role: 'viewer', sha256: sha256Hex(tokens.viewer) },
    ],
  });
  const accessLog: AccessLogLine[] = [];
  const gateway = createGateway({
    client: env.client,
    taskQueue,
    auth,
    dataDir: deps.dataDir,
    accessLog: (line) => accessLog.push(line),
    ...owners,
  });
  const running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 2_000 });
  const exchanges: Exchange[] = [];
  const client = new SwooshClient(running.url, undefined, (e) => exchanges.push(e));
  return {
    env,
    taskQueue,
    dataDir: deps.dataDir,
    gateway,
    running,
    tokens,
    as: {
      owner: client.as(tokens.owner),
      operator: client.as(tokens.operator),
      agent: client.as(tokens.agent),
      viewer: client.as(tokens.viewer),
      anonymous: client,
    },
    accessLog,
    exchanges,
    stop: async () => {
      await running.close();
      worker.shutdown();
      await workerRun;
      await parked.close();
      await env.teardown();
    },
  };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A mission whose owner key may propose control, owner and policy transitions. */
export interface OwnedMission {
  id: string;
  owner: TestSigner;
  /** Signs a proposal against `head` with a fresh idem_key and an HLC after every earlier one. */
  proposal: ReturnType<typeof proposalSigner>;
  /** Submits `transition` against a fresh HEAD until it is accepted (re-reading on 409). */
  apply(
    transition: TransitionName,
    inputs: Record<string, unknown>,
  ): Promise<{ post_hash: string; decision_id: string }>;
  head(): Promise<string>;
}

export async function startOwnedMission(
  client: SwooshClient,
  overrides: Record<string, unknown> = {},
): Promise<OwnedMission> {
  const owner = newSigner();
  const id = randomUUID();
  const started = await client.startMission({
    ...prompt(id),
    config: {
      signers: [{ key: owner.key, classes: ['control', 'owner', 'policy', 'approval'], label: 'owner' }],
      autoApprove: true,
      schedule: FAST,
      ...overrides,
    },
  });
  if (started.status !== 201) throw new Error(`mission not started: ${started.status}`);
  const proposal = proposalSigner(id, owner, FAST);
  const head = async (): Promise<string> => {
    const state = await eventually(
      () => client.getState(id),
      (r) => r.ok,
      30_000,
    );
    if (!state.ok) throw new Error(`no state: ${state.status}`);
    return state.body.hash;
  };
  const apply = async (transition: TransitionName, inputs: Record<string, unknown>) => {
    for (let i = 0; i < 60; i++) {
      const res = await client.propose(proposal(await head(), transition, inputs));
      if (res.ok) return res.body;
      if (res.status === 400 && res.body.failing_guard === 'hlc') {
        proposal.catchUp();
        continue;
      }
      if (res.status !== 409) throw new Error(`${transition}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    throw new Error(`${transition}: HEAD kept moving`);
  };
  return { id, owner, proposal, apply, head };
}

/** Waits until the mission's council and ingestion are READY, then pauses it: HEAD then moves only on request. */
export async function readyAndPaused(client: SwooshClient, mission: OwnedMission): Promise<void> {
  await eventually(
    () => client.getState(mission.id, 'Council,Ingestion'),
    (r) =>
      r.ok &&
      (r.body.projection.council as { phase?: string } | undefined)?.phase === 'READY' &&
      (r.body.projection.ingestion as { phase?: string } | undefined)?.phase === 'READY',
    60_000,
  );
  await mission.apply('Control_Pause', { reason: 'hold still for the test' });
}

/** A gateway fixture with one mission held: READY, then paused, so only a test's proposals move it. */
export async function startWithHeldMission(
  name: string,
): Promise<{ fx: GatewayFixture; held: OwnedMission }> {
  const fx = await startGatewayFixture(name);
  const held = await startOwnedMission(fx.as.operator);
  await readyAndPaused(fx.as.operator, held);
  // A pause stops new work, not an agent run already under way, whose end is still recorded in the
  // ledger; wait it out, so that afterwards only a test's own requests can change anything.
  const handle = fx.env.client.workflow.getHandle(missionWorkflowId(held.id));
  await eventually(
    () => handle.describe(),
    (d) => (d.raw.pendingActivities ?? []).length === 0 && (d.raw.pendingChildren ?? []).length === 0,
    120_000,
  );
  return { fx, held };
}

/**
 * The mission's ledger page once its newest decision is HEAD: the ledger trails the answers
 * (appends gather decisions for up to a second), so a baseline taken earlier would still grow.
 */
export async function ledgerAtHead(fx: GatewayFixture, missionId: string) {
  const read = async () => {
    const [state, ledger] = await Promise.all([
      fx.as.viewer.getState(missionId),
      fx.as.viewer.ledger(missionId, { pageSize: 500 }),
    ]);
    const newest = ledger.ok ? ledger.body.records.filter((r) => r.kind === 'decision').at(-1) : undefined;
    const current = state.ok && newest?.kind === 'decision' && newest.post_state_hash === state.body.hash;
    return { ledger, current };
  };
  const { ledger, current } = await eventually(read, (r) => r.current, 30_000);
  if (!ledger.ok || !current) throw new Error(`the ledger of ${missionId} did not catch up with HEAD`);
  return ledger.body;
}

/**
 * Counts a mission's ledger records now and answers, once more records have landed, what each new
 * one is: the idem key of a decision, or the record's kind. A test that sends proposals compares
 * this with what should have been applied.
 */
export async function ledgerGrowth(
  fx: GatewayFixture,
  missionId: string,
): Promise<{ added(): Promise<string[]> }> {
  const read = () => fx.as.viewer.ledger(missionId, { pageSize: 500 });
  const count = (await ledgerAtHead(fx, missionId)).records.length;
  return {
    async added() {
      const after = await eventually(read, (r) => r.ok && r.body.records.length > count);
      if (!after.ok) throw new Error('no ledger');
      return after.body.records.slice(count).map((r) => (r.kind === 'decision' ? r.idem_key : r.kind));
    },
  };
}
