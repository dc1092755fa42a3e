/**
 * Mission priority as Temporal task priority (schemas/mission.ts TASK_PRIORITY_KEY), on the dev
 * server with the priority matching `npm run dev` runs (temporal-dev/dev-server.ts): the mission's
 * execution carries the priority key its workflow tasks, activities and agent-job children inherit,
 * and a P0 mission started behind a backlog of P2 missions finishes its beat first.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startMission } from '../../api/missions';
import { missionWorkflowId, type Priority } from '../../schemas/mission';
import { MissionConfigInput } from '../../schemas/mission-config';
import { FileLedgerReader } from '../../ledger';
import { dataPaths } from '../../host/data-dir';
import { priorityMatchingArgs } from '../../temporal-dev/dev-server';
import { createSwooshWorker } from '../../workers/worker';
import { startDevServerEnv, taskQueueFor } from '../support/temporal';
import { FAST_SCHEDULE, prompt, testDeps } from './support/missions';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startDevServerEnv(priorityMatchingArgs());
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

test.each([
  ['P0', 1],
  ['P1', 2],
  ['P2', 3],
] as [Priority, number][])('a %s mission starts with task priority key %i', async (priority, key) => {
  const id = randomUUID();
  // No worker: only what the start asked of the server is read back.
  await startMission(env.client, taskQueueFor('priority'), prompt(id, { priority }));
  const handle = env.client.workflow.getHandle(missionWorkflowId(id));
  const { raw } = await handle.describe();
  expect(raw.workflowExecutionInfo?.priority?.priorityKey).toBe(key);
  await handle.terminate('test finished');
});

test('a P0 mission started behind a backlog of P2 missions finishes its beat first', async () => {
  const taskQueue = taskQueueFor('priority-backlog');
  const config = MissionConfigInput.parse({ autoApprove: true, maxBeats: 1, schedule: FAST_SCHEDULE });
  const start = async (priority: Priority) => {
    const id = randomUUID();
    await startMission(env.client, taskQueue, prompt(id, { priority }), config);
    return { id, priority };
  };
  // The backlog waits for a worker; the P0 mission is started last.
  const missions = [];
  for (let i = 0; i < 6; i++) missions.push(await start('P2'));
  missions.push(await start('P0'));
  // Two slots of each kind: the missions queue for them at every step.
  const deps = await testDeps();
  const worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
    tuning: {
      SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 2,
      SWOOSH_WORKER_MAX_CONCURRENT_ACTIVITIES: 2,
      SWOOSH_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: 2,
    },
  });
  await worker.runUntil(
    Promise.all(missions.map((m) => env.client.workflow.getHandle(missionWorkflowId(m.id)).result())),
  );
  // When each beat ended: its Execution_Reverb, decided at the start of the workflow task that took it.
  const reader = new FileLedgerReader(dataPaths(deps.dataDir).ledgerDir);
  const ended = await Promise.all(
    missions.map(async (m) => {
      const { records } = await reader.page(m.id, { limit: 500, kind: 'decision' });
      const reverb = records.find((r) => r.kind === 'decision' && r.transition === 'Execution_Reverb');
      return { ...m, at: Date.parse(reverb!.kind === 'decision' ? reverb!.decided_at : '') };
    }),
  );
  const p0 = ended.find((m) => m.priority === 'P0')!;
  const before = ended.filter((m) => m.priority === 'P2' && m.at < p0.at);
  // Every beat waits for the same REVERB window, and the timers that end the wait fire tens of
  // milliseconds apart: a P2 task may take the worker's other slot just before the P0 one is
  // queued, but the queue itself gives the P0 mission's task the first free slot.
  expect(before.length).toBeLessThanOrEqual(1);
});
