/**
 * The parked-timer store in the data folder (host/parked-timers.ts): parking is idempotent per id
 * and refuses another spec, page-ins come in key order and stop at their limit, the watermark
 * lets go of what the shard took back, cancels follow the creator's authority, another process's
 * store (the gateway's) reads what the worker wrote, a torn line is cut, a file mostly taken
 * back is rewritten, and retired digests are answered for until their retention ends.
 */
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createFileParkedTimerStore, type ParkedTimerStore } from '../../host/parked-timers';
import { canonicalJson } from '../../schemas/canonical-json';
import { sha256Text } from '../../schemas/hash';
import type { ParkedTimer, ParkKey, RetiredDigest } from '../../schemas/timer-parking';
import { TIMER_ENTRY_OVERHEAD_BYTES } from '../../schemas/timer-shard';

const HOUR = 3_600_000;
/** More room than any page here needs. */
const ROOM = 100_000_000;
const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const owner = { name: 'olivia', role: 'owner' } as const;
const agent = { name: 'ada', role: 'agent' } as const;
const operator = { name: 'opal', role: 'operator' } as const;

let dir: string;
let store: ParkedTimerStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-parked-'));
  store = createFileParkedTimerStore(dir);
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function timer(id: string, dueInHours: number, url = 'https://example.com/hook'): ParkedTimer {
  const dueAt = T0 + dueInHours * HOUR;
  return {
    spec: { id, dueAt: new Date(dueAt).toISOString(), action: { type: 'webhook', url } },
    createdBy: agent,
    createdAt: T0,
    dueAt,
  };
}

async function park(timers: ParkedTimer[], watermark?: ParkKey) {
  return await store.park({
    shard: 0,
    ...(watermark && { watermark }),
    timers: timers.map((t) => ({ timer: t, park: true })),
  });
}

describe('parking', () => {
  test('parks new ids, answers the same spec as parked already, refuses another spec for the whole batch', async () => {
    const first = await park([timer('a', 2), timer('b', 1)]);
    expect(first).toEqual({
      ok: true,
      answers: [
        { id: 'a', outcome: 'parked' },
        { id: 'b', outcome: 'parked' },
      ],
      nextDueAt: T0 + HOUR,
    });
    const again = await park([timer('a', 2)]);
    expect(again).toEqual({
      ok: true,
      answers: [{ id: 'a', outcome: 'parkedBefore', timer: timer('a', 2) }],
      nextDueAt: T0 + HOUR,
    });
    // 'c' is new, but 'a' conflicts: nothing of the batch is parked.
    expect(await park([timer('c', 3), timer('a', 5)])).toEqual({ ok: false, conflict: 'a' });
    expect(await store.get(0, 'c')).toBeUndefined();
    expect(await store.get(0, 'a')).toEqual(timer('a', 2));
  });

  test('a timer only checked, or at or below the watermark, is answered absent and not parked', async () => {
    await park([timer('a', 2)]);
    const result = await store.park({
      shard: 0,
      watermark: { dueAt: T0 + HOUR, id: '~' },
      timers: [
        { timer: timer('near', 0.5), park: true },
        { timer: timer('checked', 3), park: false },
      ],
    });
    expect(result).toEqual({
      ok: true,
      answers: [
        { id: 'near', outcome: 'absent' },
        { id: 'checked', outcome: 'absent' },
      ],
      nextDueAt: T0 + 2 * HOUR,
    });
  });
});

describe('paging in', () => {
  test('takes what is due by the page in key order, up to the limit, and moves the watermark past it', async () => {
    await park([timer('c', 1), timer('b', 1), timer('a', 2), timer('d', 5)]);
    const page = await store.pageIn({ shard: 0, upTo: T0 + 3 * HOUR, limit: 2, roomBytes: ROOM });
    expect(page.timers.map((t) => t.spec.id)).toEqual(['b', 'c']);
    expect(page.watermark).toEqual({ dueAt: T0 + HOUR, id: 'c' });
    expect(page.nextDueAt).toBe(T0 + 2 * HOUR);
    // A retried page-in (the shard never got the answer) gets the same page.
    expect(await store.pageIn({ shard: 0, upTo: T0 + 3 * HOUR, limit: 2, roomBytes: ROOM })).toEqual(page);
    const next = await store.pageIn({
      shard: 0,
      watermark: page.watermark!,
      upTo: T0 + 3 * HOUR,
      limit: 2,
      roomBytes: ROOM,
    });
    expect(next.timers.map((t) => t.spec.id)).toEqual(['a']);
    expect(next.watermark).toEqual({ dueAt: T0 + 3 * HOUR, id: '~' });
    expect(next.nextDueAt).toBe(T0 + 5 * HOUR);
    // Once the shard says it holds them, the store lets go: reads no longer find them.
    await store.pageIn({
      shard: 0,
      watermark: next.watermark!,
      upTo: T0 + 3 * HOUR,
      limit: 2,
      roomBytes: ROOM,
    });
    expect(await store.get(0, 'a')).toBeUndefined();
    expect((await store.list(0, { limit: 10 })).map((t) => t.spec.id)).toEqual(['d']);
  });

  test("a page takes no more of the shard's room than it was given: each timer as its line plus its entry's overhead", async () => {
    await park([timer('a', 1), timer('b', 1.5)]);
    const one = JSON.stringify({ p: timer('a', 1) }).length + TIMER_ENTRY_OVERHEAD_BYTES;
    const none = await store.pageIn({ shard: 0, upTo: T0 + 2 * HOUR, limit: 10, roomBytes: one - 1 });
    expect(none).toEqual({ timers: [], nextDueAt: T0 + HOUR });
    const page = await store.pageIn({ shard: 0, upTo: T0 + 2 * HOUR, limit: 10, roomBytes: one + 10 });
    expect(page.timers.map((t) => t.spec.id)).toEqual(['a']);
    expect(page.watermark).toEqual({ dueAt: T0 + HOUR, id: 'a' });
    expect(page.nextDueAt).toBe(T0 + 1.5 * HOUR);
  });

  test('an id parked again after its earlier timer was taken back is a new timer', async () => {
    await park([timer('a', 1)]);
    const page = await store.pageIn({ shard: 0, upTo: T0 + HOUR, limit: 10, roomBytes: ROOM });
    const later = timer('a', 4, 'https://example.com/other');
    const again = await park([later], page.watermark);
    expect(again).toMatchObject({ ok: true, answers: [{ id: 'a', outcome: 'parked' }] });
    expect(await store.get(0, 'a')).toEqual(later);
  });
});

describe('cancelling', () => {
  test('the creator or a role ranked as high cancels a parked timer, once; a lower role may not; the shard takes it back cancelled', async () => {
    const byOperator = { ...timer('a', 2), createdBy: operator };
    await park([byOperator]);
    const request = { shard: 0, id: 'a', at: T0 + 60_000, reason: 'cancelled by request' };
    expect(await store.cancel({ ...request, caller: agent })).toEqual({ outcome: 'forbidden' });
    const cancelled = { ...byOperator, cancelledAt: T0 + 60_000, cancelReason: 'cancelled by request' };
    expect(await store.cancel({ ...request, caller: owner })).toEqual({
      outcome: 'cancelled',
      timer: cancelled,
    });
    expect(await store.cancel({ ...request, caller: operator, at: T0 + 120_000 })).toEqual({
      outcome: 'cancelled',
      timer: cancelled,
    });
    expect(await store.cancel({ ...request, id: 'missing', caller: owner })).toEqual({ outcome: 'notFound' });
    expect(await store.list(0, { limit: 10, cancelled: false })).toEqual([]);
    expect(await store.list(0, { limit: 10, cancelled: true })).toEqual([cancelled]);
    const page = await store.pageIn({ shard: 0, upTo: T0 + 2 * HOUR, limit: 10, roomBytes: ROOM });
    expect(page.timers).toEqual([cancelled]);
  });
});

/** The digest a shard retires for `closed`, settled by delivery, forgotten at `forgetAt`. */
function retired(closed: ParkedTimer, forgetAt: number, cancelReason?: string): RetiredDigest {
  return {
    digest: {
      id: closed.spec.id,
      specHash: sha256Text(canonicalJson(closed.spec)),
      state: cancelReason === undefined ? 'Settled' : 'Cancelled',
      createdBy: agent,
      createdAt: closed.createdAt,
      dueAt: closed.dueAt,
      closedAt: closed.dueAt + 100,
      escalationLevel: 0,
      attempts: cancelReason === undefined ? 1 : 0,
      replays: 0,
      ...(cancelReason === undefined
        ? { firedAt: closed.dueAt, deliveredAt: closed.dueAt + 100, settledBy: 'delivery' as const }
        : { cancelReason }),
    },
    archivedIn: 'timer-shard-0',
    forgetAt,
  };
}

describe('retired digests', () => {
  test('a retired digest is answered for until its retention ends: the same spec as closed, another as a conflict for the whole batch; then the id is free', async () => {
    const done = timer('done', 1);
    const forgetAt = T0 + 3 * HOUR;
    await store.retire({ shard: 0, digests: [retired(done, forgetAt)] });
    const reader = createFileParkedTimerStore(dir);
    try {
      expect(await reader.closed(0, 'done', forgetAt - 1)).toEqual(retired(done, forgetAt));
      expect(await reader.closed(0, 'done', forgetAt)).toBeUndefined();
      expect(await reader.get(0, 'done')).toBeUndefined();
    } finally {
      await reader.close();
    }
    const asked = (t: ParkedTimer) => ({ shard: 0, timers: [{ timer: t, park: true }] });
    expect(await store.park(asked(done))).toEqual({
      ok: true,
      answers: [{ id: 'done', outcome: 'closed', retired: retired(done, forgetAt) }],
    });
    const other = timer('done', 4);
    expect(
      await store.park({
        shard: 0,
        timers: [
          { timer: timer('new', 5), park: true },
          { timer: other, park: true },
        ],
      }),
    ).toEqual({ ok: false, conflict: 'done' });
    expect(await store.get(0, 'new')).toBeUndefined();
    // Created again once retention forgot it: a new timer.
    const later = { ...other, createdAt: forgetAt };
    expect(await store.park(asked(later))).toEqual({
      ok: true,
      answers: [{ id: 'done', outcome: 'parked' }],
      nextDueAt: other.dueAt,
    });
  });

  test('a large file of digests mostly forgotten is rewritten with those retention still keeps', async () => {
    const reason = 'r'.repeat(4_000);
    const now = Date.now();
    const closed = (i: number) => timer(`d-${String(i).padStart(5, '0')}`, 1);
    for (let i = 0; i < 9_000; i += 500) {
      const digests = Array.from({ length: 500 }, (_, j) =>
        retired(closed(i + j), i + j < 6_000 ? now - 1 : now + HOUR, reason),
      );
      await store.retire({ shard: 0, digests });
    }
    const file = join(dir, 'shard-0.jsonl');
    // The last write found the file over 32 MB and two thirds forgotten, and rewrote it.
    expect((await stat(file)).size).toBeLessThan(4_000 * 3_000 * 1.2);
    const reader = createFileParkedTimerStore(dir);
    try {
      expect(await reader.closed(0, 'd-05999', now)).toBeUndefined();
      expect(await reader.closed(0, 'd-06000', now)).toEqual(retired(closed(6_000), now + HOUR, reason));
      expect(await reader.closed(0, 'd-08999', now)).toBeDefined();
    } finally {
      await reader.close();
    }
  });
});

describe('the file', () => {
  test("another process's store reads what was written, and a torn last line is cut by the next write", async () => {
    await park([timer('a', 2)]);
    const reader = createFileParkedTimerStore(dir);
    try {
      expect(await reader.get(0, 'a')).toEqual(timer('a', 2));
      const file = join(dir, 'shard-0.jsonl');
      // A writer that crashed mid-line.
      await appendFile(file, '{"p":{"spec":{"id":"torn"');
      expect(await reader.get(0, 'torn')).toBeUndefined();
      await park([timer('b', 3)]);
      const lines = (await readFile(file, 'utf8')).split('\n');
      expect(lines.filter((line) => line.includes('torn'))).toEqual([]);
      expect((await reader.list(0, { limit: 10 })).map((t) => t.spec.id)).toEqual(['a', 'b']);
    } finally {
      await reader.close();
    }
  });

  test('a large file mostly taken back is rewritten with what is still parked, which readers find', async () => {
    const payload = 'x'.repeat(4_000);
    const many = Array.from({ length: 9_000 }, (_, i) => {
      const t = timer(`t-${String(i).padStart(5, '0')}`, 1 + i / 10_000);
      return {
        ...t,
        spec: { ...t.spec, action: { type: 'webhook' as const, url: 'https://example.com/hook', payload } },
      };
    });
    for (let i = 0; i < many.length; i += 500) await park(many.slice(i, i + 500));
    const file = join(dir, 'shard-0.jsonl');
    const before = (await stat(file)).size;
    expect(before).toBeGreaterThan(32 * 1024 * 1024);
    const reader = createFileParkedTimerStore(dir);
    try {
      expect(await reader.get(0, 't-08999')).toBeDefined();
      // Pages of at most a megabyte each, until the shard holds the first 6,000 (due by 1.6 h).
      let watermark: ParkKey | undefined;
      for (let page = 0; watermark?.id !== '~'; page++) {
        expect(page).toBeLessThan(100);
        ({ watermark } = await store.pageIn({
          shard: 0,
          ...(watermark && { watermark }),
          upTo: T0 + 1.6 * HOUR - 1,
          limit: 2_000,
          roomBytes: ROOM,
        }));
      }
      // The page-in that tells the store so lets go of them, and the file is rewritten smaller.
      await store.pageIn({ shard: 0, watermark, upTo: T0, limit: 1, roomBytes: ROOM });
      expect((await stat(file)).size).toBeLessThan(before * 0.55);
      expect(await reader.get(0, 't-00001')).toBeUndefined();
      expect(await reader.get(0, 't-08999')).toEqual(many[8_999]);
      expect((await reader.list(0, { limit: 10_000 })).length).toBe(3_000);
    } finally {
      await reader.close();
    }
  });
});
