/**
 * Mission priority as Temporal task priority (schemas/mission.ts TASK_PRIORITY_KEY), on the dev
 * server: the mission's execution carries the priority key its workflow tasks, activities and
 * agent-job children inherit. Whether a backlog is dispatched in that order is the server's part;
 * README "Priority" says what was measured.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startMission } from '../../api/missions';
import { missionWorkflowId, type Priority } from '../../schemas/mission';
import { startDevServerEnv, taskQueueFor } from '../support/temporal';
import { prompt } from './support/missions';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startDevServerEnv();
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
