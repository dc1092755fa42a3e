/**
 * Starting timer shards at worker boot. Shards `timer-shard-0 … timer-shard-<count-1>` are entity
 * workflows that live as long as the deployment; every start reuses a shard that runs
 * (host/timer-shards.ts), so the worker (at boot), the gateway (on a create for a shard nobody
 * started) and a shard (on a message to a missing peer) can all start them without coordinating.
 */
import { type Client, WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import { mapConcurrently } from '../host/concurrency';
import { type TimerShardLayout, timerShardStartOptions } from '../host/timer-shards';
import { configureTimerTargetsUpdate, TIMER_SHARD_WORKFLOW_TYPE } from '../schemas/timer-messages';
import { DEFAULT_SHARD_ID_PREFIX, shardWorkflowId } from '../schemas/timer-shard-key';

/**
 * Refuses a shard count below the one the deployment's shards were started with. A timer's shard
 * is its id's hash modulo the count: with fewer, the gateway would look for timers in the wrong
 * shard, and the shards past the count would fire timers nobody could reach any more. The default
 * count went from 16 to 8 (docs/timers.md, "How many shards"), so a deployment begun under the old
 * default finds out here, at boot, instead of by its timers going missing. A running shard with
 * the number `count` is the sign.
 */
export async function checkTimerShardCount(
  client: Client,
  count: number,
  idPrefix = DEFAULT_SHARD_ID_PREFIX,
): Promise<void> {
  const beyond = shardWorkflowId(idPrefix, count);
  let running: boolean;
  try {
    running = (await client.workflow.getHandle(beyond).describe()).status.name === 'RUNNING';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return;
    throw error;
  }
  if (running) {
    throw new Error(
      `timer shard ${beyond} is running, so this deployment's timers are spread over more than the ${count} ` +
        `shards SWOOSH_TIMER_SHARDS gives; the shard count is fixed for a deployment: set ` +
        `SWOOSH_TIMER_SHARDS to the number of shards it was started with (16 before the default became 8)`,
    );
  }
}

/**
 * Ensures every shard of the layout runs, a few starts at a time. With `configure`, every shard
 * is also sent the layout's allow-list, owner keys, capacity and park-after setting, so a changed
 * SWOOSH_TIMER_TARGETS, SWOOSH_OWNER_KEYS, SWOOSH_TIMER_SHARD_CAPACITY or SWOOSH_TIMER_PARK_AFTER reaches shards that were already running (a shard started now has them in its
 * input as well).
 */
export async function ensureTimerShards(
  client: Client,
  taskQueue: string,
  count: number,
  options: Omit<TimerShardLayout, 'count'> & { configure?: boolean } = {},
): Promise<void> {
  const { configure, ...rest } = options;
  const layout = { ...rest, count };
  const timerTargets = layout.settings?.timerTargets ?? [];
  const owners = layout.settings?.owners;
  const capacityBytes = layout.settings?.snapshotBudgetBytes;
  // Always sent: a worker with no parked-timer store must stop its shards parking.
  const parkAfterMs = layout.settings?.parkAfterMs ?? 0;
  await mapConcurrently(
    Array.from({ length: count }, (_, shard) => shard),
    16,
    async (shard) => {
      const start = timerShardStartOptions(taskQueue, layout, shard);
      if (!configure) {
        await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, start);
        return;
      }
      // Update-with-Start: one call whether or not the shard runs yet.
      await client.workflow.executeUpdateWithStart(configureTimerTargetsUpdate, {
        args: [
          {
            timerTargets,
            ...(owners !== undefined && { owners }),
            ...(capacityBytes !== undefined && { capacityBytes }),
            parkAfterMs,
          },
        ],
        startWorkflowOperation: new WithStartWorkflowOperation(TIMER_SHARD_WORKFLOW_TYPE, start),
      });
    },
  );
}

/** Backoff between attempts to configure the shards at boot. */
const CONFIGURE_RETRY_MS = { first: 1_000, max: 15_000 };

/**
 * `ensureTimerShards` with `configure`, tried until it succeeds or `stopped` settles (the worker
 * ends), saying on each failure why and when it tries again. Resolves either way; never throws.
 */
export async function configureTimerShards(
  client: Client,
  taskQueue: string,
  count: number,
  layout: Omit<TimerShardLayout, 'count'>,
  stopped: Promise<unknown>,
  warn: (line: string) => void,
): Promise<void> {
  let ended = false;
  const end = stopped.then(
    () => (ended = true),
    () => (ended = true),
  );
  for (let attempt = 0; !ended; attempt++) {
    try {
      await ensureTimerShards(client, taskQueue, count, { ...layout, configure: true });
      return;
    } catch (error) {
      if (ended) return;
      const waitMs = Math.min(CONFIGURE_RETRY_MS.first * 2 ** attempt, CONFIGURE_RETRY_MS.max);
      const why = error instanceof Error ? error.message : String(error);
      warn(`timer shards not configured yet (${why}); trying again in ${waitMs / 1000} s`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([end, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
  }
}
