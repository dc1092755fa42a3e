/**
 * Alarms on the real dev server (docs/timers.md#alarms): a shard wakes for what is due within
 * seconds by an activity that sleeps in the worker, not by a durable timer, which Temporal's timer
 * queue can hold for seconds under load; with alarms off it wakes by durable timers as before.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Signer } from '../../host/keys';
import { shardWorkflowId } from '../../schemas/timer-shard-key';
import type { ShardSettings } from '../../schemas/timer-shard';
import { postJson } from '../support/http';
import { eventually, startDevServerEnv } from '../support/temporal';
import { makeSigner, removeDir, withTimers, workflowsPath } from './support/harness';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let signer: Signer;
let dataDir: string;
let target: WebhookTarget;

beforeAll(async () => {
  env = await startDevServerEnv();
  bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  ({ signer, dir: dataDir } = await makeSigner());
  target = await startWebhookTarget(signer.keyId);
});

afterAll(async () => {
  await target?.close();
  await env?.teardown();
  await removeDir(dataDir);
});

/** Eight timers due one to three seconds out, all delivered; what the shard set to wake for them. */
async function wakeUps(
  name: string,
  settings: Partial<ShardSettings>,
): Promise<{ alarms: number; timerDelaysMs: number[] }> {
  let found = { alarms: 0, timerDelaysMs: [] as number[] };
  await withTimers(
    name,
    { env, bundle, signer, dataDir, shards: 1, settings },
    async ({ api, client, idPrefix }) => {
      const ids = Array.from({ length: 8 }, (_, i) => `${name}-${i}`);
      for (const [i, id] of ids.entries()) {
        const res = await postJson(`${api}/timers`, {
          id,
          delayMs: 1_000 + i * 300,
          action: { type: 'webhook', url: target.url },
        });
        expect(res.status).toBe(201);
      }
      const delivered = () =>
        new Set(
          target
            .delivered()
            .map((d) => d.timerId)
            .filter((id) => ids.includes(id)),
        );
      await eventually(
        () => Promise.resolve(delivered().size),
        (n) => n === ids.length,
        60_000,
      );
      expect(delivered().size).toBe(ids.length);
      const history = await client.workflow.getHandle(shardWorkflowId(idPrefix, 0)).fetchHistory();
      const events = history.events ?? [];
      found = {
        alarms: events.filter(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'ringShardAlarm',
        ).length,
        timerDelaysMs: events.flatMap((e) => {
          const started = e.timerStartedEventAttributes;
          return started ? [tsToMs(started.startToFireTimeout)] : [];
        }),
      };
    },
  );
  return found;
}

test('a shard wakes for timers due within seconds by alarms; a durable timer only wakes it to set one further off', async () => {
  const { alarms, timerDelaysMs } = await wakeUps('alarms-on', {});
  expect(alarms).toBeGreaterThan(0);
  // Durable timers are set half the alarm window (5 s) before what they wake for, and only for
  // what is due over 10 s out (arming, forgetting): none for the timers due in one to three seconds.
  for (const delay of timerDelaysMs) expect(delay).toBeGreaterThan(4_000);
}, 120_000);

test('with alarms off (alarmWithinMs 0) a shard wakes by durable timers, as before', async () => {
  const { alarms, timerDelaysMs } = await wakeUps('alarms-off', { alarmWithinMs: 0 });
  expect(alarms).toBe(0);
  expect(timerDelaysMs.some((delay) => delay < 4_000)).toBe(true);
}, 120_000);
