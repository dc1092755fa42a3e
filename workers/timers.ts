/**
 * Starting timer shards. Shards `timer-shard-0 … timer-shard-<count-1>` are entity workflows that
 * live as long as the deployment; starting one that already runs is a no-op, so the worker (at
 * boot), the gateway (on a create that finds its shard missing) and a shard (on a message to a
 * missing peer) can all ensure them without coordinating.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { TimerShardConfig } from '../schemas/timer';
import {
  DEFAULT_SHARD_ID_PREFIX,
  type ShardSettings,
  shardWorkflowId,
  TIMER_SHARD_WORKFLOW_TYPE,
  type TimerShardInput,
} from '../workflows/timer-definitions';

export interface TimerShardLayout {
  /** Fixed for the life of a deployment: changing it re-routes every timer id. */
  count: number;
  /** Workflow ids are `<idPrefix>-<n>`; `timer-shard` unless set. */
  idPrefix?: string;
  /** Settings a newly started shard gets; running shards keep theirs. */
  settings?: Partial<ShardSettings>;
}

/** The layout from `SWOOSH_TIMER_SHARDS` (default 16); the worker and the gateway both read it. */
export function timerShardLayoutFromEnv(
  env: Record<string, string | undefined> = process.env,
): TimerShardLayout {
  const parsed = TimerShardConfig.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid SWOOSH_TIMER_SHARDS: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  return { count: parsed.data.SWOOSH_TIMER_SHARDS };
}

/** Starts shard `shard` unless it is running. */
export async function ensureTimerShard(
  client: Client,
  taskQueue: string,
  layout: TimerShardLayout,
  shard: number,
): Promise<void> {
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
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/** Ensures every shard of the layout runs, a few starts at a time. */
export async function ensureTimerShards(
  client: Client,
  taskQueue: string,
  count: number,
  options: Omit<TimerShardLayout, 'count'> = {},
): Promise<void> {
  const layout = { ...options, count };
  await mapConcurrently(
    Array.from({ length: count }, (_, shard) => shard),
    16,
    (shard) => ensureTimerShard(client, taskQueue, layout, shard),
  );
}

/** `map` with at most `limit` calls in flight, so hundreds of shards do not mean hundreds of RPCs at once. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
