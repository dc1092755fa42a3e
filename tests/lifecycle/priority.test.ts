/**
 * Mission priority as Temporal task priority (schemas/mission.ts TASK_PRIORITY_KEY), on the dev
 * server with the priority matching `npm run dev` runs (temporal-dev/dev-server.ts): the mission's
 * execution carries the priority key its workflow tasks, activities and agent-job children inherit,
 * and a P0 mission started behind a backlog of P2 missions finishes its beat ahead of it.
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

test('a P0 mission started behind a backlog of P2 missions finishes its beat ahead of it', async () => {
  const taskQueue = taskQueueFor('priority-backlog');
  const config = MissionConfigInput.parse({
    autoApprove: true,
    maxBeats: 1,
    schedule: FAST_SCHEDULE,
    // An agent that works for a while: with two activity slots, the backlog's agents queue.
    agents: {
      catalogue: {
        agents: {
          slow: {
            image: 'registry.example.org/swoosh/slow:1',
            command: ['node', '-e', "setTimeout(() => console.log('done'), 1500)"],
            capabilityProfile: { role: 'worker', capabilities: [] },
          },
        },
      },
      beat: 'slow',
    },
  });
  const start = async (priority: Priority) => {
    const id = randomUUID();
    await startMission(env.client, taskQueue, prompt(id, { priority }), config);
    return { id, priority };
  };
  // The backlog waits for a worker; the P0 mission is started last.
  const missions = [];
  for (let i = 0; i < 10; i++) missions.push(await start('P2'));
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
      const { records } = await reader.page(m.id, { limit: 1000, kind: 'decision' });
      const reverbs = records.flatMap((r) =>
        r.kind === 'decision' && r.transition === 'Execution_Reverb' ? [Date.parse(r.decided_at)] : [],
      );
      return { ...m, reverbs };
    }),
  );
  const p0 = ended.find((m) => m.priority === 'P0')!;
  expect(p0.reverbs).toHaveLength(1);
  const ahead = ended.filter((m) => m.priority === 'P2' && m.reverbs[0]! < p0.reverbs[0]!);
  // The agents queue for the two activity slots and the beats wait for the same windows; the
  // queue gives the P0 mission's tasks the first free slot, so only P2 agents already holding the
  // two slots when the P0 one was queued can get ahead: usually none or one, two on a loaded
  // machine (the default matcher let two to six ahead here).
  expect(
    ahead.length,
    `P2 beats ended ahead of P0's at ${p0.reverbs[0]}: ${JSON.stringify(ahead)}`,
  ).toBeLessThanOrEqual(2);
});
