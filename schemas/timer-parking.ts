/**
 * Parked timers (docs/timers.md#parked-timers): a shard keeps in its state only the timers due
 * soon, and parks the ones due later in a store outside Temporal, taking them back ("paging
 * them in") a minute before they are due. The shard, the parking activities, the store and the
 * gateway share these shapes.
 *
 * The shard is the only writer of its parked timers: every park, cancel and page-in is an activity
 * its workflow runs one at a time. It pages them in by their key, (due time, id), and tells the
 * store each time how far it has taken them (its watermark): a parked timer at or below the
 * watermark is the shard's, above it the store's.
 */
import { z } from 'zod';
import { type CreateTimerRequest, redact, type TimerRecord } from './timer';
import type { TimerDigest } from './timer-shard';
import type { TimerCreator } from './timer-targets';

/** A shard pages in, every `PAGE_EVERY_MS` while it has parked timers, those due within this. */
export const PAGE_AHEAD_MS = 60_000;
export const PAGE_EVERY_MS = 15_000;
/**
 * Timers paged in by one activity at most, and their bytes: the result is a history event, kept
 * under the 512 KB at which Temporal warns of a large payload.
 */
export const PAGE_MAX_TIMERS = 2_000;
export const PAGE_MAX_BYTES = 400_000;

/**
 * How far ahead a timer must be due to be parked (SWOOSH_TIMER_PARK_AFTER, ms). At least two
 * page-ins beyond the page-ahead window, so a timer parked now is paged in before it is due.
 */
export const ParkAfterMs = z
  .int()
  .min(PAGE_AHEAD_MS + 2 * PAGE_EVERY_MS)
  .max(30 * 24 * 60 * 60 * 1000);
/**
 * Two minutes: a shard holds about 3,000 timers, so what is due before its timers are parked must
 * fit there. At a million timers an hour over 16 shards that is under three minutes' worth.
 */
export const DEFAULT_PARK_AFTER_MS = 2 * 60 * 1000;

/** Where a parked timer sorts: by due time, then id. */
export interface ParkKey {
  dueAt: number;
  id: string;
}

/** Above every id a timer may have (ids use A-Z a-z 0-9 . _ : -): closes a page at a due time. */
export const AFTER_EVERY_ID = '~';

export function compareParkKeys(a: ParkKey, b: ParkKey): number {
  return a.dueAt - b.dueAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Whether the store still holds the timer at `key`: it is past what the shard has taken. */
export function isParked(key: ParkKey, watermark: ParkKey | undefined): boolean {
  return watermark === undefined || compareParkKeys(key, watermark) > 0;
}

/** A timer as the store holds it: what the shard needs to take it back as it was created. */
export interface ParkedTimer {
  spec: CreateTimerRequest;
  createdBy?: TimerCreator;
  createdAt: number;
  dueAt: number;
  /** Cancelled while parked; the shard still takes it back, so watchers of its id hear of it. */
  cancelledAt?: number;
  cancelReason?: string;
}

export interface ParkRequest {
  shard: number;
  watermark?: ParkKey;
  /**
   * Every timer of a create the shard does not hold: those with `park` set are parked unless
   * their id is parked already; the others are only checked against the parked ids.
   */
  timers: { timer: ParkedTimer; park: boolean }[];
}

export type ParkAnswer =
  /** Parked now, as asked. */
  | { id: string; outcome: 'parked' }
  /** Parked already, with the same spec: as it was then. */
  | { id: string; outcome: 'parkedBefore'; timer: ParkedTimer }
  /** Closed, its digest retired to the store, with the same spec: answered as it closed. */
  | { id: string; outcome: 'closed'; retired: RetiredDigest }
  /** Not parked: the shard holds it itself. */
  | { id: string; outcome: 'absent' };

/** All or nothing: a conflict (an id parked or closed with another spec) parks none of the batch. */
export type ParkResult =
  { ok: true; answers: ParkAnswer[]; nextDueAt?: number } | { ok: false; conflict: string };

export interface PageInRequest {
  shard: number;
  watermark?: ParkKey;
  /** Take the parked timers due at or before this. */
  upTo: number;
  /** At most this many (within PAGE_MAX_TIMERS)… */
  limit: number;
  /**
   * …taking at most this much of the shard's capacity, each timer reckoned as its line in the
   * store plus TIMER_ENTRY_OVERHEAD_BYTES (its spec alone is shorter than its line).
   */
  roomBytes: number;
}

export interface PageInResult {
  /** By key; cancelled ones too. */
  timers: ParkedTimer[];
  /** What the shard has taken once it holds these. */
  watermark?: ParkKey;
  /** The earliest due time still parked, if any. */
  nextDueAt?: number;
}

export interface ParkedCancelRequest {
  shard: number;
  watermark?: ParkKey;
  id: string;
  /** The gateway's caller, who must be allowed to change the timer; absent from inside the deployment. */
  caller?: TimerCreator;
  at: number;
  reason: string;
}

export type ParkedCancelResult =
  { outcome: 'cancelled'; timer: ParkedTimer } | { outcome: 'notFound' | 'forbidden' };

/**
 * A shard with little room left hands the store the digests of its oldest closed timers, which
 * the store answers for until their retention ends (docs/timers.md#retired-digests): when less
 * than this share of its capacity is free…
 */
export const RETIRE_BELOW_FREE_SHARE = 0.25;
/**
 * …at most this many at a time: a digest is up to some 500 bytes of activity input, and a batch
 * stays well under the 512 KB at which Temporal warns of a large payload.
 */
export const RETIRE_MAX_DIGESTS = 500;

/** A closed timer's digest in the store, with the timer ledger that has its record. */
export interface RetiredDigest {
  digest: TimerDigest;
  archivedIn: string;
  /** When retention forgets it: the store no longer answers for it from then on, and its id is free. */
  forgetAt: number;
}

export interface RetireRequest {
  shard: number;
  watermark?: ParkKey;
  digests: RetiredDigest[];
}

/** The record of a parked timer, as its shard would answer for it once paged in. */
export function parkedTimerRecord(timer: ParkedTimer, shard: number): TimerRecord {
  const { spec } = timer;
  let rungs = 0;
  for (let rung = spec.escalation; rung; rung = rung.escalation) rungs++;
  const cancelled = timer.cancelledAt !== undefined;
  return {
    id: spec.id,
    shard,
    state: cancelled ? 'Cancelled' : 'Scheduled',
    parked: true,
    ...(timer.createdBy !== undefined && { createdBy: timer.createdBy }),
    action: redact(spec.action),
    dependsOn: spec.dependsOn ?? [],
    waitingOn: [...(spec.dependsOn ?? [])],
    ...(spec.chain && { chainsTo: spec.chain.id }),
    escalationRungs: rungs,
    escalationLevel: 0,
    createdAt: new Date(timer.createdAt).toISOString(),
    dueAt: new Date(timer.dueAt).toISOString(),
    attempts: 0,
    ...(cancelled && { cancelledAt: new Date(timer.cancelledAt!).toISOString() }),
    ...(timer.cancelReason !== undefined && { cancelReason: timer.cancelReason }),
    replays: 0,
  };
}

/** A parked timer's due time, from its spec and when its create was accepted. */
export function dueTimeOf(spec: Pick<CreateTimerRequest, 'dueAt' | 'delayMs'>, createdAt: number): number {
  return spec.dueAt !== undefined ? Date.parse(spec.dueAt) : createdAt + (spec.delayMs ?? 0);
}
