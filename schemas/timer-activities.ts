/**
 * The activities a timer shard calls, declared on the workflow side so workflow code depends on a
 * contract, not on activity code; `activities/timers.ts` implements it.
 */
import type { DeadLetter } from './timer';
import type { TimerShardInput } from './timer-messages';
import type { ShardMessage } from './timer-shard-messages';
import type { AttemptOutcome } from './timer-shard';

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

export interface ShardSignalWithStart {
  workflowId: string;
  taskQueue: string;
  input: TimerShardInput;
  message: ShardMessage;
}

/** Function-valued properties rather than methods: activities are called detached from this object. */
export interface TimerActivities {
  /**
   * One attempt at each webhook of the batch, all at once; outcomes in input order, each saying
   * whether another attempt is worth making.
   */
  deliverTimerWebhooks: (batch: WebhookBatch) => Promise<AttemptOutcome[]>;
  /** Delivered once the target workflow has run the update. */
  deliverTimerUpdate: (delivery: UpdateDelivery) => Promise<AttemptOutcome>;
  recordTimerDeadLetter: (record: DeadLetter) => Promise<void>;
  /** Reaches a shard whether or not it was running (signal-with-start). */
  signalTimerShard: (request: ShardSignalWithStart) => Promise<void>;
}
