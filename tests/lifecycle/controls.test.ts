/**
 * Owner controls and automatic RECOVERY on the Java test server with time skipping (issue 4 §5,
 * issue 6 §2): one workflow bundle for the file, one test server per test so no test's skipped
 * time reaches another's missions.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { dataPaths } from '../../host/data-dir';
import { readLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import type { MissionConfigInput } from '../../schemas/mission-config';
import type { OwnerControlCommand } from '../../schemas/owner-controls';
import { bundlerOptions, createSwooshWorker, workflowsPath } from '../../workers/worker';
import { controlSignal, ownerControlSignal, voteUpdate } from '../../schemas/mission-messages';
import { eventually, taskQueueFor } from '../support/temporal';
import {
  newSigner,
  noLedgerYet,
  prompt,
  propose,
  signedCommand,
  startMissionWith,
  submit,
  testDeps,
  TEST_SCHEDULE,
  view,
  vote,
} from './support/missions';
import { onOwnTestServer, skipWhenIdle, untilMission as until } from './support/time-skipping';

let bundle: WorkflowBundleWithSourceMap;
let deps: ActivityDeps;

beforeAll(async () => {
  [bundle, deps] = await Promise.all([bundleWorkflowCode({ workflowsPath, ...bundlerOptions }), testDeps()]);
}, 120_000);

function worker(env: TestWorkflowEnvironment, taskQueue: string): Promise<Worker> {
  return createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
    overrides: { workflowsPath: undefined, bundlerOptions: undefined, workflowBundle: bundle },
  });
}

async function decisions(missionId: string): Promise<DecisionRecord[]> {
  // No ledger yet while the mission's first append gathers decisions: none recorded so far.
  const { records } = await readLedger(dataPaths(deps.dataDir).ledgerDir, missionId).catch(noLedgerYet);
  return records.filter((r): r is DecisionRecord => r.kind === 'decision');
}

/**
 * The ledger once it holds `transition`: a decision is appended by an activity after the mission
 * publishes its new state, so the ledger trails what a query shows.
 */
function decisionsOnceRecorded(missionId: string, transition: string): Promise<DecisionRecord[]> {
  return eventually(
    () => decisions(missionId),
    (records) => records.some((r) => r.transition === transition),
    30_000,
  );
}

/** The ledger once it holds the decision that made `hash` HEAD (what a query showed). */
function decisionsUpTo(missionId: string, hash: string): Promise<DecisionRecord[]> {
  return eventually(
    () => decisions(missionId),
    (records) => records.some((r) => r.post_state_hash === hash),
    30_000,
  );
}

const members = { alice: newSigner(), bob: newSigner(), carol: newSigner() };
const chair = newSigner();
/** The key the missions here accept owner commands from (the gateway's, in a deployment). */
const controller = newSigner();

describe('owner controls and automatic recovery', () => {
  test('owner controls: pause/resume carry the actor, reroute moves the next agent job, latency budgets change, all in the ledger', async () => {
    await onOwnTestServer(async (env) => {
      const id = randomUUID();
      const tq = taskQueueFor('owner-controls');
      const rerouted = taskQueueFor('owner-controls-rerouted');
      const [main, other] = await Promise.all([worker(env, tq), worker(env, rerouted)]);
      const run = async () => {
        const handle = await startMissionWith(
          env.client,
          tq,
          prompt(id),
          { autoApprove: true, schedule: TEST_SCHEDULE } satisfies MissionConfigInput,
          [controller.key],
        );
        const sign = async (command: OwnerControlCommand, missionId: string | null = null) =>
          signedCommand(controller, command, missionId, await env.currentTimeMs());
        // Pause with an actor (the older `control` signal, signed for this mission), before any agent work.
        await handle.signal(
          controlSignal,
          await sign({ action: 'pause', id: 'cmd-pause-1', reason: 'maintenance', actor: 'bob@ops' }, id),
        );
        const paused = await until(
          env,
          id,
          (x) => x.state.control.phase === 'PAUSED' && x.controls?.applied.length === 1,
        );
        expect(paused.controls?.applied.at(-1)).toMatchObject({
          action: 'pause',
          actor: 'bob@ops',
          signer: controller.key,
          applied: true,
        });

        const reroute = await sign({
          action: 'reroute',
          id: 'cmd-reroute-1',
          actor: 'alice@ops',
          reason: 'move agents to the GPU pool',
          taskQueue: rerouted,
        });
        const latency = await sign({
          action: 'latency',
          id: 'cmd-latency-1',
          actor: 'alice@ops',
          reason: 'agents need longer',
          budgets: { short: 45, agent: 120 },
        });
        await handle.signal(ownerControlSignal, reroute);
        await handle.signal(ownerControlSignal, latency);
        // A retried batch delivers the same command again: applied once.
        await handle.signal(ownerControlSignal, latency);
        await handle.signal(
          ownerControlSignal,
          await sign({ action: 'resume', id: 'cmd-resume-1', actor: 'bob@ops', reason: 'maintenance over' }),
        );
        const resumed = await until(
          env,
          id,
          (x) => x.state.control.phase === 'RUNNING' && x.controls?.applied.length === 4,
        );
        expect(resumed.controls?.agentTaskQueue).toBe(rerouted);
        expect(resumed.controls?.latency).toEqual({ short: 45, io: 120, agent: 120 });
        expect(resumed.controls?.applied.map((a) => [a.action, a.actor])).toEqual([
          ['pause', 'bob@ops'],
          ['reroute', 'alice@ops'],
          ['latency', 'alice@ops'],
          ['resume', 'bob@ops'],
        ]);

        // The next agent job runs on the rerouted queue, with the new agent deadline. REVIEW is short
        // and a time skip can pass it, so wait for the first beat's work to be over, however far on.
        await until(
          env,
          id,
          (x) => x.state.execution.beat > 1 || ['REVIEW', 'REVERB'].includes(x.state.execution.phase),
        );
        const child = env.client.workflow.getHandle(`agent-${id}-1-1`);
        expect((await child.describe()).taskQueue).toBe(rerouted);
        const started = (await child.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
        const spec = JSON.parse(Buffer.from(started!.input!.payloads![0]!.data!).toString('utf8')) as {
          timeouts: { activeDeadlineSeconds: number };
        };
        expect(spec.timeouts.activeDeadlineSeconds).toBe(120);

        // The ledger holds every owner command with its actor and reason; pause and resume link the
        // statechart decisions they caused.
        const ledger = await decisionsOnceRecorded(id, 'Owner_Resume');
        const owner = ledger.filter((r) => r.transition.startsWith('Owner_'));
        expect(owner.map((r) => r.transition)).toEqual([
          'Owner_Pause',
          'Owner_Reroute',
          'Owner_LatencyBudget',
          'Owner_Resume',
        ]);
        for (const r of owner) expect(r.region).toBe('control');
        expect(owner[1]!.guards[0]!.reasons).toEqual([
          'actor: alice@ops',
          'reason: move agents to the GPU pool',
          `agent task queue (mission queue) -> ${rerouted}`,
          `signed by ${controller.key}, a controller of this mission`,
        ]);
        expect(resumed.controls?.refused).toEqual([]);
        expect(owner[2]!.guards[0]!.reasons).toContain('short 30s -> 45s, agent 300s -> 120s');
        expect(owner[0]!.guards[0]!.reasons[0]).toBe('actor: bob@ops');
        const pauseDecision = ledger.find((r) => r.transition === 'Control_Pause');
        expect(owner[0]!.evidence).toEqual([pauseDecision!.ucxl]);
        expect(owner[0]!.post_state_hash).toBe(pauseDecision!.post_state_hash);
        await handle.terminate('test done');
      };
      await main.runUntil(other.runUntil(run()));
    });
  }, 240_000);

  test('forged owner signals from any Temporal client are refused: nothing changes and nothing is recorded', async () => {
    await onOwnTestServer(async (env) => {
      const id = randomUUID();
      const tq = taskQueueFor('owner-forged');
      const w = await worker(env, tq);
      const run = async () => {
        const handle = await startMissionWith(
          env.client,
          tq,
          prompt(id),
          { autoApprove: true, schedule: TEST_SCHEDULE } satisfies MissionConfigInput,
          [controller.key],
        );
        await until(env, id, (x) => x.state.control.phase === 'RUNNING');
        const now = await env.currentTimeMs();
        const pause = (n: string) =>
          ({ action: 'pause', id: `forged-${n}`, actor: 'dev-owner', reason: 'forged' }) as const;
        // The forgery: a bare command naming the owner, straight through a Temporal client.
        await handle.signal(ownerControlSignal, pause('unsigned'));
        await handle.signal(controlSignal, { action: 'pause', reason: 'forged', actor: 'dev-owner' });
        // Validly signed, but by a key the mission was not started with.
        await handle.signal(ownerControlSignal, signedCommand(newSigner(), pause('unknown'), null, now));
        // A controller's signature over another command: the actor was changed in flight.
        const genuine = signedCommand(controller, pause('tampered'), null, now);
        await handle.signal(ownerControlSignal, {
          ...genuine,
          command: { ...genuine.command, actor: 'someone-else' },
        });
        // A controller's command, but issued long before it arrives (copied out of a history).
        await handle.signal(
          ownerControlSignal,
          signedCommand(controller, pause('stale'), null, now - 16 * 60_000),
        );
        // A controller's command for another mission.
        await handle.signal(controlSignal, signedCommand(controller, pause('elsewhere'), randomUUID(), now));

        const seen = await until(env, id, (x) => (x.controls?.refused?.length ?? 0) === 6);
        expect(seen.state.control.phase).toBe('RUNNING');
        expect(seen.controls?.applied).toEqual([]);
        expect(seen.controls?.refused?.map((r) => [r.id, r.why])).toEqual([
          ['forged-unsigned', expect.stringMatching(/^unsigned: /)],
          [null, expect.stringMatching(/^unsigned: /)],
          [
            'forged-unknown',
            expect.stringMatching(/^signer ed25519:\S+ is not a controller of this mission$/),
          ],
          ['forged-tampered', expect.stringMatching(/^forged: signature does not verify/)],
          ['forged-stale', expect.stringMatching(/^stale: issued 960 s before it arrived/)],
          ['forged-elsewhere', expect.stringMatching(/^signed for mission \S+, not for this one$/)],
        ]);
        expect(
          (await decisionsUpTo(id, seen.hash)).filter(
            (r) => r.transition.startsWith('Owner_') || r.transition === 'Control_Pause',
          ),
        ).toEqual([]);

        // The same mission still obeys its controller.
        await handle.signal(
          ownerControlSignal,
          signedCommand(controller, pause('real'), null, await env.currentTimeMs()),
        );
        const paused = await until(env, id, (x) => x.controls?.applied.length === 1);
        expect(paused.state.control.phase).toBe('PAUSED');
        expect(paused.controls?.applied.map((a) => [a.id, a.signer])).toEqual([
          ['forged-real', controller.key],
        ]);
        const owner = (await decisionsOnceRecorded(id, 'Owner_Pause')).filter((r) =>
          r.transition.startsWith('Owner_'),
        );
        expect(owner.map((r) => r.transition)).toEqual(['Owner_Pause']);
        expect(owner[0]!.guards[0]!.reasons).toContain(
          `signed by ${controller.key}, a controller of this mission`,
        );
        await handle.terminate('test done');
      };
      await w.runUntil(run());
    });
  }, 240_000);

  test('recovery: a lost quorum puts the mission into RECOVERY by itself; a new certificate brings it back', async () => {
    await onOwnTestServer(async (env) => {
      const id = randomUUID();
      const tq = taskQueueFor('recovery');
      const w = await worker(env, tq);
      const run = async () => {
        const handle = await startMissionWith(env.client, tq, prompt(id), {
          autoApprove: true,
          signers: [{ key: chair.key, classes: ['council'], label: 'chair' }],
          council: {
            roles: ['planner', 'reviewer'],
            members: Object.entries(members).map(([m, s]) => ({ id: m, key: s.key })),
          },
          schedule: TEST_SCHEDULE,
        } satisfies MissionConfigInput);
        const electing = await until(env, id, (x) => x.state.council.phase === 'ELECT');
        const firstSet = electing.state.council.council_set_hash!;
        for (const m of ['alice', 'bob'] as const)
          await handle.executeUpdate(voteUpdate, { args: [vote(m, firstSet, id, members[m])] });
        const working = await until(
          env,
          id,
          (x) => x.state.council.phase === 'READY' && x.state.execution.phase !== 'IDLE',
        );
        expect(working.phase).toBe('EXECUTION');

        // bob is ejected (his tool server is down): the certificate no longer holds.
        const now = await env.currentTimeMs();
        await submit(
          env.client,
          id,
          propose(
            working.state,
            chair,
            'Council_Eject',
            { members: ['bob'], reason: 'tool server down' },
            now,
            TEST_SCHEDULE,
          ),
        );
        const recovering = await until(env, id, (x) => x.state.control.phase === 'RECOVERY');
        expect(recovering.phase).toBe('RECOVERY');
        expect(recovering.recovery?.since_ms).not.toBeNull();
        expect(recovering.state.council.phase).toBe('ELECT');

        // New work stops: hours of windows pass and the execution region does not move.
        await skipWhenIdle(env, id, 2 * 3600_000);
        const held = await view(env.client, id);
        expect(held.state.control.phase).toBe('RECOVERY');
        expect(held.state.execution).toEqual(recovering.state.execution);

        // The remaining members vote for the new set: a new valid certificate ends the recovery.
        const newSet = held.state.council.council_set_hash!;
        expect(newSet).not.toBe(firstSet);
        for (const m of ['alice', 'carol'] as const)
          await handle.executeUpdate(voteUpdate, { args: [vote(m, newSet, id, members[m])] });
        const back = await until(
          env,
          id,
          (x) => x.state.council.phase === 'READY' && x.state.control.phase === 'RUNNING',
        );
        expect(back.state.council.quorum_certificate?.votes.map((v) => v.member)).toEqual(['alice', 'carol']);
        const episode = back.recovery?.episodes[0];
        expect(back.recovery?.since_ms).toBeNull();
        expect(episode?.reason).toMatch(/Council_Eject voided the council's quorum certificate/);
        expect(episode?.seconds).toBeGreaterThanOrEqual(2 * 3600);
        expect(episode!.left_at_ms! - episode!.entered_at_ms).toBe(episode!.seconds! * 1000);

        // Work continues after the recovery.
        const beat = back.state.execution.beat;
        await until(env, id, (x) => x.state.execution.beat > beat);

        // The ledger shows the way in and out, through the normal transition path.
        const names = (await decisions(id)).map((r) => r.transition);
        const eject = names.indexOf('Council_Eject');
        const after = names.slice(eject).filter((n) => n.startsWith('Control_') || n.startsWith('Council_'));
        expect(after.slice(0, 5)).toEqual([
          'Council_Eject',
          'Control_Recover',
          'Control_Resume',
          'Council_QuorumCert',
          'Council_ToolingReady',
        ]);
        await handle.terminate('test done');
      };
      await w.runUntil(run());
    });
  }, 240_000);
});
