/**
 * Starting timer shards. Shards `timer-shard-0 … timer-shard-<count-1>` are entity workflows that
 * live as long as the deployment; starting one that already runs is a no-op, so the worker (at
 * boot), the gateway (on a create that finds its shard missing) and a shard (on a message to a
 * missing peer) can all ensure them without coordinating.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { mapConcurrently } from '../host/concurrency';
import {
  configureTimerTargetsUpdate,
  TIMER_SHARD_WORKFLOW_TYPE,
  type TimerShardInput,
} from '../schemas/timer-messages';
import { DEFAULT_SHARD_ID_PREFIX, shardWorkflowId } from '../schemas/timer-shard-key';
import { type ShardSettings } from '../schemas/timer-shard';

export interface TimerShardLayout {
  /** Fixed for the life of a deployment: changing it re-routes every timer id. */
  count: number;
  /** Workflow ids are `<idPrefix>-<n>`; `timer-shard` unless set. */
  idPrefix?: string;
  /** Settings a newly started shard gets; running shards keep theirs (but see `configure`). */
  settings?: Partial<ShardSettings>;
}

/** Starts shard `shard` unless it is running; true if this call started it. */
export async function ensureTimerShard(
  client: Client,
  taskQueue: string,
  layout: TimerShardLayout,
  shard: number,
): Promise<boolean> {
  const idPrefix = layout.idPrefix ?? DEFAULT_SHARD_ID_PREFIX;
  const input: TimerShardInput = {
    shard,
    shardCount: layout.count,
    idPrefix,
    ...(layout.settings && { settings: layout.settings }),
  };
  try {
    await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
      workflowId: shardWorkflowId(idPrefix, shard),
      taskQueue,
      args: [input],
    });
    return true;
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return false;
  }
}

/**
 * Ensures every shard of the layout runs, a few starts at a time. With `configure`, shards that
 * were already running are sent the layout's allow-list too, so a changed SWOOSH_TIMER_TARGETS
 * reaches their checks at firing (a shard started now has it in its input).
 */
export async function ensureTimerShards(
  client: Client,
  taskQueue: string,
  count: number,
  options: Omit<TimerShardLayout, 'count'> & { configure?: boolean } = {},
): Promise<void> {
  const { configure, ...rest } = options;
  const layout = { ...rest, count };
  const idPrefix = layout.idPrefix ?? DEFAULT_SHARD_ID_PREFIX;
  const timerTargets = layout.settings?.timerTargets ?? [];
  await mapConcurrently(
    Array.from({ length: count }, (_, shard) => shard),
    16,
    async (shard) => {
      const started = await ensureTimerShard(client, taskQueue, layout, shard);
      if (configure && !started) {
        await client.workflow
          .getHandle(shardWorkflowId(idPrefix, shard))
          .executeUpdate(configureTimerTargetsUpdate, { args: [{ timerTargets }] });
      }
    },
  );
}
