/**
 * Failure is compensated, not fatal (docs/design.md#compensation; issue 16 item 6): a lifecycle
 * activity that fails for good runs the statechart's compensation for its region and takes the
 * mission to DEGRADED with the reason — in the `GET /missions/:id` view and in the ledger — while
 * the workflow keeps running; the mission resumes by itself once the region is READY again, an
 * owner's resume takes it out of DEGRADED too, and a DEGRADED an operator proposed is left to them.
 * On the Java test server with time skipping, one server per test; the activities are the real
 * ones, with a failing one swapped in where a test says so.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, test } from 'vitest';
import { type ActivityDeps, createActivities, type SwooshActivities } from '../../activities';
import { readMission } from '../../api/missions';
import { dataPaths } from '../../host/data-dir';
import { readLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import { hashCanonical } from '../../schemas/hash';
import { missionWorkflowId, type MissionPrompt } from '../../schemas/mission';
import { controlSignal } from '../../schemas/mission-messages';
import { bundlerOptions, createSwooshWorker, workflowsPath } from '../../workers/worker';
import { eventually, taskQueueFor } from '../support/temporal';
import {
  newSigner,
  noLedgerYet,
  prompt,
  propose,
  signedCommand,
  submit,
  startMissionWith,
  testDeps,
  TEST_SCHEDULE,
} from './support/missions';
import { onOwnTestServer, skipWhenIdle, untilMission, type MissionState } from './support/time-skipping';

let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath, ...bundlerOptions });
}, 120_000);

const controller = newSigner();
/** A signer that may propose control transitions, as an operator's client would. */
const operator = newSigner();

interface Fixture {
  env: TestWorkflowEnvironment;
  id: string;
  until: (ok: (v: MissionState) => boolean) => Promise<MissionState>;
  decisions: (transition: string) => Promise<DecisionRecord[]>;
  status: () => Promise<string>;
}

/**
 * Runs one mission on its own test server with the real activities, `swap` replacing some of them
 * and `promptFor` changing its prompt, and hands `body` what it needs to watch it.
 */
async function withMission(
  name: string,
  swap: (real: SwooshActivities) => Partial<SwooshActivities>,
  body: (fx: Fixture) => Promise<void>,
  promptFor: (deps: ActivityDeps) => Partial<MissionPrompt> = () => ({}),
): Promise<void> {
  await onOwnTestServer(async (env) => {
    const deps = await testDeps();
    const real = createActivities(deps);
    const taskQueue = taskQueueFor(name);
    const worker = await createSwooshWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      deps,
      overrides: {
        workflowsPath: undefined,
        bundlerOptions: undefined,
        workflowBundle: bundle,
        activities: { ...real, ...swap(real) },
      },
    });
    const id = randomUUID();
    const p = prompt(id, promptFor(deps));
    // No ledger yet while the mission's first append gathers decisions: none recorded so far.
    const all = async () =>
      (await readLedger(dataPaths(deps.dataDir).ledgerDir, id).catch(noLedgerYet)).records.filter(
        (r): r is DecisionRecord => r.kind === 'decision',
      );
    const handle = env.client.workflow.getHandle(missionWorkflowId(id));
    await worker.runUntil(async () => {
      const signers = [{ key: operator.key, classes: ['control' as const], label: 'operator' }];
      await startMissionWith(env.client, taskQueue, p, { schedule: TEST_SCHEDULE, signers }, [
        controller.key,
      ]);
      await body({
        env,
        id,
        until: (ok) => untilMission(env, id, ok),
        // A decision reaches the ledger after the state a query shows.
        decisions: (transition) =>
          eventually(all, (records) => records.some((r) => r.transition === transition), 30_000),
        status: async () => (await handle.describe()).status.name,
      });
      await handle.terminate('test over');
    });
  });
}

/** The mission's ledger has `transition` with exactly these inputs (the ledger binds their hash). */
function recordedWith(records: DecisionRecord[], transition: string, inputs: Record<string, unknown>) {
  return records.filter((r) => r.transition === transition && r.inputs_hash === hashCanonical(inputs));
}

/** An activity that fails with a retryable error while `broken` holds, counting its calls. */
interface Breakable<A, R> {
  broken: boolean;
  calls: number;
  fn: (input: A) => Promise<R>;
}

function breakable<A, R>(real: (input: A) => Promise<R>, message: string): Breakable<A, R> {
  const state: Breakable<A, R> = {
    broken: true,
    calls: 0,
    fn: (input) => {
      state.calls++;
      return state.broken ? Promise.reject(new Error(message)) : real(input);
    },
  };
  return state;
}

type IndexInput = Parameters<SwooshActivities['buildIndex']>[0];
type ProvisionInput = Parameters<SwooshActivities['provisionWorkspace']>[0];
type Assets = Awaited<ReturnType<SwooshActivities['provisionWorkspace']>>;

describe('failure is compensated, not fatal', () => {
  test('a source that cannot be fetched degrades the mission with the reason instead of failing it, and it resumes once the source is there', async () => {
    let specFile = '';
    await withMission(
      'compensation fetch',
      () => ({}),
      async ({ id, env, until, decisions, status }) => {
        // The source is refused for good (no such file in the inputs folder): no activity retry helps.
        const degraded = await until((v) => v.phase === 'DEGRADED');
        expect(degraded.state.control.phase).toBe('DEGRADED');
        expect(degraded.state.ingestion.phase).toBe('FETCH');
        const reason = degraded.state.control.reason ?? '';
        expect(reason).toMatch(
          /^ingestion: fetchSources failed for good \(NON_RETRYABLE_FAILURE\): SourceRefused: source file:\/\/\S+\/spec\.md refused: no such file/,
        );
        expect(await status()).toBe('RUNNING');

        // What GET /missions/:id answers: DEGRADED, with the open fault and its reason.
        const shown = await readMission(env.client, id);
        expect(shown.phase).toBe('DEGRADED');
        expect(shown.faults?.open).toEqual([
          { fault: 'ingestion', reason, since_ms: expect.any(Number) as number },
        ]);
        expect(recordedWith(await decisions('Control_Degrade'), 'Control_Degrade', { reason })).toHaveLength(
          1,
        );

        // The fetch is tried again after a backoff; once the source exists, ingestion completes
        // and the orchestrator resumes the mission itself.
        writeFileSync(specFile, '# The onboarding spec\n');
        const back = await until((v) => v.state.control.phase === 'RUNNING');
        expect(back.phase).not.toBe('DEGRADED');
        expect(back.state.ingestion.phase).toBe('READY');
        expect(back.state.control.reason).toBe('recovered: ingestion READY at index version 1');
        expect(back.faults).toEqual({ open: [], degraded_with: null });
        expect(
          recordedWith(await decisions('Control_Resume'), 'Control_Resume', {
            reason: 'recovered: ingestion READY at index version 1',
          }),
        ).toHaveLength(1);
        expect(await status()).toBe('RUNNING');
      },
      (deps) => {
        specFile = join(deps.inputsDir!, 'spec.md');
        return { originatingSpec: pathToFileURL(specFile).href };
      },
    );
  }, 300_000);

  test('an index that cannot be built is rolled back (ROLLBACK_INDEX) and the mission DEGRADED until it builds', async () => {
    let index!: Breakable<IndexInput, { index_hash: string }>;
    await withMission(
      'compensation index',
      (real) => {
        index = breakable(real.buildIndex, 'index store unavailable');
        return { buildIndex: index.fn };
      },
      async ({ until, decisions, status }) => {
        // Out of retries (IO_RETRY's eight attempts, their backoff skipped).
        const degraded = await until((v) => v.phase === 'DEGRADED');
        expect(index.calls).toBeGreaterThanOrEqual(8);
        expect(degraded.state.control.reason).toBe(
          'ingestion: buildIndex failed for good (MAXIMUM_ATTEMPTS_REACHED): Error: index store unavailable; rolled back (ROLLBACK_INDEX)',
        );
        expect(degraded.state.ingestion.rollbacks).toBeGreaterThanOrEqual(1);
        expect(await status()).toBe('RUNNING');
        const rollback = {
          reason:
            'buildIndex failed for good (MAXIMUM_ATTEMPTS_REACHED): Error: index store unavailable; content discarded, ingesting again from discovery',
        };
        const records = await decisions('Control_Degrade');
        const rolledBack = recordedWith(records, 'Ingestion_RollbackIndex', rollback);
        expect(rolledBack).toHaveLength(1);
        // Compensated first, then degraded.
        const degradedAt = records.find((r) => r.transition === 'Control_Degrade')!.seq;
        expect(rolledBack[0]!.seq).toBeLessThan(degradedAt);

        index.broken = false;
        const back = await until(
          (v) => v.state.ingestion.phase === 'READY' && v.state.control.phase === 'RUNNING',
        );
        expect(back.state.control.reason).toMatch(/^recovered: ingestion READY/);
        expect(back.faults?.open).toEqual([]);
      },
    );
  }, 300_000);

  test('a provisioning failure releases the workspaces (DEPROVISION) and degrades the mission; it comes back once provisioning works', async () => {
    let provision!: Breakable<ProvisionInput, Assets>;
    let released = 0;
    await withMission(
      'compensation provision',
      (real) => {
        provision = breakable(real.provisionWorkspace, 'no capacity left');
        return {
          provisionWorkspace: provision.fn,
          deprovisionWorkspace: (input) => {
            released++;
            return real.deprovisionWorkspace(input);
          },
        };
      },
      async ({ until, decisions, status }) => {
        const degraded = await until((v) => v.phase === 'DEGRADED');
        expect(provision.calls).toBeGreaterThanOrEqual(8);
        expect(released).toBeGreaterThanOrEqual(1);
        const reason =
          'provisionWorkspace failed for good (MAXIMUM_ATTEMPTS_REACHED): Error: no capacity left';
        expect(degraded.state.control.reason).toBe(
          `environment: ${reason}; released its workspaces (DEPROVISION)`,
        );
        expect(degraded.state.environment.deprovisions).toBeGreaterThanOrEqual(1);
        expect(['ALLOCATE', 'PROVISION']).toContain(degraded.state.environment.phase);
        expect(degraded.faults?.open.map((f) => f.fault)).toEqual(['environment']);
        expect(await status()).toBe('RUNNING');
        const records = await decisions('Control_Degrade');
        expect(
          recordedWith(records, 'Environment_Deprovision', {
            reason: `${reason}; workspaces released, allocating again`,
          }),
        ).toHaveLength(1);

        provision.broken = false;
        const back = await until(
          (v) => v.state.environment.phase === 'READY' && v.state.control.phase === 'RUNNING',
        );
        expect(back.state.control.reason).toBe('recovered: environment READY: every health check passed');
        expect(back.state.environment.assets.length).toBeGreaterThan(0);
      },
    );
  }, 300_000);

  test("an owner's resume takes the mission out of DEGRADED and the step is tried again; while it still fails, the mission degrades again", async () => {
    let index!: Breakable<IndexInput, { index_hash: string }>;
    await withMission(
      'compensation owner resume',
      (real) => {
        index = breakable(real.buildIndex, 'index store unavailable');
        return { buildIndex: index.fn };
      },
      async ({ env, id, until, status }) => {
        const first = await until((v) => v.phase === 'DEGRADED');
        const rollbacks = first.state.ingestion.rollbacks;
        const command = {
          action: 'resume',
          id: 'cmd-resume-1',
          actor: 'ops@example.org',
          reason: 'retry now',
        } as const;
        await env.client.workflow
          .getHandle(missionWorkflowId(id))
          .signal(controlSignal, signedCommand(controller, command, id, await env.currentTimeMs()));
        const resumed = await until((v) => v.state.control.phase === 'RUNNING');
        expect(resumed.state.control.reason).toContain('retry now');
        // The fault is still open: the owner resumed, the index did not build.
        expect(resumed.faults?.open.map((f) => f.fault)).toEqual(['ingestion']);
        const again = await until((v) => v.phase === 'DEGRADED' && v.state.ingestion.rollbacks > rollbacks);
        expect(again.state.control.reason).toMatch(/^ingestion: buildIndex failed for good/);
        expect(await status()).toBe('RUNNING');
      },
    );
  }, 300_000);
  test('a DEGRADED an operator proposed is left to them: the orchestrator records its fault, and closes it without resuming', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let broken = true;
    await withMission(
      'compensation operator degrade',
      (real) => ({
        // The first fetch waits until the operator has degraded the mission, then fails for good.
        fetchSources: async (input) => {
          await gate;
          if (broken) throw ApplicationFailure.nonRetryable('the source is gone', 'SourceGone');
          return real.fetchSources(input);
        },
      }),
      async ({ env, id, until }) => {
        // Ingestion held in FETCH, the other regions READY: HEAD stays put for the proposal.
        const fetching = await until(
          (v) =>
            v.state.ingestion.phase === 'FETCH' &&
            v.state.council.phase === 'READY' &&
            v.state.environment.phase === 'READY',
        );
        const reason = 'operator: running on half the capacity tonight';
        await submit(
          env.client,
          id,
          propose(
            fetching.state,
            operator,
            'Control_Degrade',
            { reason },
            await env.currentTimeMs(),
            TEST_SCHEDULE,
          ),
        );
        release();
        const failing = await until((v) => v.faults?.open.some((f) => f.fault === 'ingestion') === true);
        expect(failing.state.control).toEqual({ phase: 'DEGRADED', reason });
        expect(failing.faults?.degraded_with).toBeNull();
        expect(failing.faults?.open[0]?.reason).toMatch(
          /^ingestion: fetchSources failed for good \(NON_RETRYABLE_FAILURE\): SourceGone: the source is gone$/,
        );

        broken = false;
        await until((v) => v.state.ingestion.phase === 'READY' && v.faults?.open.length === 0);
        await skipWhenIdle(env, id, 10 * 60_000);
        const later = await until(() => true);
        expect(later.state.control).toEqual({ phase: 'DEGRADED', reason });
        expect(later.faults).toEqual({ open: [], degraded_with: null });
      },
    );
  }, 300_000);
});
