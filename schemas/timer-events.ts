/**
 * Timer events (docs/timers.md#timer-events): each change of a timer's state, as its shard
 * records it, numbered per shard, signed by the worker that appends it to the shard's event log,
 * and streamed by GET /timers/events. A stream's event id is a cursor over every shard, so a
 * client that reconnects with Last-Event-ID gets exactly the events after the ones it saw.
 */
import { z } from 'zod';
import { SIGNATURE_PATTERN, SignerKeySchema } from './proposal';
import { TimerState } from './timer';

const Instant = z.iso.datetime({ offset: true });

/** One state change of one timer, with what the new state adds to the timer's record. */
export const TimerEvent = z.object({
  shard: z.int().min(0),
  /** 1, 2, … per shard, in the order the shard made the changes; never reused. */
  seq: z.int().min(1),
  timerId: z.string(),
  state: TimerState,
  /** When the shard made the change (the workflow's clock). */
  at: Instant,
  dueAt: Instant.optional(),
  firedAt: Instant.optional(),
  latenessMs: z.int().optional(),
  /** The owner halt this timer fell due under and waited out (schemas/timer.ts `heldByHalt`). */
  heldByHalt: z.string().optional(),
  deliveryId: z.string().optional(),
  escalationLevel: z.int().min(0).optional(),
  attempts: z.int().min(0).optional(),
  replays: z.int().min(0).optional(),
  settledBy: z.enum(['ack', 'delivery']).optional(),
  ackedBy: z.string().optional(),
  /** Why a timer was cancelled. */
  reason: z.string().optional(),
  /** Why a delivery was given up. */
  lastError: z.string().optional(),
});
export type TimerEvent = z.infer<typeof TimerEvent>;

/**
 * A timer event as its log holds it and the stream sends it: `signature` is the orchestrator's
 * ed25519 signature over the canonical JSON of the event without `keyId` and `signature`.
 */
export const SignedTimerEvent = TimerEvent.extend({
  keyId: SignerKeySchema,
  signature: z.string().regex(SIGNATURE_PATTERN, 'expected base64 of a 64-byte ed25519 signature'),
});
export type SignedTimerEvent = z.infer<typeof SignedTimerEvent>;

/** Most shards a cursor can name: far above any deployment's shard count. */
const MAX_CURSOR_SHARDS = 4096;
const CURSOR_REASON = 'must be the id of an event this stream sent';

/**
 * A stream's event id, `<seq of shard 0>.<seq of shard 1>.…`: the last event read from each
 * shard (0: none). The gateway checks that it names every shard of the deployment.
 */
export const TimerEventId = z
  .string()
  .max(MAX_CURSOR_SHARDS * 16)
  .regex(/^(0|[1-9][0-9]{0,14})(\.(0|[1-9][0-9]{0,14}))*$/, CURSOR_REASON);

/** An event id as the last event read from each shard, by shard index. */
export const TimerEventCursor = TimerEventId.transform((cursor) => cursor.split('.').map(Number));
export type TimerEventCursor = z.output<typeof TimerEventCursor>;

export function encodeTimerEventCursor(seqs: readonly number[]): string {
  return seqs.join('.');
}

/** `Armed` or `Fired,Escalated,DeadLettered`: the states a stream passes on. */
const ONE_STATE = `(${TimerState.options.join('|')})`;
const StateList = z
  .string()
  .regex(
    new RegExp(`^${ONE_STATE}(,${ONE_STATE})*$`),
    `must be timer states separated by commas (${TimerState.options.join(', ')})`,
  )
  .transform((text) => text.split(',') as TimerState[]);

/** GET /timers/events. */
export const TimerEventsQuery = z.strictObject({
  /** Only events into these states. */
  state: StateList.optional(),
  /** Only events of timers whose id starts with this. */
  idPrefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be the start of a timer id')
    .optional(),
  /** Without a cursor: `now` (default) sends only events from here on, `start` every event the logs hold. */
  from: z.enum(['now', 'start']).default('now'),
  /** For clients that cannot set the Last-Event-ID header; the header wins when both are given. */
  lastEventId: TimerEventCursor.optional(),
});
export type TimerEventsQuery = z.output<typeof TimerEventsQuery>;

export const TIMER_EVENT_CURSOR_REASON = CURSOR_REASON;

/** The `data` of an `error` event: the stream ends after it; reconnect with Last-Event-ID. */
export const TimerStreamError = z.object({ detail: z.string() });
