/**
 * Where a mission is, as the Temporal Web UI shows it: the workflow's current details (answered
 * by the SDK's `__temporal_workflow_metadata` query, which the UI and `temporal workflow metadata`
 * read) and the summaries of the timers it waits on, on a real dev server and worker.
 */
import { randomUUID } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { temporal } from '@temporalio/proto';
import { missionWorkflowId } from '../../schemas/mission';
import { createSwooshWorker } from '../../workers/worker';
import { defineConfig, initialState } from '../../workflows/statechart';
import { describeMission, type DescribedMission } from '../../workflows/mission/current-details';
import type { StateDocument } from '../../schemas/state-document';
import { FAST_SCHEDULE, prompt, startMissionWith, testDeps, view } from '../lifecycle/support/missions';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';

const ORCHESTRATOR = 'ed25519:orchestrator-key-for-the-text-test';

function described(state: StateDocument, phase: DescribedMission['phase']): DescribedMission {
  return {
    state,
    machine: defineConfig({ approvalsRequired: 3, schedule: FAST_SCHEDULE }),
    config: { orchestratorKey: ORCHESTRATOR },
    phase,
  };
}

describe('the current-details text', () => {
  // 10:40:00 UTC: a 4-second FAST_SCHEDULE bar starts every 4 s, PLAN 0.8 s, WORK 2 s, REVIEW 0.8 s.
  const barStart = Date.UTC(2026, 11, 2, 10, 40, 0);

  test('in REVIEW it counts approvals and says when the review window closes', () => {
    const base = initialState('m-1');
    const state: StateDocument = {
      ...base,
      execution: {
        ...base.execution,
        phase: 'REVIEW',
        beat: 3,
        approvals: [{ approver: 'ed25519:alice', decision: 'approve' }],
      },
      hlc_last: null,
      head: { seq: 42, transition: 'Execution_Review', signer: ORCHESTRATOR, idem_key: null },
    };
    const text = describeMission(
      described(state, () => 'EXECUTION'),
      'sha256-abc',
      barStart + 3_000,
    );
    expect(text).toContain('- **Phase:** EXECUTION, execution REVIEW, beat 3');
    expect(text).toContain(
      '- **Waiting for:** 1 of 3 approvals, REVIEW window backbeat:W-2026-12-02-9600 closes 10:40:03 UTC',
    );
    expect(text).toContain('- **HEAD:** #42 sha256-abc');
    expect(text).toContain('- **Last decision:** #42 Execution_Review by the orchestrator');
  });

  test('outside the review window it says when the next one opens', () => {
    const base = initialState('m-1');
    const state: StateDocument = { ...base, execution: { ...base.execution, phase: 'REVIEW' } };
    const text = describeMission(
      described(state, () => 'EXECUTION'),
      'sha256-abc',
      barStart + 500,
    );
    expect(text).toContain('0 of 3 approvals, REVIEW window opens 10:40:02 UTC');
  });

  test('a paused mission waits for an owner, with the reason', () => {
    const base = initialState('m-1');
    const state: StateDocument = { ...base, control: { phase: 'PAUSED', reason: 'maintenance' } };
    const text = describeMission(
      described(state, () => 'PAUSED'),
      'sha256-abc',
      barStart,
    );
    expect(text).toContain('- **Waiting for:** an owner to resume it (paused: maintenance)');
    expect(text).toContain('- **Last decision:** none yet');
  });
});

describe('a running mission in the Web UI', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = taskQueueFor('current-details');

  beforeAll(async () => {
    env = await startDevServerEnv();
    worker = await createSwooshWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: await testDeps(),
    });
    running = worker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  test('current details carry phase, beat, HEAD, the approvals awaited and the last decision', async () => {
    const id = randomUUID();
    // No auto-approval: the mission reaches REVIEW and waits there for a person's approval.
    const handle = await startMissionWith(env.client, taskQueue, prompt(id), {
      schedule: FAST_SCHEDULE,
      approvalsRequired: 1,
    });
    const inReview = await eventually(
      () => view(env.client, id),
      (v) => v.state?.execution.phase === 'REVIEW',
      90_000,
    );
    expect(inReview.state.execution.phase).toBe('REVIEW');
    const { beat } = inReview.state.execution;
    const { seq } = inReview.state.head;

    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    const details = metadata.currentDetails ?? '';
    expect(details).toContain(`- **Phase:** EXECUTION, execution REVIEW, beat ${beat}`);
    expect(details).toMatch(
      /- \*\*Waiting for:\*\* 0 of 1 approvals, REVIEW window backbeat:W-\S+ (closes|opens) \d\d:\d\d:\d\d UTC/,
    );
    expect(details).toContain(`- **HEAD:** #${seq} ${inReview.hash}`);
    expect(details).toMatch(
      new RegExp(
        `- \\*\\*Last decision:\\*\\* #${seq} Execution_Review by the orchestrator at \\d\\d:\\d\\d:\\d\\d UTC`,
      ),
    );

    // The timers it waits with say what they are for in the history (the Web UI's timeline). The
    // approvals timer starts once Execution_Review's ledger append is done, after the state shows
    // REVIEW, so the history is read until it holds that timer.
    const reviewTimer = /^collect approvals until REVIEW window backbeat:W-\S+ closes/;
    const timerSummaries = async (): Promise<string[]> => {
      const history = await env.client.workflow.getHandle(missionWorkflowId(id)).fetchHistory();
      return (history.events ?? [])
        .filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_TIMER_STARTED)
        .map((e) =>
          e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : '',
        );
    };
    const summaries = await eventually(timerSummaries, (all) => all.some((s) => reviewTimer.test(s)), 30_000);
    expect(summaries.some((s) => reviewTimer.test(s))).toBe(true);
    // A window wait happens only when the mission reaches a phase before its window opens, which
    // depends on how fast this machine runs the 4-second bars; each one that did names its window.
    const windowWaits = summaries.filter((s) => s.startsWith('wait for the '));
    for (const wait of windowWaits)
      expect(wait).toMatch(/^wait for the (PLAN|WORK|REVIEW) window \(\d\d:\d\d:\d\d UTC\)$/);
    await handle.terminate('test done');
  }, 180_000);
});
