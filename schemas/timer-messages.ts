/**
 * Names and payload types of everything a timer shard exposes. The gateway and the worker import
 * this module without pulling in workflow code, so each name lives in exactly one place.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CreateTimerRequest, DeadLetter, TimerRecord, TimerState } from './timer';
import type { TimerCreator, TimerTargetRule } from './timer-targets';
import type { ShardMessage } from './timer-shard-messages';
import type { ParkKey } from './timer-parking';
import type { OwnerQuorum, SignedOwnerCommand } from './owner-controls';
import type { CreateResult, ShardSettings, ShardSnapshot, ShardStats, TimerHalt } from './timer-shard';

/** The workflow type, for starting shards by name from code that must not import workflow code. */
export const TIMER_SHARD_WORKFLOW_TYPE = 'timerShardWorkflow';

/** Most timers one create update may carry; keeps each update event well under Temporal's size limits. */
export const MAX_CREATE_BATCH = 500;

export interface TimerShardInput {
  shard: number;
  shardCount: number;
  /** Shard workflow ids are `<idPrefix>-<shard>`; every shard of a deployment shares it. */
  idPrefix: string;
  settings?: Partial<ShardSettings>;
  /** The previous run's timers, when this run continues one. */
  snapshot?: ShardSnapshot;
  /** How many runs came before this one. */
  runs?: number;
  /** The previous run's parked timers: how far it took them back, and the earliest still parked. */
  paging?: ShardPaging;
}

/** What a shard knows of its parked timers (docs/timers.md#parked-timers). */
export interface ShardPaging {
  /** Every parked timer up to this key has been taken back. */
  watermark?: ParkKey;
  /** The earliest due time still parked; absent when none is. */
  nextDueAt?: number;
  /** Until when the store answers for digests the shard retired; absent when it retired none. */
  retiredUntil?: number;
}

export interface CreateTimersRequest {
  specs: CreateTimerRequest[];
  /** The gateway's authenticated caller: the timers act with this authority (schemas/timer-targets.ts). */
  createdBy?: TimerCreator;
  /**
   * The shard these ids hash to, which was full and forwards them here (docs/timers.md#rollover);
   * absent for a shard's own ids.
   */
  placedFrom?: number;
}

/** Tells a full shard that one of its ids is placed in shard `shard` (docs/timers.md#rollover). */
export interface TimerForward {
  id: string;
  shard: number;
}

/** A command on one timer; `caller` is the gateway's authenticated caller, who must be allowed to change it. */
export interface TimerCommand {
  id: string;
  caller?: TimerCreator;
}

export interface TimerListArgs {
  state?: TimerState;
  limit: number;
  after?: { at: number; id: string };
}

export interface ShardStatus extends ShardStats {
  runs: number;
  historyLength: number;
  /** The earliest due time among the timers the shard has parked (docs/timers.md#parked-timers). */
  nextParkedDueAt?: string;
}

/** Creates timers (idempotent per id); answers with each timer's record and whether it is new. */
export const createTimersUpdate = defineUpdate<CreateResult[], [CreateTimersRequest]>('timers.create');
export const cancelTimerUpdate = defineUpdate<TimerRecord, [TimerCommand]>('timers.cancel');
/** Settles a fired timer; `caller.name` is recorded as `ackedBy`. */
export const ackTimerUpdate = defineUpdate<TimerRecord, [TimerCommand]>('timers.ack');
/** Starts a dead letter's delivery again and answers at once; read the timer for the outcome. */
export const replayTimerUpdate = defineUpdate<TimerRecord, [TimerCommand]>('timers.replay');
/**
 * Replaces the allow-list a running shard checks at firing, and the owner keys a halt must be
 * signed by (the worker sends its SWOOSH_TIMER_TARGETS and SWOOSH_OWNER_KEYS at boot); a shard
 * started later gets them in its input.
 */
export const configureTimerTargetsUpdate = defineUpdate<
  void,
  [
    {
      timerTargets: TimerTargetRule[];
      owners?: OwnerQuorum;
      capacityBytes?: number;
      /** Park timers due later than this (ms); 0 parks none (docs/timers.md#parked-timers). */
      parkAfterMs?: number;
    },
  ]
>('timers.configure');
/**
 * Halts the shard with a signed broadcast pause (pause-all, countersigned by the gateway and
 * carrying the owners' signatures, which the shard checks against its owner keys and quorum).
 * Answers the halt in force.
 */
export const haltTimersUpdate = defineUpdate<TimerHalt, [SignedOwnerCommand]>('timers.halt');
/**
 * Lifts the halt with a signed broadcast resume issued after it; timers that fell due meanwhile
 * fire now, flagged `heldByHalt`. Answers how many timers the lift released.
 */
export const liftTimersUpdate = defineUpdate<{ released: number }, [SignedOwnerCommand]>('timers.lift');

/**
 * Records, in a full shard, that one of its ids is placed in another shard, before the gateway
 * creates it there; later creates, commands, lookups and messages for the id follow it.
 */
export const forwardTimerUpdate = defineUpdate<void, [TimerForward]>('timers.forward');

export const timerQuery = defineQuery<TimerRecord | null, [string]>('timers.get');
/** The shard one of this shard's ids was forwarded to, or null: asked when `timers.get` finds nothing. */
export const timerForwardQuery = defineQuery<number | null, [string]>('timers.forwardOf');
export const listTimersQuery = defineQuery<TimerRecord[], [TimerListArgs]>('timers.list');
export const deadLettersQuery = defineQuery<DeadLetter[], [Omit<TimerListArgs, 'state'>]>(
  'timers.deadLetters',
);
export const shardStatusQuery = defineQuery<ShardStatus>('timers.status');

/** Shard-to-shard messages for chains and dependencies that cross shards. */
export const shardMessageSignal = defineSignal<[ShardMessage]>('timers.message');

/** `ApplicationFailure.type` of each way a shard refuses an update; the gateway maps them to HTTP. */
export const TimerFailure = {
  invalid: 'TimerInvalidRequest',
  notFound: 'TimerNotFound',
  conflict: 'TimerConflict',
  invalidState: 'TimerInvalidState',
  shardFull: 'TimerShardFull',
  /** The caller's role may not do this: an action its creator may not send, or another's timer. */
  forbidden: 'TimerForbidden',
  wrongShard: 'TimerWrongShard',
  /** The id was placed in another shard; the failure's details hold that shard's number. */
  forwarded: 'TimerForwarded',
  /** A halt or lift that is not a fresh broadcast command signed by enough of the owner keys. */
  haltRefused: 'TimerHaltRefused',
} as const;
