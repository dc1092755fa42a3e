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
  }

  const plans = fc
    .record({
      shardCount: fc.integer({ min: 1, max: 4 }),
      timers: fc.array(
        fc.record({ due: fc.integer({ min: 0, max: 5_000 }), deps: fc.array(fc.nat(), { maxLength: 3 }) }),
        { minLength: 1, maxLength: 12 },
      ),
      seed: fc.integer(),
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
      fc.property(plans, ({ shardCount, timers, order, seed }) => {
        const random = seededRandom(seed);
        const ids = timers.map((_, i) => `t${i}`);
        // Dependencies only on earlier timers keep the graph acyclic.
        const deps = timers.map((t, i) => [...new Set(t.deps.filter((d) => d < i))].map((d) => ids[d]!));
        let n = 0;
        // Nothing is forgotten during the run, so every record can be checked at the end.
        const keep = { ...settings, retentionMs: 1e12 };
        const tables = Array.from(
          { length: shardCount },
          (_, shard) => new TimerTable({ shard, shardCount }, keep, () => `d${n++}`),
        );
        const unsettled = () =>
          ids.some((id) => tables[shardOf(id, shardCount)]!.record(id)?.state !== 'Settled');
        const firings = new Map<string, number>();
        const mail: { shard: number; message: ShardMessage }[] = [];
        const owed: { shard: number; id: string; attempt: number }[] = [];
        let now = 0;
        const drain = (shard: number) => {
          for (const effect of tables[shard]!.takeEffects()) {
            if (effect.kind === 'fired') firings.set(effect.timerId, (firings.get(effect.timerId) ?? 0) + 1);
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
