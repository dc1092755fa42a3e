/**
 * The timer shard's pure core, without Temporal: what each command and each moment in time does
 * to a timer and which effects it asks for, and, property-based, that across shards exchanging
 * reordered and duplicated messages every timer fires exactly once and never early.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { CreateTimerRequest, TimerAction } from '../../schemas/timer';
import type { ShardMessage } from '../../schemas/timer-shard-messages';
import { shardOf } from '../../schemas/timer-shard-key';
import { TimerTable } from '../../workflows/timers/table';
import {
  type AttemptOutcome,
  DEFAULT_SHARD_SETTINGS,
  type DeliveryEffect,
  type Effect,
  type ShardSettings,
  type TimerHalt,
} from '../../schemas/timer-shard';
import { seededRandom } from '../support/random';

const hook: TimerAction = { type: 'webhook', url: 'http://127.0.0.1:9/hook' };
const settings: ShardSettings = { ...DEFAULT_SHARD_SETTINGS, armingHorizonMs: 1_000, retentionMs: 60_000 };

function table(overrides: Partial<ShardSettings> = {}): TimerTable {
  let n = 0;
  return new TimerTable({ shard: 0, shardCount: 1 }, { ...settings, ...overrides }, () => `delivery-${++n}`);
}

function timer(id: string, delayMs: number, extra: Partial<CreateTimerRequest> = {}): CreateTimerRequest {
  return { id, delayMs, action: hook, ...extra };
}

const deliveries = (effects: Effect[]): DeliveryEffect[] =>
  effects.filter((e): e is DeliveryEffect => e.kind === 'deliver');

describe('one timer', () => {
  test('is Scheduled, Armed inside the horizon, Fired at its due time with one delivery, Settled when delivered', () => {
    const t = table();
    t.create([timer('a', 10_000)], 0);
    expect(t.record('a')?.state).toBe('Scheduled');
    expect(t.nextWakeAt()).toBe(9_000);

    t.advance(9_000);
    expect(t.record('a')).toMatchObject({ state: 'Armed', armedAt: new Date(9_000).toISOString() });
    expect(t.nextWakeAt()).toBe(10_000);

    t.advance(10_040);
    const [delivery, ...more] = deliveries(t.takeEffects());
    expect(more).toEqual([]);
    expect(delivery).toMatchObject({ timerId: 'a', level: 0, attempt: 1, dueAt: 10_000, firedAt: 10_040 });
    expect(t.record('a')).toMatchObject({ state: 'Fired', latenessMs: 40, deliveryId: delivery!.deliveryId });

    t.onAttemptResult('a', { ok: true }, 10_050);
    expect(t.record('a')).toMatchObject({ state: 'Settled', settledBy: 'delivery' });
    t.advance(1_000_000);
    expect(deliveries(t.takeEffects())).toEqual([]);
    // Forgotten once retention has passed.
    expect(t.record('a')).toBeNull();
  });

  test('a timer already due fires within the create, so its first answer is already Fired', () => {
    const t = table();
    const [result] = t.create([timer('now', 0)], 5_000);
    expect(result?.timer.state).toBe('Fired');
    expect(deliveries(t.takeEffects())).toHaveLength(1);
  });

  test('a failed attempt is retried with exponential backoff, then dead-lettered with a record', () => {
    const t = table();
    t.create(
      [timer('r', 0, { retry: { maxAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 3 } })],
      0,
    );
    const fail: AttemptOutcome = { ok: false, retryable: true, error: 'HTTP 503' };
    const attempts: number[] = [];
    let now = 0;
    for (let i = 0; i < 3; i++) {
      const [d] = deliveries(t.takeEffects());
      attempts.push(d!.attempt);
      t.onAttemptResult('r', fail, now);
      now = t.nextWakeAt() ?? now;
      t.advance(now);
    }
    expect(attempts).toEqual([1, 2, 3]);
    // 1 s after the first failure, then 3 s after the second.
    expect(now).toBe(4_000);
    const record = t.record('r');
    expect(record).toMatchObject({ state: 'DeadLettered', attempts: 3, lastError: 'HTTP 503' });
    const letters = t.takeEffects().flatMap((e) => (e.kind === 'deadLetter' ? [e.record] : []));
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ timerId: 'r', attempts: 3, lastError: 'HTTP 503' });
    expect(t.deadLetters({ limit: 10 }).map((d) => d.timerId)).toEqual(['r']);
  });

  test('a replay delivers the dead letter again under the same delivery id', () => {
    const t = table();
    t.create([timer('r', 0)], 0);
    const [first] = deliveries(t.takeEffects());
    t.onAttemptResult('r', { ok: false, retryable: false, error: 'HTTP 410' }, 1);
    expect(t.record('r')?.state).toBe('DeadLettered');
    t.replay('r', 100);
    t.advance(100);
    const [again] = deliveries(t.takeEffects());
    expect(again).toMatchObject({ deliveryId: first!.deliveryId, attempt: 1 });
    t.onAttemptResult('r', { ok: true }, 101);
    expect(t.record('r')).toMatchObject({ state: 'Settled', replays: 1 });
  });

  test('an escalation ladder climbs a rung per missed deadline, each rung a new delivery', () => {
    const t = table();
    const rung = (n: number): TimerAction => ({ ...hook, payload: { rung: n } });
    t.create(
      [
        timer('e', 0, {
          escalation: { afterMs: 100, action: rung(1), escalation: { afterMs: 200, action: rung(2) } },
        }),
      ],
      0,
    );
    const seen: DeliveryEffect[] = [];
    let now = 0;
    for (let level = 0; level <= 2; level++) {
      const [d] = deliveries(t.takeEffects());
      seen.push(d!);
      t.onAttemptResult('e', { ok: true }, now);
      now = t.nextWakeAt() ?? now;
      t.advance(now);
    }
    expect(seen.map((d) => d.level)).toEqual([0, 1, 2]);
    expect(seen.map((d) => d.action)).toEqual([hook, rung(1), rung(2)]);
    expect(new Set(seen.map((d) => d.deliveryId)).size).toBe(3);
    expect(now).toBe(300);
    expect(t.record('e')).toMatchObject({ state: 'Escalated', escalationLevel: 2 });
    expect(t.record('e')?.ackDeadline).toBeUndefined();
    t.ack('e', 400, 'pager');
    expect(t.record('e')).toMatchObject({ state: 'Settled', settledBy: 'ack', ackedBy: 'pager' });
  });

  test('no more than maxInFlight deliveries run at once; the rest start as slots free', () => {
    const t = table({ maxInFlight: 2 });
    t.create(
      ['a', 'b', 'c', 'd', 'e'].map((id) => timer(id, 0)),
      0,
    );
    const firstWave = deliveries(t.takeEffects());
    expect(firstWave.map((d) => d.timerId)).toEqual(['a', 'b']);
    t.onAttemptResult('a', { ok: true }, 1);
    expect(deliveries(t.takeEffects()).map((d) => d.timerId)).toEqual(['c']);
    expect(t.deliveriesInFlight).toBe(2);
  });
});

describe('create', () => {
  test('the same id and spec is accepted again as the same timer; another spec under the id is a conflict', () => {
    const t = table();
    const [first] = t.create([timer('x', 1_000)], 0);
    expect(t.checkCreate([timer('x', 1_000)])).toEqual({ ok: true });
    const [again] = t.create([timer('x', 1_000)], 500);
    expect(again).toEqual({ created: false, timer: first!.timer });
    expect(t.checkCreate([timer('x', 2_000)])).toEqual({ ok: false, reason: 'conflict', timerId: 'x' });
    expect(t.checkCreate([timer('y', 1), timer('y', 2)])).toMatchObject({ ok: false, reason: 'conflict' });
  });

  test('a shard refuses a timer that hashes elsewhere, and creates beyond its snapshot budget', () => {
    const shards = 4;
    const elsewhere = ['p', 'q', 'r', 's', 't', 'u'].find((id) => shardOf(id, shards) !== 0)!;
    const t = new TimerTable({ shard: 0, shardCount: shards }, settings, () => 'id');
    expect(t.checkCreate([timer(elsewhere, 1)])).toMatchObject({ ok: false, reason: 'wrongShard' });
    const small = table({ snapshotBudgetBytes: 2_000 });
    const many = Array.from({ length: 10 }, (_, i) => timer(`id-${i}`, 1));
    expect(small.checkCreate(many)).toMatchObject({ ok: false, reason: 'full' });
  });
});

describe('compact shards', () => {
  const archiving = (overrides: Partial<ShardSettings> = {}) => table({ archiveClosed: true, ...overrides });
  const archives = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'archive' ? [e.timer] : []));
  const settleNow = (t: TimerTable, id: string, at: number): void => {
    t.advance(at);
    t.takeEffects();
    t.onAttemptResult(id, { ok: true }, at + 5);
  };

  test('a settled timer leaves a digest with its outcome, and its full record goes to the ledger once', () => {
    const t = archiving();
    t.create([timer('a', 1_000, { action: { ...hook, payload: { big: 'x'.repeat(2_000) } } })], 0);
    const whole = t.stats().snapshotBytes;
    settleNow(t, 'a', 1_010);
    const [archived, ...more] = archives(t.takeEffects());
    expect(more).toEqual([]);
    expect(archived).toMatchObject({
      closedAt: 1_015,
      record: { id: 'a', state: 'Settled', settledBy: 'delivery', action: { url: hook.url }, attempts: 1 },
    });
    expect(archived!.specHash).toMatch(/^sha256-[0-9a-f]{64}$/);
    const digest = t.record('a')!;
    expect(digest).toMatchObject({
      id: 'a',
      state: 'Settled',
      archivedIn: 'timer-shard-0',
      specHash: archived!.specHash,
      settledBy: 'delivery',
      firedAt: new Date(1_010).toISOString(),
      latenessMs: 10,
      settledAt: new Date(1_015).toISOString(),
      attempts: 1,
    });
    expect(digest.action).toBeUndefined();
    // The payload is gone from the shard: the digest is a small fraction of the timer it was.
    expect(t.stats()).toMatchObject({ timers: 1, digests: 1, byState: { Settled: 1 } });
    expect(t.stats().snapshotBytes).toBeLessThan(whole / 5);
    expect(t.snapshot().timers).toEqual([]);
    expect(t.snapshot().digests).toHaveLength(1);
  });

  test('a digest keeps create idempotent, answers ack and cancel as before, and is forgotten after retention', () => {
    const t = archiving();
    const [first] = t.create([timer('d', 100)], 0);
    settleNow(t, 'd', 100);
    expect(first?.created).toBe(true);
    expect(t.checkCreate([timer('d', 100)])).toEqual({ ok: true });
    expect(t.create([timer('d', 100)], 200)).toEqual([{ created: false, timer: t.record('d') }]);
    expect(t.checkCreate([timer('d', 999)])).toEqual({ ok: false, reason: 'conflict', timerId: 'd' });
    expect(t.checkAck('d')).toEqual({ ok: true });
    expect(t.ack('d', 300, 'someone')).toEqual(t.record('d'));
    expect(t.checkCancel('d')).toEqual({ ok: false, reason: 'invalidState', state: 'Settled' });
    expect(t.checkReplay('d')).toEqual({ ok: false, reason: 'invalidState', state: 'Settled' });

    // Its creator's authority stays with the digest: an agent may not touch it, an owner may.
    t.create([timer('mine', 100)], 0, { name: 'alice', role: 'operator' });
    settleNow(t, 'mine', 100);
    expect(t.record('mine')).toMatchObject({ archivedIn: 'timer-shard-0', createdBy: { name: 'alice' } });
    expect(t.checkAck('mine', { name: 'bob', role: 'agent' })).toEqual({ ok: false, reason: 'forbidden' });
    expect(t.checkAck('mine', { name: 'carol', role: 'owner' })).toEqual({ ok: true });

    t.takeEffects();
    t.create([timer('c', 50_000)], 0);
    t.cancel('c', 400, 'no longer needed');
    expect(archives(t.takeEffects()).map((a) => a.record)).toMatchObject([
      { id: 'c', state: 'Cancelled', cancelReason: 'no longer needed' },
    ]);
    expect(t.cancel('c', 500, 'again')).toMatchObject({
      state: 'Cancelled',
      cancelReason: 'no longer needed',
    });
    expect(archives(t.takeEffects())).toEqual([]);
    expect(t.list({ limit: 10 }).map((r) => [r.id, r.state])).toEqual([
      ['d', 'Settled'],
      ['mine', 'Settled'],
      ['c', 'Cancelled'],
    ]);

    // Packed into the snapshot and unpacked by the next run, every digest reads the same.
    const next = new TimerTable(
      { shard: 0, shardCount: 1 },
      { ...settings, archiveClosed: true },
      () => 'e',
      structuredClone(t.snapshot()),
    );
    expect(next.list({ limit: 10 })).toEqual(t.list({ limit: 10 }));
    expect(next.stats().snapshotBytes).toBe(t.stats().snapshotBytes);

    t.advance(60_000 + 60_000);
    expect(t.record('d')).toBeNull();
    expect(t.record('c')).toBeNull();
    expect(t.record('mine')).toBeNull();
    expect(t.stats().snapshotBytes).toBe(0);
  });

  test('a dependency that closed into a digest still releases, or cancels, a dependent created later', () => {
    const t = archiving();
    t.create([timer('up', 100), timer('gone', 10_000)], 0);
    settleNow(t, 'up', 100);
    t.cancel('gone', 200, 'dropped');
    t.create([timer('down', 0, { dependsOn: ['up'] }), timer('orphan', 0, { dependsOn: ['gone'] })], 300);
    expect(t.record('down')).toMatchObject({ state: 'Fired', readyAt: new Date(100).toISOString() });
    expect(t.record('orphan')).toMatchObject({
      state: 'Cancelled',
      archivedIn: 'timer-shard-0',
      cancelReason: 'dependency gone was cancelled',
    });
  });

  test('digests and the capacity survive continue-as-new; a shard full of closed timers takes new ones', () => {
    const budget = 32_000;
    const t = archiving({ snapshotBudgetBytes: budget });
    const batch = (from: number) => Array.from({ length: 40 }, (_, i) => timer(`n-${from + i}`, 10));
    expect(t.checkCreate(batch(0))).toEqual({ ok: true });
    t.create(batch(0), 0);
    expect(t.checkCreate(batch(40))).toMatchObject({ ok: false, reason: 'full' });
    t.advance(10);
    for (const d of deliveries(t.takeEffects())) t.onAttemptResult(d.timerId, { ok: true }, 20);
    // Forty digests take the room of a few timers: the next forty fit.
    expect(t.checkCreate(batch(40))).toEqual({ ok: true });

    t.setCapacity(20_000);
    const next = new TimerTable(
      { shard: 0, shardCount: 1 },
      { ...settings, archiveClosed: true, snapshotBudgetBytes: t.capacityBytes },
      () => 'e',
      structuredClone(t.snapshot()),
    );
    expect(next.stats()).toEqual(t.stats());
    expect(next.record('n-7')).toEqual(t.record('n-7'));
    expect(next.checkCreate([timer('n-7', 10)])).toEqual({ ok: true });
    expect(next.checkCreate([timer('n-7', 11)])).toMatchObject({ ok: false, reason: 'conflict' });
  });
});

describe('rollover', () => {
  const shards = 3;
  const homedAt = (shard: number, n: number) =>
    Array.from({ length: 200 }, (_, i) => `roll-${i}`)
      .filter((id) => shardOf(id, shards) === shard)
      .slice(0, n);
  const shard = (n: number, overrides: Partial<ShardSettings> = {}) =>
    new TimerTable({ shard: n, shardCount: shards }, { ...settings, ...overrides }, () => `d-${n}`);

  test('a full shard forwards an id, and creates, commands and watches for it follow the forward', () => {
    const [id, other] = homedAt(0, 2) as [string, string];
    const home = shard(0);
    const away = shard(1);
    expect(away.checkCreate([timer(id, 5_000)])).toMatchObject({ ok: false, reason: 'wrongShard' });
    expect(away.checkCreate([timer(id, 5_000)], 2)).toMatchObject({ ok: false, reason: 'wrongShard' });
    expect(home.checkForward(id, 0)).toMatchObject({ ok: false, reason: 'wrongShard' });
    expect(home.checkForward(id, 1)).toEqual({ ok: true });
    home.forward(id, 1);
    expect(away.checkCreate([timer(id, 5_000)], 0)).toEqual({ ok: true });
    const [placed] = away.create([timer(id, 5_000)], 0, undefined, 0);
    expect(placed?.timer).toMatchObject({ id, shard: 1, state: 'Scheduled' });

    expect(home.forwardOf(id)).toBe(1);
    expect(home.record(id)).toBeNull();
    expect(home.checkCreate([timer(id, 5_000)])).toEqual({
      ok: false,
      reason: 'forwarded',
      timerId: id,
      shard: 1,
    });
    expect(home.checkCancel(id)).toEqual({ ok: false, reason: 'forwarded', shard: 1 });
    expect(away.checkCancel(id)).toEqual({ ok: true });

    // A dependent created at home asks its dependency's home shard, which relays to where it is.
    home.create([timer(other, 0, { dependsOn: [id] })], 0);
    expect(home.takeEffects()).toEqual([
      {
        kind: 'send',
        shard: 1,
        message: { type: 'watch', timerId: id, watcher: { dependentId: other, shard: 0 } },
      },
    ]);
    // An id held at home is never forwarded.
    expect(home.checkForward(other, 2)).toMatchObject({ ok: false, reason: 'conflict' });
    expect(structuredClone(home.snapshot()).forwards).toEqual([[id, 1]]);
  });

  test('the placed timer, forgotten after retention, frees its id at home', () => {
    const [id] = homedAt(2, 1) as [string];
    const home = shard(2);
    const away = shard(0, { archiveClosed: true });
    home.forward(id, 0);
    away.create([timer(id, 10)], 0, undefined, 2);
    away.advance(10);
    away.takeEffects();
    away.onAttemptResult(id, { ok: true }, 20);
    expect(away.record(id)).toMatchObject({ state: 'Settled', archivedIn: 'timer-shard-0' });
    away.takeEffects();
    away.advance(60_000 + 60_000);
    const unforward = away.takeEffects();
    expect(unforward).toEqual([
      { kind: 'send', shard: 2, message: { type: 'unforward', timerId: id, shard: 0 } },
    ]);
    // Only the forward to that shard is dropped: a newer one elsewhere stays.
    home.receive({ type: 'unforward', timerId: id, shard: 1 }, 0);
    expect(home.forwardOf(id)).toBe(0);
    home.receive((unforward[0] as { message: ShardMessage }).message, 0);
    expect(home.forwardOf(id)).toBeNull();
    expect(home.checkCreate([timer(id, 5)])).toEqual({ ok: true });
    expect(home.stats().snapshotBytes).toBe(0);
  });
});

describe('chain links at a full home', () => {
  const shards = 3;
  const rolling = { ...settings, snapshotBudgetBytes: 1_500, rollChainLinks: true };
  const ids = Array.from({ length: 300 }, (_, i) => `link-${i}`);
  const homedAt = (shard: number) => ids.filter((id) => shardOf(id, shards) === shard);

  /** Three shards, those named in `full` filled with timers due in an hour until they refuse one. */
  function deployment(full: number[], overrides: Partial<ShardSettings> = {}): TimerTable[] {
    const tables = Array.from(
      { length: shards },
      (_, shard) =>
        new TimerTable({ shard, shardCount: shards }, { ...rolling, ...overrides }, () => `d-${shard}`),
    );
    for (const shard of full) {
      for (const id of homedAt(shard).slice(10)) {
        if (!tables[shard]!.checkCreate([timer(id, 3_600_000)]).ok) break;
        tables[shard]!.create([timer(id, 3_600_000)], 0);
      }
      expect(tables[shard]!.checkCreate([timer(homedAt(shard)[0]!, 60_000)])).toMatchObject({
        reason: 'full',
      });
      tables[shard]!.takeEffects();
    }
    return tables;
  }

  /** A link homed at shard 0, as the shard of the timer that fired sends it. */
  const link = (id: string): ShardMessage => ({
    type: 'schedule',
    spec: timer(id, 60_000),
    baseTime: 1_000,
    from: 'chain-head',
  });

  /** Delivers every message the shards send, in order, until none is left; returns the warnings. */
  function settle(tables: TimerTable[]): string[] {
    const warnings: string[] = [];
    for (let moved = true; moved;) {
      moved = false;
      for (const table of tables) {
        for (const effect of table.takeEffects()) {
          if (effect.kind === 'warn') warnings.push(effect.message);
          if (effect.kind !== 'send') continue;
          tables[effect.shard]!.receive(effect.message, 2_000);
          moved = true;
        }
      }
    }
    return warnings;
  }

  test('rolls over to the next shard with room, which holds it as placed from its home', () => {
    const tables = deployment([0, 1]);
    const [home, full, roomy] = tables as [TimerTable, TimerTable, TimerTable];
    const id = homedAt(0)[0]!;
    home.receive(link(id), 1_000);
    const [toNext] = home.takeEffects();
    expect(toNext).toEqual({
      kind: 'send',
      shard: 1,
      message: { ...link(id), placedFrom: 0 },
    });
    expect(home.forwardOf(id)).toBe(1);
    full.receive((toNext as { message: ShardMessage }).message, 1_000);
    const [refused] = full.takeEffects();
    expect(refused).toEqual({
      kind: 'send',
      shard: 0,
      message: {
        type: 'placementFull',
        spec: timer(id, 60_000),
        baseTime: 1_000,
        from: 'chain-head',
        shard: 1,
      },
    });
    const placementFull = (refused as { message: ShardMessage }).message;
    home.receive(placementFull, 1_500);
    expect(home.forwardOf(id)).toBe(2);
    // A repeat of the refusal finds the forward moved on and changes nothing.
    home.receive(placementFull, 1_500);
    expect(home.forwardOf(id)).toBe(2);
    expect(settle(tables)).toEqual([]);

    expect(roomy.record(id)).toMatchObject({ id, shard: 2, state: 'Scheduled', chainedFrom: 'chain-head' });
    // Its delay counts from the firing of the link before it, wherever it landed.
    expect(Date.parse(roomy.record(id)!.dueAt)).toBe(61_000);
    expect(full.record(id)).toBeNull();
    expect(home.checkCreate([timer(id, 60_000)])).toMatchObject({ reason: 'forwarded', shard: 2 });
  });

  test('when every shard is full the link is not created, said once, and its home keeps no forward', () => {
    const tables = deployment([0, 1, 2]);
    const id = homedAt(0)[0]!;
    const bytes = tables[0]!.stats().snapshotBytes;
    tables[0]!.receive(link(id), 1_000);
    expect(settle(tables)).toEqual([
      'chained timer from chain-head not created: every one of the 3 timer shards is full',
    ]);
    expect(tables[0]!.forwardOf(id)).toBeNull();
    expect(tables[0]!.stats().snapshotBytes).toBe(bytes);
    for (const table of tables) expect(table.record(id)).toBeNull();
  });

  test('a run recorded before the rollover logs the link as not created, as it did', () => {
    const tables = deployment([0], { rollChainLinks: false });
    const id = homedAt(0)[0]!;
    tables[0]!.receive(link(id), 1_000);
    expect(settle(tables)).toEqual(['chained timer from chain-head not created: full']);
    expect(tables[0]!.forwardOf(id)).toBeNull();
  });
});

describe('continue-as-new', () => {
  test('a paused table starts nothing, and a table restored from its snapshot delivers what was owed', () => {
    const shards = 2;
    const onShard0 = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'].filter((id) => shardOf(id, shards) === 0);
    const remote = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'].find((id) => shardOf(id, shards) === 1)!;
    const t = new TimerTable({ shard: 0, shardCount: shards }, settings, () => 'd');
    t.create([timer(onShard0[0]!, 100, { chain: timer(remote, 5) }), timer(onShard0[1]!, 5_000)], 0);
    t.pause();
    t.advance(200);
    // Fired, but neither its delivery nor its chain message may start while draining.
    expect(t.takeEffects().filter((e) => e.kind !== 'fired')).toEqual([]);
    const snapshot = structuredClone(t.snapshot());

    const next = new TimerTable({ shard: 0, shardCount: shards }, settings, () => 'e', snapshot);
    const carried = next.takeEffects();
    expect(carried).toHaveLength(1);
    expect(carried[0]).toMatchObject({
      kind: 'send',
      shard: 1,
      message: { type: 'schedule', from: onShard0[0] },
    });
    next.advance(200);
    expect(deliveries(next.takeEffects()).map((d) => d.timerId)).toEqual([onShard0[0]]);
    next.advance(5_000);
    expect(deliveries(next.takeEffects()).map((d) => d.timerId)).toEqual([onShard0[1]]);
  });
});

describe('owner halt', () => {
  const halt = (commandId: string, since: number): TimerHalt => ({
    commandId,
    actor: 'alice',
    reason: 'incident',
    issuedAtMs: since,
    signers: ['ed25519:owner'],
    since,
  });

  test('nothing fires while halted; on the lift what fell due fires at once, flagged with the halt and its wait', () => {
    const t = table();
    t.create([timer('due-in-halt', 1_000), timer('due-after', 9_000)], 0);
    t.setHalt(halt('h1', 500));
    t.advance(1_000);
    t.advance(5_000);
    expect(t.takeEffects().filter((e) => e.kind === 'deliver' || e.kind === 'fired')).toEqual([]);
    expect(t.record('due-in-halt')).toMatchObject({ state: 'Armed', heldByHalt: 'h1' });
    expect(t.stats().halt).toMatchObject({ commandId: 'h1', held: 1 });
    // Held timers want no wake-up: the shard sleeps until the next timer that is not held.
    expect(t.nextWakeAt()).toBe(8_000);

    expect(t.liftHalt(6_000)).toBe(1);
    const effects = t.takeEffects();
    expect(deliveries(effects).map((d) => d.timerId)).toEqual(['due-in-halt']);
    expect(effects.find((e) => e.kind === 'fired')).toMatchObject({ heldByHalt: 'h1', latenessMs: 5_000 });
    expect(t.record('due-in-halt')).toMatchObject({ state: 'Fired', latenessMs: 5_000, heldByHalt: 'h1' });
    expect(t.takeEvents().find((e) => e.state === 'Fired')).toMatchObject({ heldByHalt: 'h1' });
    expect(t.stats().halt).toBeNull();

    // A timer due after the lift fires on time and unflagged.
    t.advance(9_000);
    expect(deliveries(t.takeEffects()).map((d) => d.timerId)).toEqual(['due-after']);
    expect(t.record('due-after')?.heldByHalt).toBeUndefined();
  });

  test('a halt holds retries and escalations too, and a cancelled held timer stays cancelled', () => {
    const t = table();
    const retry = { maxAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 1 };
    t.create(
      [
        timer('retried', 0, { retry }),
        timer('escalating', 0, { escalation: { afterMs: 100, action: hook } }),
        timer('cancelled', 2_000),
      ],
      0,
    );
    const first = deliveries(t.takeEffects());
    expect(first.map((d) => d.timerId).sort()).toEqual(['escalating', 'retried']);
    t.onAttemptResult('retried', { ok: false, retryable: true, error: 'HTTP 503' }, 0);
    t.onAttemptResult('escalating', { ok: true }, 0);
    t.setHalt(halt('h2', 10));
    t.advance(3_000);
    t.cancel('cancelled', 3_000, 'no longer needed');
    expect(deliveries(t.takeEffects())).toEqual([]);
    expect(t.record('escalating')).toMatchObject({ state: 'Fired', escalationLevel: 0, heldByHalt: 'h2' });

    // Released: the held escalation (a retry is a delivery, owed already, and simply starts now).
    expect(t.liftHalt(4_000)).toBe(1);
    const after = deliveries(t.takeEffects());
    expect(after.map((d) => [d.timerId, d.level, d.attempt]).sort()).toEqual([
      ['escalating', 1, 1],
      ['retried', 0, 2],
    ]);
    expect(t.record('cancelled')?.state).toBe('Cancelled');
  });

  test('the halt outlives continue-as-new: a table restored under it still holds, and its lift releases', () => {
    const t = table();
    t.create([timer('x', 1_000)], 0);
    t.setHalt(halt('h3', 100));
    t.advance(2_000);
    const next = new TimerTable(
      { shard: 0, shardCount: 1 },
      settings,
      () => 'd',
      structuredClone(t.snapshot()),
    );
    next.advance(3_000);
    expect(deliveries(next.takeEffects())).toEqual([]);
    expect(next.haltInForce?.commandId).toBe('h3');
    expect(next.liftHalt(4_000)).toBe(1);
    expect(deliveries(next.takeEffects()).map((d) => d.timerId)).toEqual(['x']);
    // Without a halt the snapshot carries none, so runs recorded before halts continue unchanged.
    expect('halt' in next.snapshot()).toBe(false);
  });
});

describe('across shards', () => {
  interface Plan {
    shardCount: number;
    timers: { due: number; deps: number[] }[];
    order: number[];
    seed: number;
    archiveClosed: boolean;
  }

  const plans = fc
    .record({
      shardCount: fc.integer({ min: 1, max: 4 }),
      timers: fc.array(
        fc.record({ due: fc.integer({ min: 0, max: 5_000 }), deps: fc.array(fc.nat(), { maxLength: 3 }) }),
        { minLength: 1, maxLength: 12 },
      ),
      seed: fc.integer(),
      archiveClosed: fc.boolean(),
    })
    .chain((p) =>
      fc
        .shuffledSubarray(
          p.timers.map((_, i) => i),
          { minLength: p.timers.length, maxLength: p.timers.length },
        )
        .map((order): Plan => ({ ...p, order })),
    );

  test('every timer fires exactly once, never before it is due nor before its dependencies, whatever the message order', () => {
    fc.assert(
      fc.property(plans, ({ shardCount, timers, order, seed, archiveClosed }) => {
        const random = seededRandom(seed);
        const ids = timers.map((_, i) => `t${i}`);
        // Dependencies only on earlier timers keep the graph acyclic.
        const deps = timers.map((t, i) => [...new Set(t.deps.filter((d) => d < i))].map((d) => ids[d]!));
        let n = 0;
        // Nothing is forgotten during the run, so every record can be checked at the end.
        const keep = { ...settings, retentionMs: 1e12, archiveClosed };
        const tables = Array.from(
          { length: shardCount },
          (_, shard) => new TimerTable({ shard, shardCount }, keep, () => `d${n++}`),
        );
        const unsettled = () =>
          ids.some((id) => tables[shardOf(id, shardCount)]!.record(id)?.state !== 'Settled');
        const firings = new Map<string, number>();
        const archived = new Map<string, number>();
        const mail: { shard: number; message: ShardMessage }[] = [];
        const owed: { shard: number; id: string; attempt: number }[] = [];
        let now = 0;
        const drain = (shard: number) => {
          for (const effect of tables[shard]!.takeEffects()) {
            if (effect.kind === 'fired') firings.set(effect.timerId, (firings.get(effect.timerId) ?? 0) + 1);
            if (effect.kind === 'archive')
              archived.set(effect.timer.record.id, (archived.get(effect.timer.record.id) ?? 0) + 1);
            if (effect.kind === 'send') {
              mail.push({ shard: effect.shard, message: effect.message });
              // Duplicated now and then: every message must be idempotent.
              if (random() < 0.3) mail.push({ shard: effect.shard, message: effect.message });
            }
            if (effect.kind === 'deliver') owed.push({ shard, id: effect.timerId, attempt: effect.attempt });
          }
        };
        for (const i of order) {
          const spec = timer(ids[i]!, timers[i]!.due, deps[i]!.length ? { dependsOn: deps[i] } : {});
          const shard = shardOf(spec.id, shardCount);
          expect(tables[shard]!.checkCreate([spec])).toEqual({ ok: true });
          tables[shard]!.create([spec], 0);
          drain(shard);
        }
        for (let step = 0; step < 1_000 && (mail.length > 0 || owed.length > 0 || unsettled()); step++) {
          const roll = random();
          if (mail.length && roll < 0.4) {
            const [letter] = mail.splice(Math.floor(random() * mail.length), 1);
            tables[letter!.shard]!.receive(letter!.message, now);
            drain(letter!.shard);
          } else if (owed.length && roll < 0.7) {
            const [attempt] = owed.splice(Math.floor(random() * owed.length), 1);
            // Flaky, but never past the retry budget: this property is about firing, not dead letters.
            const outcome: AttemptOutcome =
              attempt!.attempt < 3 && random() < 0.3
                ? { ok: false, retryable: true, error: 'flaky' }
                : { ok: true };
            tables[attempt!.shard]!.onAttemptResult(attempt!.id, outcome, now);
            drain(attempt!.shard);
          } else {
            const next = Math.min(...tables.map((t) => t.nextWakeAt() ?? Infinity));
            // Up to the next wake-up, in steps short enough never to reach the retention horizon.
            now = Math.max(now, Math.min(next, now + 10_000));
            tables.forEach((t, shard) => {
              t.advance(now);
              drain(shard);
            });
          }
        }
        for (const [i, id] of ids.entries()) {
          const record = tables[shardOf(id, shardCount)]!.record(id);
          expect(firings.get(id), id).toBe(1);
          expect(record?.state, id).toBe('Settled');
          // Archived once on settling, and then held only as a digest; or never, kept whole.
          expect(archived.get(id), id).toBe(archiveClosed ? 1 : undefined);
          expect(record?.archivedIn !== undefined, id).toBe(archiveClosed);
          const firedAt = Date.parse(record!.firedAt!);
          expect(firedAt).toBeGreaterThanOrEqual(timers[i]!.due);
          for (const dep of deps[i]!) {
            const depRecord = tables[shardOf(dep, shardCount)]!.record(dep);
            expect(firedAt).toBeGreaterThanOrEqual(Date.parse(depRecord!.firedAt!));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('shard selection', () => {
  test('is stable for an id and spreads similar ids evenly', () => {
    expect(shardOf('job-1', 16)).toBe(shardOf('job-1', 16));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`job-${i}`, 16)]!++;
    // Binomial(16000, 1/16): mean 1000, sd ≈ 31; 150 is nearly five sd.
    for (const count of counts) expect(Math.abs(count - 1_000)).toBeLessThan(150);
  });
});
