/**
 * What a timer shard holds, carries across continue-as-new and reports: its settings, its timers
 * as plain data, the effects it asks its workflow to run, and the results of its updates and
 * queries. The shard workflow, the timer activities and the gateway share these shapes.
 */
import { z } from 'zod';
import type { OwnerQuorum } from './owner-controls';
import type { DeadLetter, TimerAction, TimerRecord, TimerSpec, TimerState } from './timer';
import type { TimerEvent } from './timer-events';
import type { TimerCreator, TimerTargetRule } from './timer-targets';
import type { ShardMessage, Watcher } from './timer-shard-messages';

export interface ShardSettings {
  /**
   * A timer with its dependencies met is Armed between this long and three quarters of this long
   * before it is due (arming is checked on a grid of a quarter of the horizon).
   */
  armingHorizonMs: number;
  /** Settled and cancelled timers stay readable (and their ids taken) this long. */
  retentionMs: number;
  /** Deliveries running at once; Temporal caps pending activities and signals per workflow at 2000. */
  maxInFlight: number;
  /** Continue-as-new once the history has this many events (or Temporal suggests it). */
  maxHistoryEvents: number;
  /** …or this many bytes. */
  maxHistoryBytes: number;
  /**
   * Webhooks due together go out as one activity of up to this many requests: one activity task
   * and three history events per batch instead of per timer.
   */
  deliveryBatchSize: number;
  /**
   * Refuse creates once the timers held would serialise to about this many bytes: they are carried
   * as the continue-as-new input, which Temporal refuses above 2 MB.
   */
  snapshotBudgetBytes: number;
  /**
   * A create due later than this (ms) is parked in the parked-timer store and paged in a minute
   * before it is due (docs/timers.md#parked-timers); absent or 0, nothing is parked.
   */
  parkAfterMs?: number;
  /**
   * A parking shard hands its oldest digests to the store once this many wait, however much room
   * it has (docs/timers.md#retired-digests); absent, a full batch (RETIRE_MAX_DIGESTS).
   */
  retireAfterDigests?: number;
  /**
   * Wake-ups due within this (ms) are woken by an alarm, an activity sleeping in the worker, rather
   * than a durable timer (docs/timers.md#alarms); absent, 10 s. 0 wakes by durable timers only, as
   * a server whose clock is not the worker's needs: Temporal's time-skipping test server does not
   * move its clock while an activity runs.
   */
  alarmWithinMs?: number;
  /**
   * Closed timers become digests and their records go to the timer ledger. Set by the shard
   * workflow (a patch), not by callers: runs recorded before it keep closed timers whole.
   */
  archiveClosed?: boolean;
  /**
   * A chain link whose home shard is full rolls over to another shard, as a create does. Set by
   * the shard workflow (a patch): runs recorded before it log such a link as not created.
   */
  rollChainLinks?: boolean;
  /**
   * The signals and updates timers may send (schemas/timer-targets.ts), checked again at firing
   * against each timer's recorded creator.
   */
  timerTargets: TimerTargetRule[];
  /**
   * The deployment's owner keys and quorum (SWOOSH_OWNER_KEYS, SWOOSH_OWNER_QUORUM): a halt or a
   * lift must carry that many of these owners' signatures (docs/timers.md#owner-halt). Absent until
   * a worker configures the shard, and then no halt is taken.
   */
  owners?: OwnerQuorum;
}

/**
 * The owner halt a shard is under: set by a signed pause-all, lifted by a signed resume-all
 * issued after it. While it stands nothing fires, escalates or starts a delivery.
 */
export interface TimerHalt {
  commandId: string;
  actor: string;
  reason: string;
  issuedAtMs: number;
  /** The owner keys whose signatures the shard verified. */
  signers: string[];
  /** When the shard took it (the workflow clock). */
  since: number;
}

/**
 * The range a shard's capacity (SWOOSH_TIMER_SHARD_CAPACITY, bytes) may be set in: its timers are
 * the continue-as-new input, which Temporal refuses above 2 MB (its default blob size limit), and
 * the snapshot also carries watchers, held messages and events beside the timers.
 */
export const ShardCapacityBytes = z.int().min(16_384).max(1_800_000);

/** Rough serialised size of a timer's entry in a shard beyond its spec (times, counters, ids). */
export const TIMER_ENTRY_OVERHEAD_BYTES = 400;

export const DEFAULT_SHARD_SETTINGS: ShardSettings = {
  armingHorizonMs: 60_000,
  retentionMs: 60 * 60 * 1000,
  maxInFlight: 500,
  maxHistoryEvents: 10_000,
  maxHistoryBytes: 10 * 1024 * 1024,
  deliveryBatchSize: 100,
  snapshotBudgetBytes: 1_500_000,
  timerTargets: [],
};

export interface ShardIdentity {
  shard: number;
  shardCount: number;
  /** The timer ledger closed timers are archived in: the shard's workflow id (default `timer-shard-<n>`). */
  ledger?: string;
}

/** One timer as the shard holds it; plain data, carried verbatim across continue-as-new. */
export interface TimerEntry {
  spec: TimerSpec;
  state: TimerState;
  /** Who created the timer (a chained timer: who created its chain); absent on older timers. */
  createdBy?: TimerCreator;
  createdAt: number;
  dueAt: number;
  /** Dependencies that have not fired yet. */
  waitingOn: string[];
  chainedFrom?: string;
  readyAt?: number;
  armedAt?: number;
  firedAt?: number;
  latenessMs?: number;
  deliveryId?: string;
  /** 0: the timer's own action; n: the n-th escalation rung. */
  level: number;
  attempts: number;
  /** A delivery attempt is due at this time (unset while one runs, or when none is owed). */
  attemptAt?: number;
  deliveredAt?: number;
  ackDeadline?: number;
  escalatedAt?: number;
  settledAt?: number;
  settledBy?: 'ack' | 'delivery';
  ackedBy?: string;
  cancelledAt?: number;
  cancelReason?: string;
  deadLetteredAt?: number;
  lastError?: string;
  replays: number;
  /** Settled or cancelled at; the entry is dropped `retentionMs` later. */
  closedAt?: number;
  /** The owner halt (its command id) this timer fell due under; it fired or escalated late, on the lift. */
  heldBy?: string;
  /** The shard the id hashes to, which was full and placed the timer here (docs/timers.md#rollover). */
  placedFrom?: number;
}

/**
 * What a shard keeps of a timer once it closed (settled or cancelled), until retention forgets it:
 * its outcome, not its spec. The full record went to the shard's timer ledger (`ArchiveEffect`).
 * `specHash` keeps a create of the same id idempotent: the same spec is answered with this timer,
 * another spec is a conflict.
 */
export interface TimerDigest {
  id: string;
  specHash: string;
  state: 'Settled' | 'Cancelled';
  createdBy?: TimerCreator;
  createdAt: number;
  dueAt: number;
  firedAt?: number;
  latenessMs?: number;
  deliveredAt?: number;
  closedAt: number;
  settledBy?: 'ack' | 'delivery';
  ackedBy?: string;
  cancelReason?: string;
  escalationLevel: number;
  attempts: number;
  replays: number;
  placedFrom?: number;
  /** Ids and times a reader of a closed timer still relies on: a delivery's dedup id, its chain, its wait. */
  deliveryId?: string;
  chainedFrom?: string;
  chainsTo?: string;
  readyAt?: number;
  heldBy?: string;
}

/** A closed timer as its digest tells it: the outcome; the spec's fields are in the timer ledger `archivedIn`. */
export function digestRecord(digest: TimerDigest, shard: number, archivedIn: string): TimerRecord {
  const closedAt = new Date(digest.closedAt).toISOString();
  return {
    id: digest.id,
    shard,
    state: digest.state,
    archivedIn,
    specHash: digest.specHash,
    ...(digest.createdBy !== undefined && { createdBy: digest.createdBy }),
    escalationLevel: digest.escalationLevel,
    createdAt: new Date(digest.createdAt).toISOString(),
    dueAt: new Date(digest.dueAt).toISOString(),
    ...(digest.chainedFrom !== undefined && { chainedFrom: digest.chainedFrom }),
    ...(digest.chainsTo !== undefined && { chainsTo: digest.chainsTo }),
    ...optionalIso('readyAt', digest.readyAt),
    ...optionalIso('firedAt', digest.firedAt),
    ...(digest.latenessMs !== undefined && { latenessMs: digest.latenessMs }),
    ...(digest.heldBy !== undefined && { heldByHalt: digest.heldBy }),
    ...(digest.deliveryId !== undefined && { deliveryId: digest.deliveryId }),
    attempts: digest.attempts,
    ...optionalIso('deliveredAt', digest.deliveredAt),
    ...(digest.state === 'Settled' && { settledAt: closedAt }),
    ...(digest.settledBy !== undefined && { settledBy: digest.settledBy }),
    ...(digest.ackedBy !== undefined && { ackedBy: digest.ackedBy }),
    ...(digest.state === 'Cancelled' && { cancelledAt: closedAt }),
    ...(digest.cancelReason !== undefined && { cancelReason: digest.cancelReason }),
    replays: digest.replays,
  };
}

/** `{ [key]: ISO time }` when there is a time, else nothing: for spreading into a record. */
export function optionalIso<K extends string>(key: K, ms: number | undefined): { [P in K]?: string } {
  return (ms === undefined ? {} : { [key]: new Date(ms).toISOString() }) as { [P in K]?: string };
}

/**
 * A digest as a snapshot carries it: positions instead of field names and times relative to the
 * closing, since a shard of digests nears Temporal's limit on continue-as-new input
 * (workflows/timers/digest.ts packs and unpacks it).
 */
export type PackedDigest = [
  id: string,
  specHashHex: string,
  state: 'S' | 'C',
  closedAt: number,
  createdBefore: number,
  dueAfter: number,
  counters: [escalationLevel: number, attempts: number, replays: number],
  firedBefore: number | null,
  deliveredBefore: number | null,
  latenessMs: number | null,
  deliveryId: string | null,
  rest: DigestRest | null,
];

/** The digest's fields a closed timer has only sometimes. */
export type DigestRest = Partial<
  Pick<
    TimerDigest,
    | 'createdBy'
    | 'settledBy'
    | 'ackedBy'
    | 'cancelReason'
    | 'placedFrom'
    | 'chainedFrom'
    | 'chainsTo'
    | 'readyAt'
    | 'heldBy'
  >
>;

/** A closed timer's full record, for the shard's timer ledger (docs/timers.md#compact-shards). */
export interface ArchivedTimer {
  specHash: string;
  closedAt: number;
  record: TimerRecord;
}

export interface ShardCounters {
  created: number;
  fired: number;
  delivered: number;
  deadLettered: number;
  settled: number;
  cancelled: number;
}

export interface DeliveryEffect {
  kind: 'deliver';
  timerId: string;
  deliveryId: string;
  level: number;
  attempt: number;
  action: TimerAction;
  /** Whose authority the action runs with; the shard checks it before delivering. */
  createdBy?: TimerCreator;
  dueAt: number;
  firedAt: number;
}

export type Effect =
  | DeliveryEffect
  | { kind: 'send'; shard: number; message: ShardMessage }
  | { kind: 'deadLetter'; record: DeadLetter }
  | { kind: 'archive'; timer: ArchivedTimer }
  | {
      kind: 'fired';
      timerId: string;
      latenessMs: number;
      action: TimerAction['type'];
      /** Fired on a halt's lift: its lateness is the halt's, not the shard's. */
      heldByHalt?: string;
    }
  | { kind: 'warn'; timerId: string; message: string };

export type AttemptOutcome = { ok: true } | { ok: false; retryable: boolean; error: string };

export interface ShardSnapshot {
  timers: TimerEntry[];
  watchers: [string, Watcher[]][];
  /** Messages and records not yet sent when the run ended; the next run sends them. */
  deferred: Effect[];
  counters: ShardCounters;
  /** Timer events not yet written to the event log when the run ended; the next run writes them. */
  events?: TimerEvent[];
  /** The last timer event's number; absent in snapshots from before the event log (none yet). */
  eventSeq?: number;
  /** The owner halt in force when the run ended; absent when none was. */
  halt?: TimerHalt;
  /** Closed timers kept as digests, packed; absent in snapshots from before compact shards. */
  digests?: PackedDigest[];
  /** Ids of this shard placed in other shards while it was full, and where. */
  forwards?: [string, number][];
}

export type CreateCheck =
  | { ok: true }
  | { ok: false; reason: 'conflict' | 'full' | 'wrongShard'; timerId: string }
  | { ok: false; reason: 'forwarded'; timerId: string; shard: number };

export type CommandCheck =
  | { ok: true }
  | { ok: false; reason: 'notFound' | 'invalidState' | 'forbidden'; state?: TimerState }
  | { ok: false; reason: 'forwarded'; shard: number };

export interface CreateResult {
  created: boolean;
  timer: TimerRecord;
}

export interface ShardStats {
  shard: number;
  timers: number;
  /** Of `timers`, the closed ones held as digests. */
  digests: number;
  /** Ids of this shard placed in other shards while it was full. */
  forwards: number;
  /** `snapshotBytes` may grow to this; creates past it are refused as full. */
  capacityBytes: number;
  byState: Partial<Record<TimerState, number>>;
  inFlight: number;
  queued: number;
  snapshotBytes: number;
  counters: ShardCounters;
  /** The owner halt in force, if any, and how many timers wait for its lift. */
  halt: (TimerHalt & { held: number }) | null;
}

export interface ListOptions {
  state?: TimerState;
  limit: number;
  after?: { at: number; id: string };
}
