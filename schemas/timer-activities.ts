/**
 * What a timer shard hands its activities (`activities/timers.ts`): the deliveries and the
 * cross-shard signal. The shard's activity proxies take their signatures from the implementation.
 */
import type { TimerEvent } from './timer-events';
import type { TimerShardInput } from './timer-messages';
import type { ArchivedTimer, AttemptOutcome } from './timer-shard';
import type { ShardMessage } from './timer-shard-messages';

export interface WebhookDelivery {
  url: string;
  headers?: Record<string, string>;
  payload?: unknown;
  timerId: string;
  deliveryId: string;
  escalationLevel: number;
  attempt: number;
  dueAt: string;
  firedAt: string;
}

export interface WebhookBatch {
  deliveries: WebhookDelivery[];
}

export interface UpdateDelivery {
  workflowId: string;
  updateName: string;
  args: unknown[];
  /** The delivery id: Temporal deduplicates an update id, so a retried attempt is not applied twice. */
  updateId: string;
}

/** A shard's alarm: the activity returns at `at` (epoch ms, by the workflow's clock). */
export interface ShardAlarm {
  at: number;
}

export interface ShardSignalWithStart {
  workflowId: string;
  taskQueue: string;
  input: TimerShardInput;
  message: ShardMessage;
}

/** A shard's state changes since its last write, in order (host/timer-events.ts). */
export interface TimerEventBatch {
  shard: number;
  events: TimerEvent[];
}

/**
 * A shard's bookkeeping since its last write, in one activity (docs/timers.md#inside-a-shard):
 * its state changes for the event log and its closed timers for the timer ledger.
 */
export interface ShardBookkeeping extends TimerEventBatch {
  archived: ArchivedTimer[];
}

/** Webhooks due together, with the shard's bookkeeping riding along. */
export interface WebhookBatchWithBookkeeping extends WebhookBatch {
  bookkeeping: ShardBookkeeping;
}

export interface WebhookBatchResult {
  outcomes: AttemptOutcome[];
  /** Why the bookkeeping that rode along was not written: the shard writes it again. */
  bookkeepingError?: string;
}
