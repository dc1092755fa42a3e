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
  RedactedAction,
  TimerAction,
  TimerRecord,
  TimerSpec,
  TimerState,
} from '../../schemas/timer';
import { DEFAULT_RETRY } from '../../schemas/timer';
import type { TimerEvent } from '../../schemas/timer-events';
import { mayChangeTimer, type TimerCreator } from '../../schemas/timer-targets';
import { canonicalJson } from '../../schemas/canonical-json';
import type { ShardMessage, Watcher } from '../../schemas/timer-shard-messages';
import { shardOf } from '../../schemas/timer-shard-key';
import { WakeHeap } from './wake-heap';
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
} from '../../schemas/timer-shard';

/** Rough serialised size of an entry beyond its spec (times, counters, ids). */
const ENTRY_OVERHEAD_BYTES = 400;
/** A timer is armed within the last quarter of the horizon's start: 60 s horizon, 15 s slots. */
const ARMING_SLOTS = 4;
/** Retention ends on the minute. */
const FORGET_GRID_MS = 60_000;

export class TimerTable {
  private readonly timers = new Map<string, TimerEntry>();
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

  constructor(
    private readonly identity: ShardIdentity,
    private readonly settings: ShardSettings,
    private readonly newId: () => string,
    snapshot?: ShardSnapshot,
  ) {
    this.halt = snapshot?.halt ?? null;
    this.counters = snapshot
      ? { ...snapshot.counters }
      : { created: 0, fired: 0, delivered: 0, deadLettered: 0, settled: 0, cancelled: 0 };
    for (const entry of snapshot?.timers ?? []) {
      this.hold(entry);
      this.schedule(entry);
    }
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
  checkCreate(specs: readonly CreateTimerRequest[]): CreateCheck {
    const seen = new Map<string, string>();
    let added = 0;
    for (const spec of specs) {
      if (shardOf(spec.id, this.identity.shardCount) !== this.identity.shard) {
        return { ok: false, reason: 'wrongShard', timerId: spec.id };
      }
      const encoded = canonicalJson(spec);
      const held = this.timers.get(spec.id);
      const known = held ? canonicalJson(held.spec) : seen.get(spec.id);
      if (known !== undefined) {
        if (known !== encoded) return { ok: false, reason: 'conflict', timerId: spec.id };
        continue;
      }
      seen.set(spec.id, encoded);
      added += encoded.length + ENTRY_OVERHEAD_BYTES;
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
  create(specs: readonly CreateTimerRequest[], now: number, createdBy?: TimerCreator): CreateResult[] {
    const created = specs.map((spec) => {
      const held = this.timers.get(spec.id);
      return held
        ? { created: false, entry: held }
        : { created: true, entry: this.add(spec, now, now, undefined, createdBy) };
    });
    this.advance(now);
    return created.map(({ created, entry }) => ({ created, timer: this.toRecord(entry) }));
  }

  checkCancel(id: string, caller?: TimerCreator): CommandCheck {
    return this.checkState(id, ['Scheduled', 'Armed', 'DeadLettered', 'Cancelled'], caller);
  }

  /** Cancels a timer that has not fired, or discards a dead letter. Cancelling twice is a no-op. */
  cancel(id: string, now: number, reason: string): TimerRecord {
    const entry = this.mustGet(id);
    if (entry.state !== 'Cancelled') this.cancelEntry(entry, now, reason);
    return this.toRecord(entry);
  }

  checkAck(id: string, caller?: TimerCreator): CommandCheck {
    return this.checkState(id, ['Fired', 'Escalated', 'Settled'], caller);
  }

  /** Settles a fired or escalated timer; acknowledging a settled timer changes nothing. */
  ack(id: string, now: number, by: string | undefined): TimerRecord {
    const entry = this.mustGet(id);
    if (entry.state !== 'Settled') this.settle(entry, now, 'ack', by);
    return this.toRecord(entry);
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
        this.createChained(message.spec, message.baseTime, message.from, now, message.createdBy);
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
    return entry ? this.toRecord(entry) : null;
  }

  /** Timers by due time then id, after the cursor. */
  list(options: ListOptions): TimerRecord[] {
    const picked = [...this.timers.values()].filter(
      (entry) =>
        (options.state === undefined || entry.state === options.state) &&
        afterCursor(entry.dueAt, entry.spec.id, options.after),
    );
    picked.sort((a, b) => compareKeys(a.dueAt, a.spec.id, b.dueAt, b.spec.id));
    return picked.slice(0, options.limit).map((entry) => this.toRecord(entry));
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
    return {
      shard: this.identity.shard,
      timers: this.timers.size,
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
  ): void {
    const check = this.checkCreate([spec]);
    if (check.ok) {
      if (!this.timers.has(spec.id)) this.add(spec, now, baseTime, from, createdBy);
      return;
    }
    // A chain link cannot be refused back to anyone: say so loudly instead.
    this.emit({
      kind: 'warn',
      timerId: spec.id,
      message: `chained timer from ${from} not created: ${check.reason}`,
    });
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
    this.schedule(entry);
  }

  private cancelEntry(entry: TimerEntry, now: number, reason: string): void {
    const id = entry.spec.id;
    const hadFired = entry.firedAt !== undefined;
    entry.state = 'Cancelled';
    entry.cancelledAt = now;
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
    this.schedule(entry);
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

  private forget(entry: TimerEntry): void {
    const id = entry.spec.id;
    this.timers.delete(id);
    this.bytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
    this.wakeAt.delete(id);
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
    const timer = this.timers.get(timerId);
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
    const size = canonicalJson(entry.spec).length + ENTRY_OVERHEAD_BYTES;
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
    const entry = this.timers.get(id);
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

/** Header values often carry credentials; records and dead letters keep only the names. */
export function redact(action: TimerAction): RedactedAction {
  if (action.type !== 'webhook') return action;
  const { headers, ...rest } = action;
  return headers ? { ...rest, headerNames: Object.keys(headers) } : rest;
}

/** Held messages and records become activities or signals, which a draining shard must not start. */
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

function optionalIso<K extends string>(key: K, ms: number | undefined): { [P in K]?: string } {
  return (ms === undefined ? {} : { [key]: iso(ms) }) as { [P in K]?: string };
}
