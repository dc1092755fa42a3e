import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTimeSkippingEnv, taskQueueFor } from '../support/temporal';
import type { sleeperWorkflow } from '../workflows/sleeper';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

test('a workflow sleeping 24 hours of workflow time finishes in seconds on the Java test server', async () => {
  const taskQueue = taskQueueFor('sleeper');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('../workflows/sleeper.ts', import.meta.url)),
  });
  const workflowStart = await env.currentTimeMs();
  const result = await worker.runUntil(
    env.client.workflow.execute<typeof sleeperWorkflow>('sleeperWorkflow', {
      workflowId: 'sleeper',
      taskQueue,
    }),
  );
  // The test's own 60 s timeout bounds wall time; workflow time must have moved a whole day.
  const workflowElapsed = (await env.currentTimeMs()) - workflowStart;

  expect(result).toBe('woke');
  expect(workflowElapsed).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
});
