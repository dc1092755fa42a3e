/**
 * The pure core of a timer shard: every timer it holds, their lifecycle, and the effects each
 * change calls for. It runs no effect itself: the shard workflow executes what `takeEffects()`
 * returns (deliveries, messages to other shards, dead-letter records) and reports delivery
 * outcomes back. That keeps the lifecycle testable without Temporal and deterministic inside it:
 * time comes in as `now`, ids from the injected `newId`.
 *
 * Lifecycle: Scheduled → Armed (dependencies fired, due within the arming horizon) → Fired (due
 * time reached; action delivering) → Settled (delivered with no escalation, or acknowledged).
 * A fired timer with an escalation ladder waits for acknowledgement and climbs a rung (Escalated)
 * each time a deadline passes. A delivery that runs out of retries is DeadLettered until it is
 * replayed or cancelled. Scheduled and Armed timers can be Cancelled.
 */
import type {
  CreateTimerRequest,
  DeadLetter,
  Escalation,
  TimerAction,
  TimerRecord,
  TimerSpec,
  TimerState,
} from '../../schemas/timer';
import { DEFAULT_RETRY, redact } from '../../schemas/timer';
import type { TimerEvent } from '../../schemas/timer-events';
import { mayChangeTimer, type TimerCreator } from '../../schemas/timer-targets';
import { canonicalJson } from '../../schemas/canonical-json';
import { sha256Text } from '../../schemas/hash';
import type { ShardMessage, Watcher } from '../../schemas/timer-shard-messages';
import { shardOf } from '../../schemas/timer-shard-key';
import type { ParkedTimer, RetiredDigest } from '../../schemas/timer-parking';
import { WakeHeap } from './wake-heap';
import { packDigest, unpackDigest } from './digest';
import {
  type ShardSettings,
  type ShardIdentity,
  type TimerEntry,
  type ShardCounters,
  type Effect,
  type AttemptOutcome,
  type ShardSnapshot,
  type CreateCheck,
  type CommandCheck,
  type CreateResult,
  type ShardStats,
  type ListOptions,
  type TimerHalt,
  type TimerDigest,
  digestRecord,
  optionalIso,
  TIMER_ENTRY_OVERHEAD_BYTES,
} from '../../schemas/timer-shard';

/** A chain link on its way to the shard that will hold it. */
interface ChainLink {
  spec: TimerSpec;
  /** The firing of the link before it, which its `delayMs` counts from. */
  baseTime: number;
  from: string;
  createdBy?: TimerCreator;
}

/** A digest's share of the snapshot beyond its own JSON: the comma between array items. */
const DIGEST_SEPARATOR_BYTES = 1;
/** Rough serialised size of a forward beyond its id. */
const FORWARD_OVERHEAD_BYTES = 16;
/** A timer is armed within the last quarter of the horizon's start: 60 s horizon, 15 s slots. */
const ARMING_SLOTS = 4;
/** Retention ends on the minute. */
const NONE: ReadonlySet<string> = new Set();
const FORGET_GRID_MS = 60_000;

export class TimerTable {
  private readonly timers = new Map<string, TimerEntry>();
  /** Closed timers whose records went to the timer ledger (docs/timers.md#compact-shards). */
  private readonly digests = new Map<string, TimerDigest>();
  private placedDigests = 0;
  /** This shard's ids placed in other shards while it was full (docs/timers.md#rollover). */
  private readonly forwards = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  /** Timer id → who waits for it to fire. Ids not (yet) known here may be watched too. */
  private readonly watchers = new Map<string, Watcher[]>();
  private readonly heap = new WakeHeap();
  /** The wake-up each entry currently wants; heap items that disagree are stale. */
  private readonly wakeAt = new Map<string, number>();
  /** Deliveries due but waiting for a free slot, oldest first. */
  private readonly ready = new Set<string>();
  private readonly inFlight = new Set<string>();
  private outbox: Effect[] = [];
  private deferred: Effect[] = [];
  private paused = false;
  /** The owner halt in force (docs/timers.md#owner-halt), and the timers that fell due under it. */
  private halt: TimerHalt | null;
  private readonly heldDue = new Set<string>();
  private bytes = 0;
  private readonly counters: ShardCounters;
  /** State changes not yet taken by the workflow for the event log, oldest first. */
  private journal: TimerEvent[];
  private eventSeq: number;

  /** Its own copy: the capacity can change (`setCapacity`). */
  private readonly settings: ShardSettings;

  constructor(
    private readonly identity: ShardIdentity,
    settings: ShardSettings,
    private readonly newId: () => string,
    snapshot?: ShardSnapshot,
  ) {
    this.settings = { ...settings };
    this.halt = snapshot?.halt ?? null;
    this.counters = snapshot
      ? { ...snapshot.counters }
      : { created: 0, fired: 0, delivered: 0, deadLettered: 0, settled: 0, cancelled: 0 };
    for (const entry of snapshot?.timers ?? []) {
      this.hold(entry);
      this.schedule(entry);
    }
    for (const packed of snapshot?.digests ?? []) this.holdDigest(unpackDigest(packed));
    for (const [id, shard] of snapshot?.forwards ?? []) this.forward(id, shard);
    for (const [id, list] of snapshot?.watchers ?? []) this.watchers.set(id, list);
    this.outbox = [...(snapshot?.deferred ?? [])];
    this.journal = [...(snapshot?.events ?? [])];
    this.eventSeq = snapshot?.eventSeq ?? 0;
  }

  // ── commands ──────────────────────────────────────────────────────────────────────────────

  /**
   * Whether a batch of creates can be accepted as a whole. An id already held with the same spec
   * is accepted (create is idempotent); with a different spec it is a conflict.
   */
  checkCreate(
    specs: readonly CreateTimerRequest[],
    placedFrom?: number,
    parking: ReadonlySet<string> = NONE,
  ): CreateCheck {
    const seen = new Map<string, string>();
    let added = 0;
    for (const spec of specs) {
      const home = shardOf(spec.id, this.identity.shardCount);
      const misrouted =
        placedFrom === undefined
          ? home !== this.identity.shard
          : home !== placedFrom || home === this.identity.shard;
      if (misrouted) return { ok: false, reason: 'wrongShard', timerId: spec.id };
      const forwardedTo = this.forwards.get(spec.id);
      if (forwardedTo !== undefined)
        return { ok: false, reason: 'forwarded', timerId: spec.id, shard: forwardedTo };
      const encoded = canonicalJson(spec);
      const digest = this.digests.get(spec.id);
      if (digest) {
        if (digest.specHash !== sha256Text(encoded))
          return { ok: false, reason: 'conflict', timerId: spec.id };
        continue;
      }
      const held = this.timers.get(spec.id);
      const known = held ? canonicalJson(held.spec) : seen.get(spec.id);
      if (known !== undefined) {
        if (known !== encoded) return { ok: false, reason: 'conflict', timerId: spec.id };
        continue;
      }
      seen.set(spec.id, encoded);
      // A timer to be parked takes no room here until it is paged in.
      if (parking.has(spec.id)) continue;
      added += encoded.length + TIMER_ENTRY_OVERHEAD_BYTES;
      if (this.bytes + added > this.settings.snapshotBudgetBytes) {
        return { ok: false, reason: 'full', timerId: spec.id };
      }
    }
    return { ok: true };
  }

  /**
   * Creates each timer not yet held; call only after `checkCreate` accepted the batch. A timer
   * already due (or inside the arming horizon) is armed or fired before the answer, so the record
   * returned is its real state.
   */
  create(
    specs: readonly CreateTimerRequest[],
    now: number,
    createdBy?: TimerCreator,
    placedFrom?: number,
  ): CreateResult[] {
    const created = specs.map((spec) => {
      if (this.timers.has(spec.id) || this.digests.has(spec.id)) return { created: false, id: spec.id };
      this.add(spec, now, now, undefined, createdBy, placedFrom);
      return { created: true, id: spec.id };
    });
    this.advance(now);
    // Read after advancing: a timer already due may have fired, settled and been archived.
    return created.map(({ created, id }) => ({ created, timer: this.record(id)! }));
  }

  /** Whether the shard answers for the id itself: it holds the timer, its digest or a forward. */
  knows(id: string): boolean {
    return this.timers.has(id) || this.digests.has(id) || this.forwards.has(id);
  }

  /**
   * Takes back timers the shard parked (docs/timers.md#parked-timers), as they were created: the
   * same creation time and due time. One cancelled while parked is taken back cancelled, so
   * whoever watches its id hears of it. An id held meanwhile keeps what is held.
   */
  takeBack(parked: readonly ParkedTimer[], now: number): void {
    for (const timer of parked) {
      if (this.knows(timer.spec.id)) {
        this.emit({
          kind: 'warn',
          timerId: timer.spec.id,
          message: 'parked timer not taken back: its id is held',
        });
        continue;
      }
      const entry = this.add(timer.spec, now, timer.createdAt, undefined, timer.createdBy);
      entry.createdAt = timer.createdAt;
      if (timer.cancelledAt !== undefined)
        this.cancelEntry(entry, now, timer.cancelReason ?? 'cancelled while parked', timer.cancelledAt);
    }
    this.advance(now);
  }

  /** Bytes of capacity left. */
  get freeBytes(): number {
    return Math.max(0, this.settings.snapshotBudgetBytes - this.bytes);
  }

  /**
   * Whether this shard, full, may place its id `id` in shard `shard`: not while it holds the id
   * itself (a create here answers for it then).
   */
  checkForward(id: string, shard: number): CreateCheck {
    const { shard: me, shardCount } = this.identity;
    if (shardOf(id, shardCount) !== me || shard === me || shard < 0 || shard >= shardCount)
      return { ok: false, reason: 'wrongShard', timerId: id };
    if (this.timers.has(id) || this.digests.has(id)) return { ok: false, reason: 'conflict', timerId: id };
    return { ok: true };
  }

  /** Records where an id of this shard is placed; a later forward of the same id replaces it. */
  forward(id: string, shard: number): void {
    if (!this.forwards.has(id)) this.bytes += FORWARD_OVERHEAD_BYTES + id.length;
    this.forwards.set(id, shard);
  }

  forwardOf(id: string): number | null {
    return this.forwards.get(id) ?? null;
  }

  checkCancel(id: string, caller?: TimerCreator): CommandCheck {
    return this.checkState(id, ['Scheduled', 'Armed', 'DeadLettered', 'Cancelled'], caller);
  }

  /** Cancels a timer that has not fired, or discards a dead letter. Cancelling twice is a no-op. */
  cancel(id: string, now: number, reason: string): TimerRecord {
    const entry = this.timers.get(id);
    if (entry && entry.state !== 'Cancelled') this.cancelEntry(entry, now, reason);
    return this.mustRecord(id);
  }

  checkAck(id: string, caller?: TimerCreator): CommandCheck {
    return this.checkState(id, ['Fired', 'Escalated', 'Settled'], caller);
  }

  /** Settles a fired or escalated timer; acknowledging a settled timer changes nothing. */
  ack(id: string, now: number, by: string | undefined): TimerRecord {
    const entry = this.timers.get(id);
    if (entry && entry.state !== 'Settled') this.settle(entry, now, 'ack', by);
    return this.mustRecord(id);
  }

  checkReplay(id: string, caller?: TimerCreator): CommandCheck {
    return this.checkState(id, ['DeadLettered'], caller);
  }

  /** Delivers a dead-lettered action again, with a fresh retry budget and the same delivery id. */
  replay(id: string, now: number): TimerRecord {
    const entry = this.mustGet(id);
    entry.state = entry.level === 0 ? 'Fired' : 'Escalated';
    entry.attempts = 0;
    entry.attemptAt = now;
    entry.replays++;
    this.note(entry, now, {
      deliveryId: entry.deliveryId!,
      escalationLevel: entry.level,
      replays: entry.replays,
    });
    this.schedule(entry);
    return this.toRecord(entry);
  }

  /** A message from another shard (or this one's own, routed locally). */
  receive(message: ShardMessage, now: number): void {
    switch (message.type) {
      case 'schedule':
        this.createChained(
          message.spec,
          message.baseTime,
          message.from,
          now,
          message.createdBy,
          message.placedFrom,
        );
        return;
      case 'placementFull': {
        const { spec, baseTime, from, createdBy, shard } = message;
        this.onPlacementFull({ spec, baseTime, from, ...(createdBy && { createdBy }) }, shard);
        return;
      }
      case 'unforward':
        if (this.forwards.get(message.timerId) === message.shard) this.dropForward(message.timerId);
        return;
      case 'watch':
        this.receiveWatch(message.timerId, message.watcher, now);
        return;
      case 'dependencyFired':
        this.onDependencyFired(message.dependentId, message.timerId, message.firedAt);
        return;
      case 'dependencyCancelled':
        this.onDependencyCancelled(message.dependentId, message.timerId, now);
        return;
    }
  }

  /** Does everything due at or before `now`: arming, firing, escalating, retrying, forgetting. */
  advance(now: number): void {
    for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      if (this.wakeAt.get(top.id) !== top.at) continue;
      this.wakeAt.delete(top.id);
      const entry = this.timers.get(top.id);
      if (entry) this.step(entry, now);
      else this.forgetDigest(top.id);
    }
    this.pump();
  }

  /** A delivery attempt started by a `deliver` effect has ended. */
  onAttemptResult(id: string, outcome: AttemptOutcome, now: number): void {
    this.inFlight.delete(id);
    const entry = this.timers.get(id);
    // Acknowledged while the attempt ran: the outcome no longer matters.
    if (entry && (entry.state === 'Fired' || entry.state === 'Escalated') && entry.attemptAt === undefined) {
      if (outcome.ok) {
        this.counters.delivered++;
        entry.deliveredAt = now;
        delete entry.lastError;
        const next = rungOf(entry.spec, entry.level + 1);
        if (entry.level === 0 && !entry.spec.escalation) this.settle(entry, now, 'delivery', undefined);
        else if (next) entry.ackDeadline = now + next.afterMs;
      } else {
        entry.lastError = outcome.error;
        const retry = { ...DEFAULT_RETRY, ...entry.spec.retry };
        if (outcome.retryable && entry.attempts < retry.maxAttempts) {
          const backoff = retry.initialIntervalMs * retry.backoffCoefficient ** (entry.attempts - 1);
          entry.attemptAt = now + Math.min(retry.maxIntervalMs, Math.round(backoff));
        } else {
          this.deadLetter(entry, now);
        }
      }
      this.schedule(entry);
    }
    this.pump();
  }

  /**
   * Stops starting deliveries and holds outgoing messages, so the shard can wait for what runs
   * now and continue-as-new. Owed deliveries keep their `attemptAt` and held messages go into
   * the snapshot; the next run starts both.
   */
  pause(): void {
    this.paused = true;
    this.deferred.push(...this.outbox.filter(isDeferrable));
    this.outbox = this.outbox.filter((effect) => !isDeferrable(effect));
  }

  /** A new capacity (SWOOSH_TIMER_SHARD_CAPACITY): creates past it are refused; nothing held is dropped. */
  setCapacity(bytes: number): void {
    this.settings.snapshotBudgetBytes = bytes;
  }

  /** Digests the shard may retire: all but those of placed timers (`retirable`). */
  get retirableDigests(): number {
    return this.digests.size - this.placedDigests;
  }

  get capacityBytes(): number {
    return this.settings.snapshotBudgetBytes;
  }

  /** Holds every firing, escalation and delivery until `liftHalt`; a later halt replaces this one. */
  setHalt(halt: TimerHalt): void {
    this.halt = halt;
  }

  get haltInForce(): TimerHalt | null {
    return this.halt;
  }

  /** Lifts the halt: what fell due meanwhile fires (or escalates) now, flagged. Answers how many. */
  liftHalt(now: number): number {
    if (this.halt === null) return 0;
    this.halt = null;
    const held = [...this.heldDue];
    this.heldDue.clear();
    for (const id of held) {
      const entry = this.timers.get(id);
      if (entry) this.step(entry, now);
    }
    this.advance(now);
    return held.length;
  }

  /** State changes since the last call, for the shard's event log. */
  takeEvents(): TimerEvent[] {
    const events = this.journal;
    this.journal = [];
    return events;
  }

  /** Events taken whose write failed, back in front of the ones made since, in their order. */
  returnEvents(events: TimerEvent[]): void {
    this.journal = [...events, ...this.journal];
  }

  hasEvents(): boolean {
    return this.journal.length > 0;
  }

  takeEffects(): Effect[] {
    const effects = this.outbox;
    this.outbox = [];
    return effects;
  }

  hasEffects(): boolean {
    return this.outbox.length > 0;
  }

  /** The earliest time anything is due. */
  nextWakeAt(): number | undefined {
    return this.heap.peek()?.at;
  }

  get deliveriesInFlight(): number {
    return this.inFlight.size;
  }

  snapshot(): ShardSnapshot {
    return {
      timers: [...this.timers.values()],
      ...(this.digests.size > 0 && { digests: [...this.digests.values()].map(packDigest) }),
      ...(this.forwards.size > 0 && { forwards: [...this.forwards.entries()] }),
      watchers: [...this.watchers.entries()],
      deferred: [...this.deferred, ...this.outbox.filter(isDeferrable)],
      counters: { ...this.counters },
      events: [...this.journal],
      eventSeq: this.eventSeq,
      ...(this.halt !== null && { halt: this.halt }),
    };
  }

  // ── queries ───────────────────────────────────────────────────────────────────────────────

  record(id: string): TimerRecord | null {
    const entry = this.timers.get(id);
    if (entry) return this.toRecord(entry);
    const digest = this.digests.get(id);
    return digest ? digestRecord(digest, this.identity.shard, this.ledgerName) : null;
  }

  /** Timers (closed ones as digests) by due time then id, after the cursor. */
  list(options: ListOptions): TimerRecord[] {
    const picked: { id: string; dueAt: number }[] = [];
    const take = (id: string, state: TimerState, dueAt: number): void => {
      if ((options.state === undefined || state === options.state) && afterCursor(dueAt, id, options.after))
        picked.push({ id, dueAt });
    };
    for (const entry of this.timers.values()) take(entry.spec.id, entry.state, entry.dueAt);
    for (const digest of this.digests.values()) take(digest.id, digest.state, digest.dueAt);
    picked.sort((a, b) => compareKeys(a.dueAt, a.id, b.dueAt, b.id));
    return picked.slice(0, options.limit).map(({ id }) => this.record(id)!);
  }

  /** Dead letters by when they were given up, then id, after the cursor. */
  deadLetters(options: Omit<ListOptions, 'state'>): DeadLetter[] {
    const picked = [...this.timers.values()].filter(
      (entry) =>
        entry.state === 'DeadLettered' && afterCursor(entry.deadLetteredAt!, entry.spec.id, options.after),
    );
    picked.sort((a, b) => compareKeys(a.deadLetteredAt!, a.spec.id, b.deadLetteredAt!, b.spec.id));
    return picked.slice(0, options.limit).map((entry) => this.deadLetterOf(entry));
  }

  stats(): ShardStats {
    const byState: Partial<Record<TimerState, number>> = {};
    for (const entry of this.timers.values()) byState[entry.state] = (byState[entry.state] ?? 0) + 1;
    for (const digest of this.digests.values()) byState[digest.state] = (byState[digest.state] ?? 0) + 1;
    return {
      shard: this.identity.shard,
      timers: this.timers.size + this.digests.size,
      digests: this.digests.size,
      forwards: this.forwards.size,
      capacityBytes: this.settings.snapshotBudgetBytes,
      byState,
      inFlight: this.inFlight.size,
      queued: this.ready.size,
      snapshotBytes: this.bytes,
      counters: { ...this.counters },
      halt: this.halt === null ? null : { ...this.halt, held: this.heldDue.size },
    };
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────

  private add(
    spec: TimerSpec,
    now: number,
    baseTime: number,
    chainedFrom?: string,
    createdBy?: TimerCreator,
    placedFrom?: number,
  ): TimerEntry {
    const entry: TimerEntry = {
      spec,
      state: 'Scheduled',
      ...(createdBy !== undefined && { createdBy }),
      createdAt: now,
      dueAt: spec.dueAt !== undefined ? Date.parse(spec.dueAt) : baseTime + (spec.delayMs ?? 0),
      waitingOn: [...(spec.dependsOn ?? [])],
      level: 0,
      attempts: 0,
      replays: 0,
      ...(chainedFrom !== undefined && { chainedFrom }),
      ...(placedFrom !== undefined && { placedFrom }),
    };
    this.hold(entry);
    this.counters.created++;
    this.note(entry, now, { dueAt: iso(entry.dueAt) });
    // Held before watching: a dependency already fired here resolves at once, against this entry.
    for (const dependency of spec.dependsOn ?? []) {
      this.watch(dependency, { dependentId: spec.id, shard: this.identity.shard }, now);
    }
    this.schedule(entry);
    return entry;
  }

  private createChained(
    spec: TimerSpec,
    baseTime: number,
    from: string,
    now: number,
    createdBy: TimerCreator | undefined,
    placedFrom?: number,
  ): void {
    const check = this.checkCreate([spec], placedFrom);
    if (check.ok) {
      if (!this.timers.has(spec.id) && !this.digests.has(spec.id))
        this.add(spec, now, baseTime, from, createdBy, placedFrom);
      return;
    }
    if (check.reason === 'forwarded') {
      // The link's id was placed elsewhere while this shard was full: that shard answers for it.
      const message = {
        type: 'schedule',
        spec,
        baseTime,
        from,
        placedFrom: this.identity.shard,
        ...(createdBy && { createdBy }),
      } as const;
      return this.emit({ kind: 'send', shard: check.shard, message });
    }
    if (check.reason === 'full' && this.settings.rollChainLinks && this.identity.shardCount > 1) {
      const link = { spec, baseTime, from, ...(createdBy && { createdBy }) };
      // Placed here from its full home, and this shard is full too: the home tries the next one.
      if (placedFrom !== undefined) {
        const message = { type: 'placementFull', ...link, shard: this.identity.shard } as const;
        return this.emit({ kind: 'send', shard: placedFrom, message });
      }
      return this.placeLink(link, this.nextShard(this.identity.shard));
    }
    // A chain link cannot be refused back to anyone: say so loudly instead.
    this.emit({
      kind: 'warn',
      timerId: spec.id,
      message: `chained timer from ${from} not created: ${check.reason}`,
    });
  }

  /**
   * Places a chain link of this full shard in shard `shard`, as the gateway places a create
   * (docs/timers.md#rollover): the forward first, so the id is never held twice, then the link.
   */
  private placeLink(link: ChainLink, shard: number): void {
    this.forward(link.spec.id, shard);
    const message = { type: 'schedule', ...link, placedFrom: this.identity.shard } as const;
    this.emit({ kind: 'send', shard, message });
  }

  /** The shard after `shard`, in order, wrapping around. */
  private nextShard(shard: number): number {
    return (shard + 1) % this.identity.shardCount;
  }

  /**
   * The shard this one placed a chain link in was full: the link moves on to the next shard,
   * until every other shard has refused it. A repeat of the message finds the forward moved on.
   */
  private onPlacementFull(link: ChainLink, refusedBy: number): void {
    const id = link.spec.id;
    if (this.forwards.get(id) !== refusedBy) return;
    const next = this.nextShard(refusedBy);
    if (next !== this.identity.shard) return this.placeLink(link, next);
    this.dropForward(id);
    this.emit({
      kind: 'warn',
      timerId: id,
      message: `chained timer from ${link.from} not created: every one of the ${this.identity.shardCount} timer shards is full`,
    });
  }

  private dropForward(id: string): void {
    if (this.forwards.delete(id)) this.bytes -= FORWARD_OVERHEAD_BYTES + id.length;
  }

  private step(entry: TimerEntry, now: number): void {
    switch (entry.state) {
      case 'Scheduled':
        if (entry.waitingOn.length > 0 || now < entry.dueAt - this.settings.armingHorizonMs) break;
        entry.state = 'Armed';
        entry.armedAt = now;
        this.note(entry, now, { dueAt: iso(entry.dueAt) });
        if (now >= entry.dueAt) this.fireUnlessHalted(entry, now);
        break;
      case 'Armed':
        if (now >= entry.dueAt) this.fireUnlessHalted(entry, now);
        break;
      case 'Fired':
      case 'Escalated':
        if (entry.attemptAt !== undefined) {
          if (entry.attemptAt <= now) this.ready.add(entry.spec.id);
        } else if (entry.ackDeadline !== undefined && entry.ackDeadline <= now) {
          if (!this.holdForHalt(entry)) this.escalate(entry, now);
        }
        break;
      case 'Settled':
      case 'Cancelled':
        if (entry.closedAt !== undefined && now >= entry.closedAt + this.settings.retentionMs) {
          this.forget(entry);
          return;
        }
        break;
      case 'DeadLettered':
        break;
    }
    this.schedule(entry);
  }

  /** Under a halt, keeps a timer that fell due for the lift (and out of the wake heap); else false. */
  private holdForHalt(entry: TimerEntry): boolean {
    if (this.halt === null) return false;
    this.heldDue.add(entry.spec.id);
    entry.heldBy = this.halt.commandId;
    return true;
  }

  private fireUnlessHalted(entry: TimerEntry, now: number): void {
    if (!this.holdForHalt(entry)) this.fire(entry, now);
  }

  private fire(entry: TimerEntry, now: number): void {
    const id = entry.spec.id;
    entry.state = 'Fired';
    entry.firedAt = now;
    entry.latenessMs = now - Math.max(entry.dueAt, entry.readyAt ?? entry.dueAt);
    entry.deliveryId = this.newId();
    entry.level = 0;
    entry.attempts = 0;
    entry.attemptAt = now;
    this.counters.fired++;
    this.note(entry, now, {
      dueAt: iso(entry.dueAt),
      firedAt: iso(now),
      latenessMs: entry.latenessMs,
      ...(entry.heldBy !== undefined && { heldByHalt: entry.heldBy }),
      deliveryId: entry.deliveryId,
    });
    this.emit({
      kind: 'fired',
      timerId: id,
      latenessMs: entry.latenessMs,
      action: entry.spec.action.type,
      ...(entry.heldBy !== undefined && { heldByHalt: entry.heldBy }),
    });
    if (entry.spec.chain) this.route(entry.spec.chain, now, id, entry.createdBy);
    const waiting = this.watchers.get(id) ?? [];
    this.watchers.delete(id);
    for (const watcher of waiting) this.notifyFired(watcher, id, now);
  }

  private escalate(entry: TimerEntry, now: number): void {
    entry.state = 'Escalated';
    entry.level++;
    entry.escalatedAt = now;
    entry.deliveryId = this.newId();
    entry.attempts = 0;
    entry.attemptAt = now;
    delete entry.ackDeadline;
    this.note(entry, now, {
      escalationLevel: entry.level,
      deliveryId: entry.deliveryId,
      ...(entry.heldBy !== undefined && { heldByHalt: entry.heldBy }),
    });
  }

  private settle(entry: TimerEntry, now: number, by: 'ack' | 'delivery', ackedBy: string | undefined): void {
    entry.state = 'Settled';
    entry.settledAt = now;
    entry.settledBy = by;
    if (ackedBy !== undefined) entry.ackedBy = ackedBy;
    entry.closedAt = now;
    delete entry.attemptAt;
    delete entry.ackDeadline;
    this.ready.delete(entry.spec.id);
    this.counters.settled++;
    this.note(entry, now, { settledBy: by, ...(ackedBy !== undefined && { ackedBy }) });
    this.close(entry);
  }

  /** `cancelledAt` earlier than `now`: cancelled while parked; retention counts from `now`. */
  private cancelEntry(entry: TimerEntry, now: number, reason: string, cancelledAt = now): void {
    const id = entry.spec.id;
    const hadFired = entry.firedAt !== undefined;
    entry.state = 'Cancelled';
    entry.cancelledAt = cancelledAt;
    entry.cancelReason = reason;
    entry.closedAt = now;
    delete entry.attemptAt;
    this.ready.delete(id);
    this.heldDue.delete(id);
    this.counters.cancelled++;
    this.note(entry, now, { reason });
    // A discarded dead letter had fired, and its watchers were told then.
    if (!hadFired) {
      const waiting = this.watchers.get(id) ?? [];
      this.watchers.delete(id);
      for (const watcher of waiting) this.notifyCancelled(watcher, id, now);
    }
    this.close(entry);
  }

  /**
   * A settled or cancelled timer: archived as a digest when the shard archives (its full record
   * goes to the timer ledger), else kept whole until retention forgets it.
   */
  private close(entry: TimerEntry): void {
    if (!this.settings.archiveClosed) return this.schedule(entry);
    const id = entry.spec.id;
    const specHash = sha256Text(canonicalJson(entry.spec));
    this.emit({
      kind: 'archive',
      timer: { specHash, closedAt: entry.closedAt!, record: this.toRecord(entry) },
    });
    this.release(entry);
    this.heldDue.delete(id);
    this.holdDigest({
      id,
      specHash,
      state: entry.state as TimerDigest['state'],
      ...(entry.createdBy !== undefined && { createdBy: entry.createdBy }),
      createdAt: entry.createdAt,
      dueAt: entry.dueAt,
      ...(entry.firedAt !== undefined && { firedAt: entry.firedAt }),
      ...(entry.latenessMs !== undefined && { latenessMs: entry.latenessMs }),
      ...(entry.deliveredAt !== undefined && { deliveredAt: entry.deliveredAt }),
      closedAt: entry.closedAt!,
      ...(entry.settledBy !== undefined && { settledBy: entry.settledBy }),
      ...(entry.ackedBy !== undefined && { ackedBy: entry.ackedBy }),
      ...(entry.cancelReason !== undefined && { cancelReason: entry.cancelReason }),
      escalationLevel: entry.level,
      attempts: entry.attempts,
      replays: entry.replays,
      ...(entry.placedFrom !== undefined && { placedFrom: entry.placedFrom }),
      ...(entry.deliveryId !== undefined && { deliveryId: entry.deliveryId }),
      ...(entry.chainedFrom !== undefined && { chainedFrom: entry.chainedFrom }),
      ...(entry.spec.chain && { chainsTo: entry.spec.chain.id }),
      ...(entry.readyAt !== undefined && { readyAt: entry.readyAt }),
      ...(entry.heldBy !== undefined && { heldBy: entry.heldBy }),
    });
  }

  private holdDigest(digest: TimerDigest): void {
    // Measured, not estimated: a shard of digests nears the continue-as-new input limit.
    const size = JSON.stringify(packDigest(digest)).length + DIGEST_SEPARATOR_BYTES;
    this.digests.set(digest.id, digest);
    if (digest.placedFrom !== undefined) this.placedDigests++;
    this.sizes.set(digest.id, size);
    this.bytes += size;
    const at = roundUp(digest.closedAt + this.settings.retentionMs, FORGET_GRID_MS);
    this.wakeAt.set(digest.id, at);
    this.heap.push({ at, id: digest.id });
  }

  /**
   * The oldest digests to hand to the store (docs/timers.md#retired-digests), at most `limit`, with
   * when retention forgets them. A placed timer's digest stays: its forgetting tells its home shard.
   */
  retirable(limit: number): RetiredDigest[] {
    const picked: RetiredDigest[] = [];
    for (const digest of this.digests.values()) {
      if (picked.length >= limit) break;
      if (digest.placedFrom !== undefined) continue;
      picked.push({ digest, archivedIn: this.ledgerName, forgetAt: this.wakeAt.get(digest.id)! });
    }
    return picked;
  }

  /** The store answers for these digests now: the shard lets go of them and of their room. */
  dropRetired(ids: readonly string[]): void {
    for (const id of ids) {
      const digest = this.digests.get(id);
      if (!digest) continue;
      this.digests.delete(id);
      if (digest.placedFrom !== undefined) this.placedDigests--;
      this.wakeAt.delete(id);
      this.bytes -= this.sizes.get(id) ?? 0;
      this.sizes.delete(id);
    }
  }

  /** A digest's only wake-up is its forgetting, on the grid after retention ends. */
  private forgetDigest(id: string): void {
    const digest = this.digests.get(id);
    if (!digest) return;
    this.digests.delete(id);
    if (digest.placedFrom !== undefined) this.placedDigests--;
    this.unforward(id, digest.placedFrom);
    this.bytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
  }

  private deadLetter(entry: TimerEntry, now: number): void {
    entry.state = 'DeadLettered';
    entry.deadLetteredAt = now;
    this.counters.deadLettered++;
    this.note(entry, now, {
      deliveryId: entry.deliveryId!,
      escalationLevel: entry.level,
      attempts: entry.attempts,
      lastError: entry.lastError ?? 'unknown',
    });
    this.emit({ kind: 'deadLetter', record: this.deadLetterOf(entry) });
  }

  /** Retention is over: the timer is gone, and its id is free again (at its home shard too). */
  private forget(entry: TimerEntry): void {
    this.release(entry);
    this.unforward(entry.spec.id, entry.placedFrom);
  }

  private release(entry: TimerEntry): void {
    const id = entry.spec.id;
    this.timers.delete(id);
    this.bytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
    this.wakeAt.delete(id);
  }

  private unforward(timerId: string, home: number | undefined): void {
    if (home === undefined) return;
    this.emit({
      kind: 'send',
      shard: home,
      message: { type: 'unforward', timerId, shard: this.identity.shard },
    });
  }

  /** Starts owed deliveries while slots are free. */
  private pump(): void {
    while (!this.paused && this.halt === null && this.inFlight.size < this.settings.maxInFlight) {
      const next = this.ready.values().next();
      if (next.done) return;
      const id = next.value;
      this.ready.delete(id);
      const entry = this.timers.get(id);
      if (!entry || entry.attemptAt === undefined) continue;
      if (entry.state !== 'Fired' && entry.state !== 'Escalated') continue;
      entry.attempts++;
      delete entry.attemptAt;
      this.inFlight.add(id);
      this.emit({
        kind: 'deliver',
        timerId: id,
        deliveryId: entry.deliveryId!,
        level: entry.level,
        attempt: entry.attempts,
        action: actionOf(entry.spec, entry.level),
        ...(entry.createdBy !== undefined && { createdBy: entry.createdBy }),
        dueAt: entry.dueAt,
        firedAt: entry.firedAt!,
      });
    }
  }

  // ── chains and dependencies ──────────────────────────────────────────────────────────────

  private route(spec: TimerSpec, firedAt: number, from: string, createdBy: TimerCreator | undefined): void {
    const target = shardOf(spec.id, this.identity.shardCount);
    if (target === this.identity.shard) this.createChained(spec, firedAt, from, firedAt, createdBy);
    else
      this.emit({
        kind: 'send',
        shard: target,
        message: { type: 'schedule', spec, baseTime: firedAt, from, ...(createdBy && { createdBy }) },
      });
  }

  private watch(timerId: string, watcher: Watcher, now: number): void {
    const target = shardOf(timerId, this.identity.shardCount);
    if (target === this.identity.shard) this.receiveWatch(timerId, watcher, now);
    else this.emit({ kind: 'send', shard: target, message: { type: 'watch', timerId, watcher } });
  }

  private receiveWatch(timerId: string, watcher: Watcher, now: number): void {
    const forwardedTo = this.forwards.get(timerId);
    if (forwardedTo !== undefined) {
      this.emit({ kind: 'send', shard: forwardedTo, message: { type: 'watch', timerId, watcher } });
      return;
    }
    const timer = this.timers.get(timerId) ?? this.digests.get(timerId);
    if (timer?.firedAt !== undefined) return this.notifyFired(watcher, timerId, timer.firedAt);
    if (timer?.state === 'Cancelled') return this.notifyCancelled(watcher, timerId, now);
    const list = this.watchers.get(timerId) ?? [];
    if (!list.some((w) => w.dependentId === watcher.dependentId && w.shard === watcher.shard)) {
      list.push(watcher);
    }
    this.watchers.set(timerId, list);
  }

  private notifyFired(watcher: Watcher, timerId: string, firedAt: number): void {
    if (watcher.shard === this.identity.shard) {
      this.onDependencyFired(watcher.dependentId, timerId, firedAt);
      return;
    }
    const message = { type: 'dependencyFired', dependentId: watcher.dependentId, timerId, firedAt } as const;
    this.emit({ kind: 'send', shard: watcher.shard, message });
  }

  private notifyCancelled(watcher: Watcher, timerId: string, now: number): void {
    if (watcher.shard === this.identity.shard) {
      this.onDependencyCancelled(watcher.dependentId, timerId, now);
      return;
    }
    const message = { type: 'dependencyCancelled', dependentId: watcher.dependentId, timerId } as const;
    this.emit({ kind: 'send', shard: watcher.shard, message });
  }

  /**
   * `readyAt` is the latest dependency's own firing time, not when the news arrived, so a slow
   * cross-shard message shows up as lateness rather than hiding in a later due time.
   */
  private onDependencyFired(dependentId: string, timerId: string, firedAt: number): void {
    const entry = this.timers.get(dependentId);
    if (entry?.state !== 'Scheduled') return;
    const index = entry.waitingOn.indexOf(timerId);
    if (index < 0) return;
    entry.waitingOn.splice(index, 1);
    entry.readyAt = Math.max(entry.readyAt ?? firedAt, firedAt);
    this.schedule(entry);
  }

  /** A timer waiting on one that will now never fire would wait forever; it is cancelled too. */
  private onDependencyCancelled(dependentId: string, timerId: string, now: number): void {
    const entry = this.timers.get(dependentId);
    if (entry?.state !== 'Scheduled' || !entry.waitingOn.includes(timerId)) return;
    this.cancelEntry(entry, now, `dependency ${timerId} was cancelled`);
  }

  // ── bookkeeping ───────────────────────────────────────────────────────────────────────────

  private hold(entry: TimerEntry): void {
    const size = canonicalJson(entry.spec).length + TIMER_ENTRY_OVERHEAD_BYTES;
    this.timers.set(entry.spec.id, entry);
    this.sizes.set(entry.spec.id, size);
    this.bytes += size;
  }

  private schedule(entry: TimerEntry): void {
    const id = entry.spec.id;
    const at = this.nextEventOf(entry);
    if (at === undefined) {
      this.wakeAt.delete(id);
    } else if (this.wakeAt.get(id) !== at) {
      this.wakeAt.set(id, at);
      this.heap.push({ at, id });
    }
  }

  /**
   * When the entry next needs the shard awake. Firing, retries and escalations are exact. Arming
   * and forgetting only change bookkeeping, so they are rounded up to a coarse grid: timers that
   * fall into the same slot share one wake-up instead of costing one durable timer each.
   */
  private nextEventOf(entry: TimerEntry): number | undefined {
    if (this.heldDue.has(entry.spec.id)) return undefined;
    switch (entry.state) {
      case 'Scheduled': {
        if (entry.waitingOn.length > 0) return undefined;
        const grid = this.settings.armingHorizonMs / ARMING_SLOTS;
        return Math.min(entry.dueAt, roundUp(entry.dueAt - this.settings.armingHorizonMs, grid));
      }
      case 'Armed':
        return entry.dueAt;
      case 'Fired':
      case 'Escalated':
        if (this.ready.has(entry.spec.id)) return undefined;
        return entry.attemptAt ?? entry.ackDeadline;
      case 'Settled':
      case 'Cancelled':
        return entry.closedAt === undefined
          ? undefined
          : roundUp(entry.closedAt + this.settings.retentionMs, FORGET_GRID_MS);
      case 'DeadLettered':
        return undefined;
    }
  }

  /** Journals the entry's new state, for the event log (docs/timers.md#timer-events). */
  private note(
    entry: TimerEntry,
    now: number,
    details: Omit<TimerEvent, 'shard' | 'seq' | 'timerId' | 'state' | 'at'>,
  ): void {
    this.journal.push({
      shard: this.identity.shard,
      seq: ++this.eventSeq,
      timerId: entry.spec.id,
      state: entry.state,
      at: iso(now),
      ...details,
    });
  }

  private emit(effect: Effect): void {
    if (this.paused && isDeferrable(effect)) this.deferred.push(effect);
    else this.outbox.push(effect);
  }

  /**
   * `caller` absent: a command from inside the deployment (Temporal access), not from the gateway;
   * present: the gateway's authenticated caller, who may change only timers `mayChangeTimer` allows.
   */
  private checkState(id: string, allowed: readonly TimerState[], caller?: TimerCreator): CommandCheck {
    const entry = this.timers.get(id) ?? this.digests.get(id);
    const forwardedTo = this.forwards.get(id);
    if (!entry && forwardedTo !== undefined) return { ok: false, reason: 'forwarded', shard: forwardedTo };
    if (!entry) return { ok: false, reason: 'notFound' };
    if (caller !== undefined && !mayChangeTimer(caller, entry.createdBy))
      return { ok: false, reason: 'forbidden' };
    return allowed.includes(entry.state)
      ? { ok: true }
      : { ok: false, reason: 'invalidState', state: entry.state };
  }

  private mustGet(id: string): TimerEntry {
    const entry = this.timers.get(id);
    // Handlers run only after their validator accepted the id, so this is a programming error.
    if (!entry) throw new Error(`timer ${id} is not held by shard ${this.identity.shard}`);
    return entry;
  }

  private mustRecord(id: string): TimerRecord {
    const record = this.record(id);
    if (!record) throw new Error(`timer ${id} is not held by shard ${this.identity.shard}`);
    return record;
  }

  private get ledgerName(): string {
    return this.identity.ledger ?? `timer-shard-${this.identity.shard}`;
  }

  private toRecord(entry: TimerEntry): TimerRecord {
    const spec = entry.spec;
    let rungs = 0;
    for (let rung = spec.escalation; rung; rung = rung.escalation) rungs++;
    return {
      id: spec.id,
      shard: this.identity.shard,
      state: entry.state,
      ...(entry.createdBy !== undefined && { createdBy: entry.createdBy }),
      action: redact(spec.action),
      dependsOn: spec.dependsOn ?? [],
      waitingOn: [...entry.waitingOn],
      ...(entry.chainedFrom !== undefined && { chainedFrom: entry.chainedFrom }),
      ...(spec.chain && { chainsTo: spec.chain.id }),
      escalationRungs: rungs,
      escalationLevel: entry.level,
      createdAt: iso(entry.createdAt),
      dueAt: iso(entry.dueAt),
      ...optionalIso('readyAt', entry.readyAt),
      ...optionalIso('armedAt', entry.armedAt),
      ...optionalIso('firedAt', entry.firedAt),
      ...(entry.latenessMs !== undefined && { latenessMs: entry.latenessMs }),
      ...(entry.heldBy !== undefined && { heldByHalt: entry.heldBy }),
      ...(entry.deliveryId !== undefined && { deliveryId: entry.deliveryId }),
      attempts: entry.attempts,
      ...optionalIso('deliveredAt', entry.deliveredAt),
      ...optionalIso('ackDeadline', entry.ackDeadline),
      ...optionalIso('escalatedAt', entry.escalatedAt),
      ...optionalIso('settledAt', entry.settledAt),
      ...(entry.settledBy !== undefined && { settledBy: entry.settledBy }),
      ...(entry.ackedBy !== undefined && { ackedBy: entry.ackedBy }),
      ...optionalIso('cancelledAt', entry.cancelledAt),
      ...(entry.cancelReason !== undefined && { cancelReason: entry.cancelReason }),
      ...optionalIso('deadLetteredAt', entry.deadLetteredAt),
      ...(entry.lastError !== undefined && { lastError: entry.lastError }),
      replays: entry.replays,
    };
  }

  private deadLetterOf(entry: TimerEntry): DeadLetter {
    return {
      deadLetterId: `${entry.spec.id}:${entry.deliveryId}:${entry.replays}`,
      timerId: entry.spec.id,
      shard: this.identity.shard,
      escalationLevel: entry.level,
      deliveryId: entry.deliveryId!,
      action: redact(actionOf(entry.spec, entry.level)),
      attempts: entry.attempts,
      lastError: entry.lastError ?? 'unknown',
      dueAt: iso(entry.dueAt),
      firedAt: iso(entry.firedAt!),
      deadLetteredAt: iso(entry.deadLetteredAt!),
    };
  }
}

/** The n-th escalation rung (1-based); undefined past the top of the ladder. */
function rungOf(spec: TimerSpec, level: number): Escalation | undefined {
  let rung = level >= 1 ? spec.escalation : undefined;
  for (let i = 1; i < level && rung; i++) rung = rung.escalation;
  return rung;
}

function actionOf(spec: TimerSpec, level: number): TimerAction {
  return level === 0 ? spec.action : rungOf(spec, level)!.action;
}

/**
 * Held messages and records become activities or signals, which a draining shard must not start.
 * Archiving is not held: a draining shard archives what closes, so its snapshot carries digests,
 * never full records waiting for the ledger.
 */
function isDeferrable(effect: Effect): boolean {
  return effect.kind === 'send' || effect.kind === 'deadLetter';
}

function compareKeys(atA: number, idA: string, atB: number, idB: string): number {
  return atA - atB || (idA < idB ? -1 : idA > idB ? 1 : 0);
}

function afterCursor(at: number, id: string, cursor: ListOptions['after']): boolean {
  return cursor === undefined || compareKeys(at, id, cursor.at, cursor.id) > 0;
}

/** The first multiple of `grid` at or after `ms` (`ms` itself when there is no grid). */
function roundUp(ms: number, grid: number): number {
  return grid > 0 ? Math.ceil(ms / grid) * grid : ms;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
