/**
 * The capacity mode of `npm run bench:timers` (`--capacity[=bytes]`): how many timers one shard
 * holds at a capacity setting (SWOOSH_TIMER_SHARD_CAPACITY), measured rather than estimated. Two
 * one-shard deployments side by side on the same server and worker: one filled with live timers
 * (due in two hours) until it refuses a create as full; the other filled with timers due at once,
 * which fire, are delivered, settle and stay as digests (docs/timers.md#compact-shards), until it
 * refuses too. Each count is exact: batches halve down to single timers before the wall.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { CreateTimerRequest } from '../schemas/timer';
import {
  createTimersUpdate,
  MAX_CREATE_BATCH,
  shardStatusQuery,
  TimerFailure,
} from '../schemas/timer-messages';
import { shardWorkflowId } from '../schemas/timer-shard-key';
import { ensureTimerShards } from '../workers/timers';
import { log, type Receiver, waitFor } from './timer-support';

export interface CapacityFigures {
  capacityBytes: number;
  live: ShardFill;
  closed: ShardFill;
}

interface ShardFill {
  timers: number;
  snapshotBytes: number;
  runs: number;
  seconds: number;
}

/** The closed timers are created a batch at a time and settled before the next. */
const CLOSED_BATCH = 250;

export async function benchCapacity(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  receiver: Receiver,
  capacityBytes: number,
): Promise<CapacityFigures> {
  const settings = { snapshotBudgetBytes: capacityBytes };
  const spec = (prefix: string, i: number, dueInMs: number): CreateTimerRequest => ({
    id: `${prefix}-${i}`,
    delayMs: dueInMs,
    action: { type: 'webhook', url: receiver.url },
  });

  const fill = async (
    idPrefix: string,
    dueInMs: number,
    firstBatch: number,
    afterBatch?: (created: number) => Promise<void>,
  ): Promise<ShardFill> => {
    await ensureTimerShards(env.client, taskQueue, 1, { idPrefix, settings });
    const shard = env.client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
    const started = Date.now();
    let reported = started;
    let created = 0;
    for (let batch = firstBatch; batch >= 1;) {
      const specs = Array.from({ length: batch }, (_, i) => spec(idPrefix, created + i, dueInMs));
      try {
        await shard.executeUpdate(createTimersUpdate, { args: [{ specs }] });
      } catch (error) {
        if (!isShardFull(error)) throw error;
        batch = Math.floor(batch / 2);
        continue;
      }
      created += batch;
      await afterBatch?.(created);
      if (Date.now() - reported >= 5_000) {
        reported = Date.now();
        log(`${idPrefix}: ${created} timers held`);
      }
    }
    const status = await shard.query(shardStatusQuery);
    return {
      timers: status.timers,
      snapshotBytes: status.snapshotBytes,
      runs: status.runs,
      seconds: (Date.now() - started) / 1000,
    };
  };

  const live = await fill('capacity-live', 2 * 3_600_000, MAX_CREATE_BATCH);
  log(`live: ${live.timers} timers fill ${live.snapshotBytes} of ${capacityBytes} bytes`);
  const closed = await fill('capacity-closed', 0, CLOSED_BATCH, async (created) => {
    // Settled before the next batch: the shard then holds digests, not timers in flight.
    await waitFor(() => receiver.received.size, created, 120_000, 'closed: delivered');
    const shard = env.client.workflow.getHandle(shardWorkflowId('capacity-closed', 0));
    for (let look = 0; look < 200; look++) {
      const status = await shard.query(shardStatusQuery);
      if (status.digests >= created) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`closed: ${created} timers delivered but not all settled into digests`);
  });
  log(`closed: ${closed.timers} digests fill ${closed.snapshotBytes} of ${capacityBytes} bytes`);
  return { capacityBytes, live, closed };
}

function isShardFull(error: unknown): boolean {
  return (
    error instanceof WorkflowUpdateFailedError &&
    error.cause instanceof ApplicationFailure &&
    error.cause.type === TimerFailure.shardFull
  );
}

export function reportCapacity(f: CapacityFigures): void {
  const row = (label: string, fill: ShardFill) =>
    `${label.padEnd(22)}${String(fill.timers).padStart(8)}  ${String(fill.snapshotBytes).padStart(10)}  ` +
    `${(fill.snapshotBytes / fill.timers).toFixed(0).padStart(9)}  ${String(fill.runs).padStart(6)}  ${fill.seconds.toFixed(0).padStart(6)}`;
  console.log('');
  console.log(
    `one shard at SWOOSH_TIMER_SHARD_CAPACITY=${f.capacityBytes} (bytes), until it refused a create as full`,
  );
  console.log(
    `${''.padEnd(22)}${'timers'.padStart(8)}  ${'bytes'.padStart(10)}  ${'per timer'.padStart(9)}  ${'runs'.padStart(6)}  ${'s'.padStart(6)}`,
  );
  console.log(row('live (due in 2 h)', f.live));
  console.log(row('closed (digests)', f.closed));
}
