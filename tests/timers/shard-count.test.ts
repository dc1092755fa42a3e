/**
 * The worker's boot check on the dev server: a shard count below the one the deployment's shards
 * were started with is refused, naming the shard that gives it away; the same count or a larger
 * one is let through. No worker runs: the check only describes workflows.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { checkTimerShardCount, ensureTimerShards } from '../../workers/timers';
import { startDevServerEnv, taskQueueFor } from '../support/temporal';
import { terminateShards } from './support/harness';

const STARTED = 3;
const idPrefix = 'shard-count';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startDevServerEnv();
  await ensureTimerShards(env.client, taskQueueFor('shard-count'), STARTED, { idPrefix });
}, 120_000);

afterAll(async () => {
  if (!env) return;
  await terminateShards(env.client, idPrefix, STARTED);
  await env.teardown();
});

test('a count below the running shards is refused, naming the shard past it', async () => {
  await expect(checkTimerShardCount(env.client, STARTED - 1, idPrefix)).rejects.toThrow(
    /timer shard shard-count-2 is running.*more than the 2 shards.*SWOOSH_TIMER_SHARDS/,
  );
});

test('the count the shards were started with, or a larger one, is let through', async () => {
  await expect(checkTimerShardCount(env.client, STARTED, idPrefix)).resolves.toBeUndefined();
  await expect(checkTimerShardCount(env.client, STARTED + 2, idPrefix)).resolves.toBeUndefined();
});

test('a shard past the count that is no longer running is not a sign', async () => {
  await env.client.workflow.getHandle(`${idPrefix}-2`).terminate('retired by the test');
  await expect(checkTimerShardCount(env.client, STARTED - 1, idPrefix)).resolves.toBeUndefined();
});
