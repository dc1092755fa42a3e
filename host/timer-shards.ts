/**
 * How node-side code starts a timer shard. The gateway (a create for a shard nobody started yet,
 * by Update-with-Start) and the worker (every shard, at boot) start shards from the same layout,
 * so both give a shard the same id and input. Starts are `USE_EXISTING`: a shard that runs —
 * whichever run continue-as-new has reached — is reused, and its timers are never dropped by a
 * second start; only a shard that is not running is started.
 */
import type { WorkflowStartOptions } from '@temporalio/client';
import { type TimerShardInput } from '../schemas/timer-messages';
import { type ShardSettings } from '../schemas/timer-shard';
import { DEFAULT_SHARD_ID_PREFIX, shardWorkflowId } from '../schemas/timer-shard-key';

export interface TimerShardLayout {
  /** Fixed for the life of a deployment: changing it re-routes every timer id. */
  count: number;
  /** Workflow ids are `<idPrefix>-<n>`; `timer-shard` unless set. */
  idPrefix?: string;
  /** Settings a newly started shard gets; a running shard keeps its own. */
  settings?: Partial<ShardSettings>;
}

/** Options that start shard `shard` of `layout` on `taskQueue`, or reuse it if it runs. */
export function timerShardStartOptions(
  taskQueue: string,
  layout: TimerShardLayout,
  shard: number,
): WorkflowStartOptions & { workflowIdConflictPolicy: 'USE_EXISTING' } {
  const idPrefix = layout.idPrefix ?? DEFAULT_SHARD_ID_PREFIX;
  const input: TimerShardInput = {
    shard,
    shardCount: layout.count,
    idPrefix,
    ...(layout.settings && { settings: layout.settings }),
  };
  return {
    workflowId: shardWorkflowId(idPrefix, shard),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  };
}
