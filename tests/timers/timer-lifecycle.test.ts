/**
 * Timer shards on Temporal's Java time-skipping test server, driven through the timer API: every
 * lifecycle transition, chains, escalation ladders, dependencies, cancellation, idempotent
 * create, dead letters and replay, signal and update actions, and continue-as-new. Each test has
 * a test server of its own: the server stops skipping time for good when a workflow ends with an
 * activity or a workflow task outstanding (its lock is never released), and on a loaded machine a
 * test's clean-up can lose that race, which must not stall every test after it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { generateSigner, type Signer } from '../../host/keys';
import { timerEventFile, type TimerEventLog } from '../../host/timer-events';
import type { SignedOwnerCommand } from '../../schemas/owner-controls';
import { ownerCommandSigningBytes, signOwnerCommand } from '../../schemas/signed-bytes';
import type { CreateTimerRequest, DeadLetter, TimerRecord } from '../../schemas/timer';
import {
  createTimersUpdate,
  haltTimersUpdate,
  liftTimersUpdate,
  shardStatusQuery,
} from '../../schemas/timer-messages';
import { ensureTimerShards } from '../../workers/timers';
import { readLedger, verifyLedger } from '../../ledger';
import { shardOf, shardWorkflowId } from '../../schemas/timer-shard-key';
import { postJson } from '../support/http';
import { eventually, historiesOfEveryRun } from '../support/temporal';
import {
  makeSigner,
  removeDir,
  TIMER_TEST_CALLER,
  startTimeSkippingEnvPatiently,
  type TimerContext,
  withTimers,
  workflowsPath,
} from './support/harness';
import { timersLeftAtClose } from '../support/closing';
import { approvalTargetWorkflow, receivedQuery } from './support/test-workflows';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// Skipped time waits for every delivery, which is real HTTP: on a loaded CI machine a scenario of
// six skipped minutes took past the suite's 60 s, and the next ones then ran beside it and failed.
vi.setConfig({ testTimeout: 240_000 });

/** The running test's server; tests run one at a time. */
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let signer: Signer;
let dataDir: string;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  ({ signer, dir: dataDir } = await makeSigner());
});

afterAll(async () => {
  await removeDir(dataDir);
});

/** The running scenario's shards, for `quiesce`. Tests run one at a time. */
let current: { ctx: TimerContext; shards: number } | undefined;

/**
 * Waits until no shard of the running scenario has a workflow task or an activity outstanding.
 * A query can show a delivery before the workflow task that recorded it (and set the next
 * durable timer) reaches the server; skipping time in that gap would start the timer late.
 */
async function quiesce(): Promise<void> {
  if (!current) return;
  const { ctx, shards } = current;
  for (let look = 0; look < 100; look++) {
    const busy = await Promise.all(
      Array.from({ length: shards }, async (_, shard) => {
        try {
          const { raw } = await ctx.client.workflow
            .getHandle(shardWorkflowId(ctx.idPrefix, shard))
            .describe();
          return raw.pendingWorkflowTask != null || (raw.pendingActivities?.length ?? 0) > 0;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) return false;
          throw error;
        }
      }),
    );
    if (!busy.includes(true)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a test body with `shards` shards and its own webhook target, and stops both afterwards. */
async function scenario(
  name: string,
  shards: number,
  body: (ctx: TimerContext & { target: WebhookTarget }) => Promise<void>,
  settings?: Parameters<typeof withTimers>[1]['settings'],
  wrapEvents?: Parameters<typeof withTimers>[1]['wrapEvents'],
): Promise<void> {
  env = await startTimeSkippingEnvPatiently();
  try {
    const target = await startWebhookTarget(signer.keyId);
    try {
      await withTimers(
        name,
        {
          env,
          bundle,
          signer,
          dataDir,
          shards,
          ...(settings && { settings }),
          ...(wrapEvents && { wrapEvents }),
        },
        (ctx) => {
          current = { ctx, shards };
          return body({ ...ctx, target });
        },
      );
    } finally {
      current = undefined;
      await target.close();
    }
  } finally {
    await env.teardown();
  }
}

async function create(api: string, spec: CreateTimerRequest): Promise<TimerRecord> {
  const res = await postJson(`${api}/timers`, spec);
  const body = (await res.json()) as { timer: TimerRecord };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.timer;
}

async function read(api: string, id: string): Promise<TimerRecord> {
  const res = await fetch(`${api}/timers/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as TimerRecord;
}

/**
 * Deliveries run as real HTTP beside skipped time; wait for the record to show the outcome,
 * letting a second of server time pass between looks so a shard woken late still gets there.
 */
async function readWhen(api: string, id: string, ok: (timer: TimerRecord) => boolean): Promise<TimerRecord> {
  let timer = await read(api, id);
  for (let look = 0; look < 30 && !ok(timer); look++) {
    await env.sleep(1_000);
    timer = await read(api, id);
  }
  if (!ok(timer)) throw new Error(`timer ${id} never got there; it is ${JSON.stringify(timer)}`);
  await quiesce();
  return timer;
}

function webhook(
  target: WebhookTarget,
  payload?: Record<string, string | number>,
): CreateTimerRequest['action'] {
  return { type: 'webhook', url: target.url, ...(payload !== undefined && { payload }) };
}

const ms = (iso: string | undefined): number => Date.parse(iso ?? 'missing');

/**
 * Checks shard 0's event log of the running test: numbered 1, 2, … without a gap or a repeat,
 * and each of `ids` went Scheduled, Armed, Fired, Settled, each step once.
 */
async function expectEachStoryOnce(taskQueue: string, ids: string[]): Promise<void> {
  const written = (await readFile(timerEventFile(join(dataDir, taskQueue, 'events'), 0), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { seq: number; timerId: string; state: string });
  expect(written.map((ev) => ev.seq)).toEqual(written.map((_, i) => i + 1));
  for (const id of ids) {
    const story = written.filter((ev) => ev.timerId === id).map((ev) => ev.state);
    expect(story, id).toEqual(['Scheduled', 'Armed', 'Fired', 'Settled']);
  }
}

/** Waits until the target has `ids.length` deliveries, then checks they are `ids`, each once. */
async function expectDeliveredOnce(target: WebhookTarget, ids: string[], timeoutMs: number): Promise<void> {
  await eventually(
    () => Promise.resolve(target.delivered().length),
    (n) => n >= ids.length,
    timeoutMs,
  );
  expect(
    target
      .delivered()
      .map((d) => d.timerId)
      .sort(),
  ).toEqual([...ids].sort());
}

describe('timer lifecycle', () => {
  test('a timer moves Scheduled → Armed → Fired, and settles when acknowledged', async () => {
    await scenario('lifecycle ack', 2, async ({ api, target }) => {
      const created = await create(api, {
        id: 'lifecycle',
        delayMs: HOUR,
        action: webhook(target),
        escalation: { afterMs: 10 * MINUTE, action: webhook(target, { rung: 1 }) },
      });
      expect(created).toMatchObject({ state: 'Scheduled', escalationRungs: 1, attempts: 0 });
      const dueAt = ms(created.dueAt);
      expect(dueAt - ms(created.createdAt)).toBe(HOUR);

      // The arming horizon is a minute: half a minute before it, still Scheduled.
      await env.sleep(HOUR - 90_000);
      expect((await read(api, 'lifecycle')).state).toBe('Scheduled');
      await env.sleep(60_000);
      const armed = await read(api, 'lifecycle');
      expect(armed.state).toBe('Armed');
      expect(ms(armed.armedAt)).toBeGreaterThanOrEqual(dueAt - 60_000);
      expect(target.requests).toEqual([]);

      await env.sleep(60_000);
      const fired = await readWhen(api, 'lifecycle', (t) => t.deliveredAt !== undefined);
      expect(fired.state).toBe('Fired');
      expect(ms(fired.firedAt)).toBeGreaterThanOrEqual(dueAt);
      expect(fired.latenessMs).toBe(ms(fired.firedAt) - dueAt);
      expect(ms(fired.ackDeadline)).toBe(ms(fired.deliveredAt) + 10 * MINUTE);
      expect(target.requests).toHaveLength(1);
      expect(target.requests[0]).toMatchObject({
        timerId: 'lifecycle',
        deliveryId: fired.deliveryId,
        escalationLevel: 0,
        dueAt: created.dueAt,
        firedAt: fired.firedAt,
        verified: true,
      });

      // Who acknowledged is the authenticated caller; a body naming someone else is refused.
      const forged = await postJson(`${api}/timers/lifecycle/ack`, { by: 'operator@example.org' });
      expect(forged.status).toBe(400);
      const ack = await postJson(`${api}/timers/lifecycle/ack`, {});
      expect(ack.status).toBe(200);
      expect(await ack.json()).toMatchObject({
        state: 'Settled',
        settledBy: 'ack',
        ackedBy: TIMER_TEST_CALLER.name,
        createdBy: TIMER_TEST_CALLER,
      });
      // Past the deadline it would have escalated at: nothing more is delivered.
      await env.sleep(15 * MINUTE);
      expect((await read(api, 'lifecycle')).state).toBe('Settled');
      expect(target.requests).toHaveLength(1);
      // Acknowledging again changes nothing.
      expect((await postJson(`${api}/timers/lifecycle/ack`, {})).status).toBe(200);
    });
  });

  test('a timer without an escalation settles as soon as its action is delivered', async () => {
    await scenario('lifecycle delivery', 2, async ({ api, target }) => {
      const created = await create(api, { id: 'auto', delayMs: 5 * MINUTE, action: webhook(target) });
      await env.sleep(6 * MINUTE);
      const settled = await readWhen(api, 'auto', (t) => t.state === 'Settled');
      expect(settled).toMatchObject({ settledBy: 'delivery', attempts: 1 });
      expect(ms(settled.firedAt)).toBeGreaterThanOrEqual(ms(created.dueAt));
      expect(target.delivered().map((d) => d.timerId)).toEqual(['auto']);
    });
  });
});

describe('retention', () => {
  test('a settled timer is forgotten once the retention period passes, which frees its id', async () => {
    await scenario('retention', 2, async ({ api, target }) => {
      await create(api, { id: 'brief', delayMs: MINUTE, action: webhook(target) });
      await env.sleep(2 * MINUTE);
      await readWhen(api, 'brief', (t) => t.state === 'Settled');
      await env.sleep(30 * MINUTE);
      expect((await read(api, 'brief')).state).toBe('Settled');
      await env.sleep(HOUR);
      expect((await fetch(`${api}/timers/brief`)).status).toBe(404);
      const reused = await postJson(`${api}/timers`, {
        id: 'brief',
        delayMs: 0,
        action: webhook(target, { n: 2 }),
      });
      expect(reused.status).toBe(201);
      await readWhen(api, 'brief', (t) => t.state === 'Settled');
      expect(target.delivered().map((d) => d.payload)).toEqual([undefined, { n: 2 }]);
    });
  });
});

describe('compact shards', () => {
  test('a closed timer is a digest in its shard and its full record is in the shard ledger, which verifies', async () => {
    await scenario('digests', 2, async ({ api, target, idPrefix, ledgerDir }) => {
      const body = { report: 'x'.repeat(1_000) };
      await create(api, { id: 'kept', delayMs: MINUTE, action: webhook(target, body) });
      await create(api, { id: 'dropped', delayMs: HOUR, action: webhook(target) });
      expect((await fetch(`${api}/timers/dropped`, { method: 'DELETE' })).status).toBe(200);
      await env.sleep(2 * MINUTE);
      const settled = await readWhen(api, 'kept', (t) => t.state === 'Settled');
      const ledgerOf = (id: string) => shardWorkflowId(idPrefix, shardOf(id, 2));
      expect(settled).toMatchObject({ archivedIn: ledgerOf('kept'), settledBy: 'delivery', attempts: 1 });
      expect(settled.action).toBeUndefined();
      expect(await read(api, 'dropped')).toMatchObject({
        state: 'Cancelled',
        archivedIn: ledgerOf('dropped'),
        cancelReason: 'cancelled by request',
      });
      // The same create again is still answered with the timer, now its digest.
      const again = await postJson(`${api}/timers`, {
        id: 'kept',
        delayMs: MINUTE,
        action: webhook(target, body),
      });
      expect(again.status).toBe(200);

      await quiesce();
      const archived = new Map<string, TimerRecord>();
      for (const ledger of new Set([ledgerOf('kept'), ledgerOf('dropped')])) {
        expect(await verifyLedger(ledgerDir, ledger, [signer.keyId])).toMatchObject({ ok: true });
        for (const record of (await readLedger(ledgerDir, ledger)).records) {
          if (record.kind !== 'timer-closed') continue;
          expect(archived.has(record.timer_id), record.timer_id).toBe(false);
          archived.set(record.timer_id, JSON.parse(record.timer) as TimerRecord);
        }
      }
      expect([...archived.keys()].sort()).toEqual(['dropped', 'kept']);
      expect(archived.get('kept')).toMatchObject({
        state: 'Settled',
        action: { type: 'webhook', url: target.url, payload: body },
        settledAt: settled.settledAt,
      });
      expect(archived.get('dropped')).toMatchObject({ state: 'Cancelled', action: { url: target.url } });
    });
  });
});

describe('bookkeeping', () => {
  test("a firing's events ride on its own delivery; a slow delivery holds what waits no longer than its end, and every event is written once, in order", async () => {
    await scenario('bookkeeping', 1, async ({ api, target, client, idPrefix }) => {
      target.answerAfter(6_000);
      await create(api, { id: 'slow', delayMs: MINUTE, action: webhook(target) });
      await create(api, { id: 'next', delayMs: MINUTE + 2_000, action: webhook(target) });
      await env.sleep(MINUTE + 500);
      await readWhen(api, 'slow', (t) => t.state === 'Settled');
      await readWhen(api, 'next', (t) => t.state === 'Settled');

      const history = await client.workflow.getHandle(shardWorkflowId(idPrefix, 0)).fetchHistory();
      const input = (a: { input?: { payloads?: { data?: Uint8Array | null }[] | null } | null }) =>
        JSON.parse(Buffer.from(a.input?.payloads?.[0]?.data ?? []).toString('utf8')) as {
          deliveries?: { timerId: string }[];
          bookkeeping?: Written;
        } & Written;
      interface Written {
        events: { seq: number; timerId: string; state: string }[];
        archived: { record: { id: string } }[];
      }
      const writes: ({ at: number; by: string; delivering: string[] } & Written)[] = [];
      const names: string[] = [];
      const delivering = new Map<number, string[]>();
      const completedAt = new Map<string, number>();
      for (const e of history.events ?? []) {
        const at = Number(e.eventId);
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (scheduled) {
          const name = scheduled.activityType?.name ?? '';
          names.push(name);
          const { deliveries, bookkeeping, ...own } = input(scheduled);
          const ids = (deliveries ?? []).map((d) => d.timerId);
          delivering.set(at, ids);
          const written = bookkeeping ?? (name === 'recordShardBookkeeping' ? own : undefined);
          if (written) writes.push({ at, by: name, delivering: ids, ...written });
        }
        const done = e.activityTaskCompletedEventAttributes;
        for (const id of done ? (delivering.get(Number(done.scheduledEventId)) ?? []) : [])
          completedAt.set(id, at);
      }
      // Shards recorded before the patch write with these; this one only in the two new ways.
      expect(names).not.toContain('recordTimerEvents');
      expect(names).not.toContain('archiveClosedTimers');

      const events = writes.flatMap((w) => w.events);
      expect(events.map((ev) => ev.seq)).toEqual(events.map((_, i) => i + 1));
      const of = (id: string) => events.filter((ev) => ev.timerId === id).map((ev) => ev.state);
      expect(of('slow')).toEqual(['Scheduled', 'Armed', 'Fired', 'Settled']);
      expect(of('next')).toEqual(['Scheduled', 'Armed', 'Fired', 'Settled']);
      const writeOf = (id: string, state: string) =>
        writes.find((w) => w.events.some((ev) => ev.timerId === id && ev.state === state))!;
      // `slow` fired alone: its delivery carried its Fired.
      expect(writeOf('slow', 'Fired')).toMatchObject({
        by: 'deliverTimerWebhooksWithBookkeeping',
        delivering: ['slow'],
      });
      // `next` fired while that write was under way, so its delivery carried nothing; its Fired
      // went out once `slow` ended, before its own six-second delivery did.
      expect(writeOf('next', 'Fired').at).toBeGreaterThan(completedAt.get('slow')!);
      expect(writeOf('next', 'Fired').at).toBeLessThan(completedAt.get('next')!);
      expect(writes.flatMap((w) => w.archived.map((t) => t.record.id)).sort()).toEqual(['next', 'slow']);
    });
  });

  test('a bookkeeping write that fails does not hold its webhook back, and is written again, each event once', async () => {
    let failures = 0;
    const failingFired = (log: TimerEventLog): TimerEventLog => ({
      append: async (shard, events) => {
        if (failures < 2 && events.some((ev) => ev.state === 'Fired')) {
          failures++;
          throw new Error('disk full');
        }
        await log.append(shard, events);
      },
    });
    await scenario(
      'bookkeeping failure',
      1,
      async ({ api, target, client, idPrefix, taskQueue }) => {
        await create(api, { id: 'hurt', delayMs: MINUTE, action: webhook(target) });
        await env.sleep(MINUTE + 500);
        await readWhen(api, 'hurt', (t) => t.state === 'Settled');
        expect(target.delivered().map((d) => d.timerId)).toEqual(['hurt']);

        const history = await client.workflow.getHandle(shardWorkflowId(idPrefix, 0)).fetchHistory();
        const results = (history.events ?? []).flatMap((e) => {
          const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
          const result = data?.length
            ? (JSON.parse(Buffer.from(data).toString('utf8')) as unknown)
            : undefined;
          return result && typeof result === 'object' && 'bookkeepingError' in result
            ? [(result as { bookkeepingError: string }).bookkeepingError]
            : [];
        });
        // The delivery that carried the Fired reported the failure; the rest of the story got there.
        expect(results).toEqual(['disk full']);
        expect(failures).toBe(2);
        await expectEachStoryOnce(taskQueue, ['hurt']);
      },
      undefined,
      failingFired,
    );
  });
});

describe('rollover', () => {
  test('a shard at capacity places new timers in another shard; only when every shard is full is a create refused', async () => {
    await scenario(
      'rollover',
      2,
      async ({ api, target }) => {
        const ids = Array.from({ length: 40 }, (_, i) => `roll-${i}`);
        const placed: TimerRecord[] = [];
        for (const id of ids.filter((id) => shardOf(id, 2) === 0)) {
          placed.push(await create(api, { id, delayMs: HOUR, action: webhook(target) }));
          if (placed.at(-1)!.shard !== 0) break;
        }
        const rolled = placed.at(-1)!;
        expect(placed.length).toBeGreaterThan(1);
        expect(placed.slice(0, -1).every((t) => t.shard === 0)).toBe(true);
        expect(rolled.shard).toBe(1);
        // Read, created again and cancelled through its home shard, which forwards to where it is.
        expect(await read(api, rolled.id)).toMatchObject({ id: rolled.id, shard: 1, state: 'Scheduled' });
        const again = await postJson(`${api}/timers`, {
          id: rolled.id,
          delayMs: HOUR,
          action: webhook(target),
        });
        expect(again.status).toBe(200);
        const conflict = await postJson(`${api}/timers`, {
          id: rolled.id,
          delayMs: MINUTE,
          action: webhook(target),
        });
        expect(conflict.status).toBe(409);

        const rest = ids.filter((id) => !placed.some((t) => t.id === id));
        let full: Response | undefined;
        for (const id of rest) {
          const res = await postJson(`${api}/timers`, { id, delayMs: HOUR, action: webhook(target) });
          if (res.status === 503) {
            full = res;
            break;
          }
          expect(res.status).toBe(201);
          placed.push(((await res.json()) as { timer: TimerRecord }).timer);
        }
        expect(full, 'every shard filled up').toBeDefined();
        expect(full!.headers.get('retry-after')).toBe('60');
        expect(((await full!.json()) as { detail: string }).detail).toMatch(
          /every one of the 2 timer shards is full/,
        );
        const elsewhere = placed.filter((t) => t.shard !== shardOf(t.id, 2));
        expect(elsewhere.length).toBeGreaterThan(0);

        const dropped = elsewhere[0]!;
        const cancel = await fetch(`${api}/timers/${dropped.id}`, { method: 'DELETE' });
        expect(await cancel.json()).toMatchObject({
          id: dropped.id,
          state: 'Cancelled',
          shard: dropped.shard,
        });
        await env.sleep(HOUR + MINUTE);
        await expectDeliveredOnce(
          target,
          placed.filter((t) => t.id !== dropped.id).map((t) => t.id),
          20_000,
        );
        for (const t of elsewhere.slice(1)) expect((await read(api, t.id)).state).toBe('Settled');
      },
      { snapshotBudgetBytes: 1_500 },
    );
  });
});

describe('rollover of chain links', () => {
  test('a chain link whose home shard is full is placed in another shard and fires there', async () => {
    await scenario(
      'chain link rollover',
      2,
      async ({ api, target }) => {
        const ids = Array.from({ length: 60 }, (_, i) => `fill-${i}`);
        // Shard 0 takes timers until one rolls over to shard 1: from then on shard 0 is full.
        let rolled: TimerRecord | undefined;
        for (const id of ids.filter((id) => shardOf(id, 2) === 0)) {
          const timer = await create(api, { id, delayMs: HOUR, action: webhook(target) });
          if (timer.shard !== 0) {
            rolled = timer;
            break;
          }
        }
        expect(rolled, 'shard 0 filled up').toBeDefined();
        const names = Array.from({ length: 40 }, (_, i) => `link-${i}`);
        const head = names.find((id) => shardOf(id, 2) === 1)!;
        const link = names.find((id) => shardOf(id, 2) === 0)!;
        await create(api, {
          id: head,
          delayMs: MINUTE,
          action: webhook(target, { link: head }),
          chain: { id: link, delayMs: MINUTE, action: webhook(target, { link }) },
        });

        await env.sleep(3 * MINUTE);
        const placed = await readWhen(api, link, (t) => t.state === 'Settled');
        const first = await read(api, head);
        expect(placed).toMatchObject({ id: link, shard: 1, chainedFrom: head });
        expect(first.chainsTo).toBe(link);
        expect(ms(placed.dueAt)).toBe(ms(first.firedAt) + MINUTE);
        expect(target.delivered().map((d) => d.timerId)).toEqual([head, link]);
      },
      { snapshotBudgetBytes: 2_000 },
    );
  });
});

describe('chains', () => {
  test('a chain of 5 fires each link once, each a minute after the one before', async () => {
    await scenario('chain of five', 3, async ({ api, target }) => {
      const ids = ['chain-1', 'chain-2', 'chain-3', 'chain-4', 'chain-5'];
      // Built from the last link inward: each link carries the rest of the chain.
      const spec = ids.reduceRight<CreateTimerRequest | undefined>(
        (next, id) => ({
          id,
          delayMs: MINUTE,
          action: webhook(target, { link: id }),
          ...(next && { chain: next }),
        }),
        undefined,
      )!;
      expect(new Set(ids.map((id) => shardOf(id, 3))).size).toBeGreaterThan(1);
      await create(api, spec);

      await env.sleep(6 * MINUTE);
      const links = await eventually(
        () =>
          Promise.all(
            ids.map((id) => fetch(`${api}/timers/${id}`).then((r) => r.json() as Promise<TimerRecord>)),
          ),
        (all) => all.every((t) => t.state === 'Settled'),
        15_000,
      );
      links.forEach((link, i) => {
        expect(link.state).toBe('Settled');
        if (i === 0) return;
        const previous = links[i - 1]!;
        expect(link.chainedFrom).toBe(previous.id);
        expect(previous.chainsTo).toBe(link.id);
        // delayMs counts from the previous link's firing.
        expect(ms(link.dueAt)).toBe(ms(previous.firedAt) + MINUTE);
        expect(ms(link.firedAt)).toBeGreaterThanOrEqual(ms(link.dueAt));
      });
      expect(target.delivered().map((d) => d.timerId)).toEqual(ids);
    });
  });
});

describe('escalations', () => {
  test('an unacknowledged timer climbs one rung per missed deadline; acknowledgement stops the climb', async () => {
    await scenario('escalation ladder', 2, async ({ api, target }) => {
      const ladder = (id: string): CreateTimerRequest => ({
        id,
        delayMs: MINUTE,
        action: webhook(target, { rung: 0 }),
        escalation: {
          afterMs: 5 * MINUTE,
          action: webhook(target, { rung: 1 }),
          escalation: { afterMs: 10 * MINUTE, action: webhook(target, { rung: 2 }) },
        },
      });
      await create(api, ladder('ignored'));
      await create(api, ladder('answered'));
      const levels = (id: string) =>
        target
          .delivered()
          .filter((d) => d.timerId === id)
          .map((d) => d.escalationLevel);

      await env.sleep(MINUTE + 1_000);
      await readWhen(api, 'ignored', (t) => t.deliveredAt !== undefined);
      await readWhen(api, 'answered', (t) => t.deliveredAt !== undefined);
      expect((await read(api, 'ignored')).state).toBe('Fired');

      await env.sleep(5 * MINUTE);
      const first = await readWhen(
        api,
        'ignored',
        (t) => t.escalationLevel === 1 && t.ackDeadline !== undefined,
      );
      expect(first.state).toBe('Escalated');
      expect(ms(first.ackDeadline)).toBe(ms(first.deliveredAt) + 10 * MINUTE);
      await readWhen(api, 'answered', (t) => t.escalationLevel === 1 && t.ackDeadline !== undefined);
      expect((await postJson(`${api}/timers/answered/ack`, {})).status).toBe(200);

      await env.sleep(10 * MINUTE);
      const top = await readWhen(
        api,
        'ignored',
        (t) => t.escalationLevel === 2 && t.deliveredAt !== undefined,
      );
      expect(top.state).toBe('Escalated');
      // The top rung has no deadline: it waits for a person.
      expect(top.ackDeadline).toBeUndefined();
      await env.sleep(30 * MINUTE);
      expect(levels('ignored')).toEqual([0, 1, 2]);
      expect(levels('answered')).toEqual([0, 1]);
      expect((await read(api, 'answered')).state).toBe('Settled');

      const ids = target
        .delivered()
        .filter((d) => d.timerId === 'ignored')
        .map((d) => d.deliveryId);
      expect(new Set(ids).size).toBe(3);
      expect(target.delivered().find((d) => d.escalationLevel === 2)?.payload).toEqual({ rung: 2 });
      const ack = await postJson(`${api}/timers/ignored/ack`, {});
      expect(await ack.json()).toMatchObject({ state: 'Settled', escalationLevel: 2, settledBy: 'ack' });
    });
  });
});

describe('dependencies', () => {
  test('in a diamond, D fires only after B and C, which fire only after A', async () => {
    await scenario('dependency diamond', 3, async ({ api, target }) => {
      const [a, b, c, d] = ['diamond-a', 'diamond-b', 'diamond-c', 'diamond-d'];
      // Created dependents first: a dependency may not exist yet when its dependent is made.
      const dCreated = await create(api, {
        id: d,
        delayMs: 0,
        dependsOn: [b, c],
        action: webhook(target),
      });
      expect(dCreated).toMatchObject({ state: 'Scheduled', waitingOn: [b, c] });
      await create(api, { id: c, delayMs: 3 * MINUTE, dependsOn: [a], action: webhook(target) });
      await create(api, { id: b, delayMs: 30_000, dependsOn: [a], action: webhook(target) });
      await create(api, { id: a, delayMs: 2 * MINUTE, action: webhook(target) });

      // Past B's own due time, but A has not fired: B waits.
      await env.sleep(MINUTE);
      expect((await read(api, b)).state).toBe('Scheduled');
      expect((await read(api, d)).state).toBe('Scheduled');

      await env.sleep(MINUTE + 1_000);
      const bFired = await readWhen(api, b, (t) => t.firedAt !== undefined);
      const aFired = await read(api, a);
      expect(ms(bFired.readyAt)).toBe(ms(aFired.firedAt));
      expect(ms(bFired.firedAt)).toBeGreaterThanOrEqual(ms(aFired.firedAt));
      expect(await read(api, d)).toMatchObject({ state: 'Scheduled', waitingOn: [c] });

      await env.sleep(2 * MINUTE);
      const dFired = await readWhen(api, d, (t) => t.state === 'Settled');
      const cFired = await read(api, c);
      expect(ms(cFired.firedAt)).toBeGreaterThanOrEqual(ms(cFired.dueAt));
      expect(ms(dFired.readyAt)).toBe(Math.max(ms(bFired.firedAt), ms(cFired.firedAt)));
      expect(ms(dFired.firedAt)).toBeGreaterThanOrEqual(ms(dFired.readyAt));
      // Deliveries run concurrently, so only firing times are ordered; each timer was delivered once.
      expect(
        target
          .delivered()
          .map((x) => x.timerId)
          .sort(),
      ).toEqual([a, b, c, d]);
      // The diamond spans shards, so the news crossed between them.
      expect(new Set([a, b, c, d].map((id) => shardOf(id, 3))).size).toBeGreaterThan(1);
    });
  });

  test('cancelling a dependency cancels the timers waiting on it', async () => {
    await scenario('dependency cancelled', 3, async ({ api, target }) => {
      await create(api, { id: 'upstream', delayMs: HOUR, action: webhook(target) });
      await create(api, { id: 'downstream', delayMs: 0, dependsOn: ['upstream'], action: webhook(target) });
      expect((await fetch(`${api}/timers/upstream`, { method: 'DELETE' })).status).toBe(200);
      const downstream = await readWhen(api, 'downstream', (t) => t.state === 'Cancelled');
      expect(downstream.cancelReason).toBe('dependency upstream was cancelled');
      await env.sleep(2 * HOUR);
      expect(target.requests).toEqual([]);
    });
  });
});

describe('cancellation', () => {
  test('a timer cancelled before arming or after arming never fires; a fired one cannot be cancelled', async () => {
    await scenario(
      'cancellation',
      2,
      async ({ api, target }) => {
        await create(api, { id: 'far', delayMs: 2 * HOUR, action: webhook(target) });
        // Due within the arming horizon, so Armed at once.
        const near = await create(api, { id: 'near', delayMs: 30_000, action: webhook(target) });
        expect(near.state).toBe('Armed');
        expect((await read(api, 'far')).state).toBe('Scheduled');

        for (const id of ['far', 'near']) {
          const res = await fetch(`${api}/timers/${id}`, { method: 'DELETE' });
          expect(res.status).toBe(200);
          expect(await res.json()).toMatchObject({
            state: 'Cancelled',
            cancelReason: 'cancelled by request',
          });
        }
        // Cancelling twice is harmless.
        expect((await fetch(`${api}/timers/near`, { method: 'DELETE' })).status).toBe(200);

        await create(api, { id: 'gone-off', delayMs: 10_000, action: webhook(target) });
        await env.sleep(3 * HOUR);
        await readWhen(api, 'gone-off', (t) => t.state === 'Settled');
        expect((await read(api, 'far')).state).toBe('Cancelled');
        expect((await read(api, 'near')).state).toBe('Cancelled');
        expect(target.requests.map((r) => r.timerId)).toEqual(['gone-off']);

        const late = await fetch(`${api}/timers/gone-off`, { method: 'DELETE' });
        expect(late.status).toBe(409);
        expect(late.headers.get('content-type')).toContain('application/problem+json');
        expect((await fetch(`${api}/timers/never-made`, { method: 'DELETE' })).status).toBe(404);
      },
      { retentionMs: 24 * HOUR },
    );
  });
});

describe('idempotent create', () => {
  test('creating the same timer twice makes one timer that fires once; another spec under its id is refused', async () => {
    await scenario('duplicate create', 2, async ({ api, target }) => {
      const spec: CreateTimerRequest = { id: 'once', delayMs: 10 * MINUTE, action: webhook(target) };
      const first = await postJson(`${api}/timers`, spec);
      expect(first.status).toBe(201);
      expect(first.headers.get('location')).toBe('/timers/once');
      const original = ((await first.json()) as { timer: TimerRecord }).timer;

      await env.sleep(MINUTE);
      const again = await postJson(`${api}/timers`, spec);
      expect(again.status).toBe(200);
      // The first timer, due when it was first due, not a minute later.
      expect(await again.json()).toEqual({ created: false, timer: original });

      const clash = await postJson(`${api}/timers`, { ...spec, delayMs: 5 * MINUTE });
      expect(clash.status).toBe(409);
      expect(((await clash.json()) as { detail: string }).detail).toContain('different spec');

      await env.sleep(HOUR);
      await readWhen(api, 'once', (t) => t.state === 'Settled');
      expect(target.requests.map((r) => r.timerId)).toEqual(['once']);
    });
  });
});

describe('parked timers', () => {
  test('a timer due past the park-after setting is parked, answered from the store, paged in a minute before it is due and fires once; a parked timer cancels, and a create of its id is idempotent', async () => {
    await scenario(
      'parked',
      1,
      async ({ api, client, target, idPrefix, taskQueue, parked }) => {
        const far = { id: 'far', delayMs: 2 * HOUR, action: webhook(target) } satisfies CreateTimerRequest;
        const made = await postJson(`${api}/timers`, far);
        expect(made.status).toBe(201);
        const created = ((await made.json()) as { timer: TimerRecord }).timer;
        expect(created).toMatchObject({ id: 'far', state: 'Scheduled', parked: true, shard: 0 });
        // The store has it; the shard does not hold it, only knows when its first parked timer is due.
        expect(await parked.get(0, 'far')).toMatchObject({ dueAt: ms(created.dueAt) });
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        const status = await shard.query(shardStatusQuery);
        expect(status.timers).toBe(0);
        expect(status.nextParkedDueAt).toBe(created.dueAt);
        expect(await read(api, 'far')).toEqual(created);

        const again = await postJson(`${api}/timers`, far);
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual({ created: false, timer: created });
        const clash = await postJson(`${api}/timers`, { ...far, delayMs: 3 * HOUR });
        expect(clash.status).toBe(409);
        // Nothing of a parked timer applies before it fires.
        expect((await postJson(`${api}/timers/far/ack`, {})).status).toBe(409);

        await create(api, { id: 'dropped', delayMs: 3 * HOUR, action: webhook(target) });
        const cancel = await fetch(`${api}/timers/dropped`, { method: 'DELETE' });
        expect(cancel.status).toBe(200);
        expect(await cancel.json()).toMatchObject({ state: 'Cancelled', parked: true });
        const near = await create(api, { id: 'near', delayMs: 5 * MINUTE, action: webhook(target) });
        expect(near.parked).toBeUndefined();
        const listed = (await (await fetch(`${api}/timers`)).json()) as { timers: TimerRecord[] };
        expect(listed.timers.map((t) => [t.id, t.state, t.parked ?? false])).toEqual([
          ['near', 'Scheduled', false],
          ['far', 'Scheduled', true],
          ['dropped', 'Cancelled', true],
        ]);
        const cancelledOnly = (await (await fetch(`${api}/timers?state=Cancelled`)).json()) as {
          timers: TimerRecord[];
        };
        expect(cancelledOnly.timers.map((t) => t.id)).toEqual(['dropped']);

        await env.sleep(2 * HOUR + MINUTE);
        const fired = await readWhen(api, 'far', (t) => t.state === 'Settled');
        // Taken back as it was created: its creation and due times, and the record is the shard's.
        expect(fired).toMatchObject({ createdAt: created.createdAt, dueAt: created.dueAt });
        expect(fired.parked).toBeUndefined();
        expect(fired.latenessMs).toBeLessThan(1_000);
        await env.sleep(HOUR);
        await readWhen(api, 'dropped', (t) => t.parked === undefined);
        expect(await read(api, 'dropped')).toMatchObject({
          state: 'Cancelled',
          cancelReason: 'cancelled by request',
        });
        expect(target.requests.map((r) => r.timerId).sort()).toEqual(['far', 'near']);
        await expectEachStoryOnce(taskQueue, ['far', 'near']);

        // The shard paged in twice, each time a page ahead of a parked timer, and not in between.
        const [run] = await historiesOfEveryRun(client, shardWorkflowId(idPrefix, 0));
        const pageIns = run!.flatMap((e) => {
          const scheduled = e.activityTaskScheduledEventAttributes;
          return scheduled?.activityType?.name === 'pageInParkedTimers' ? [e.eventTime] : [];
        });
        expect(pageIns).toHaveLength(2);
        expect((await shard.query(shardStatusQuery)).nextParkedDueAt).toBeUndefined();
      },
      { parkAfterMs: 10 * MINUTE },
    );
  });
});

describe('parked timers in a full shard', () => {
  test('a full home shard answers a create of a parked id with another spec 409 instead of placing it elsewhere', async () => {
    await scenario(
      'parked full',
      2,
      async ({ api, target }) => {
        const home = Array.from({ length: 60 }, (_, i) => `full-${i}`).filter((id) => shardOf(id, 2) === 0);
        const [parkedId, ...fillers] = home;
        const far = { id: parkedId!, delayMs: 2 * HOUR, action: webhook(target) };
        expect(await create(api, far)).toMatchObject({ shard: 0, parked: true });
        let rolled: TimerRecord | undefined;
        for (const id of fillers) {
          const made = await create(api, { id, delayMs: 5 * MINUTE, action: webhook(target) });
          if (made.shard !== 0) {
            rolled = made;
            break;
          }
        }
        expect(rolled, 'the home shard filled up').toBeDefined();
        const clash = await postJson(`${api}/timers`, { ...far, delayMs: 5 * MINUTE });
        expect(clash.status).toBe(409);
        const again = await postJson(`${api}/timers`, far);
        expect(again.status).toBe(200);
        expect(await again.json()).toMatchObject({ created: false, timer: { shard: 0, parked: true } });
      },
      { parkAfterMs: 10 * MINUTE, snapshotBudgetBytes: 1_500 },
    );
  });
});

describe('parked timers across continue-as-new', () => {
  const settings = { parkAfterMs: 10 * MINUTE, maxHistoryEvents: 40 };
  test('a shard that drains while creates wait on the store continues as new once they are done, and every parked timer fires once', async () => {
    await scenario(
      'parked draining',
      1,
      async ({ client, target, idPrefix, taskQueue, shardSettings }) => {
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        // Updates of 20 parked timers each, sent together: the history passes 40 events while
        // later ones still wait on the store, so the shard drains with handlers in flight.
        const ids = Array.from({ length: 8 }, (_, u) =>
          Array.from({ length: 20 }, (_, i) => `drained-${u}-${String(i).padStart(2, '0')}`),
        );
        await ensureTimerShards(client, taskQueue, 1, { idPrefix, settings: shardSettings });
        await Promise.all(
          ids.map((batch, u) =>
            shard.executeUpdate(createTimersUpdate, {
              args: [
                { specs: batch.map((id) => ({ id, delayMs: HOUR + u * MINUTE, action: webhook(target) })) },
              ],
            }),
          ),
        );
        // The last create answered, the drained run continues as new: the next run answers then.
        const before = await eventually(
          () => shard.query(shardStatusQuery),
          (status) => status.runs > 0,
          10_000,
        );
        expect(before.timers).toBe(0);
        expect(before.runs).toBeGreaterThan(0);
        expect(before.nextParkedDueAt).toBeDefined();

        await env.sleep(HOUR + 9 * MINUTE);
        await expectDeliveredOnce(target, ids.flat(), 30_000);
        const after = await shard.query(shardStatusQuery);
        expect(after.counters.fired).toBe(160);
        expect(after.nextParkedDueAt).toBeUndefined();
      },
      settings,
    );
  });
});

describe('retired digests', () => {
  test('a parking shard short of room hands its oldest digests to the store, which answers for them as the shard did until retention frees the id', async () => {
    await scenario(
      'retired digests',
      1,
      async ({ api, client, target, idPrefix }) => {
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        const gone = await create(api, { id: 'gone', delayMs: 5 * MINUTE, action: webhook(target) });
        expect((await fetch(`${api}/timers/${gone.id}`, { method: 'DELETE' })).status).toBe(200);
        const cancelled = await read(api, 'gone');
        // Rounds of timers that fire and settle, until the shard's digests leave it.
        const closed: TimerRecord[] = [];
        for (let round = 0; closed.length < 60; round++) {
          const ids = [0, 1, 2].map((i) => `done-${round}-${i}`);
          for (const id of ids) await create(api, { id, delayMs: MINUTE, action: webhook(target) });
          await env.sleep(2 * MINUTE);
          for (const id of ids) closed.push(await readWhen(api, id, (t) => t.state === 'Settled'));
          if ((await shard.query(shardStatusQuery)).digests < closed.length + 1) break;
        }
        const status = await shard.query(shardStatusQuery);
        expect(status.digests, 'the shard retired digests').toBeLessThan(closed.length + 1);
        const first = closed[0]!;
        // The oldest went first, and the store answers for them as the shard did.
        expect(await read(api, first.id)).toEqual(first);
        expect(await read(api, 'gone')).toEqual(cancelled);
        const again = await postJson(`${api}/timers`, {
          id: first.id,
          delayMs: MINUTE,
          action: webhook(target),
        });
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual({ created: false, timer: first });
        const clash = await postJson(`${api}/timers`, {
          id: first.id,
          delayMs: HOUR,
          action: webhook(target),
        });
        expect(clash.status).toBe(409);
        const ack = await postJson(`${api}/timers/${first.id}/ack`, {});
        expect(ack.status).toBe(200);
        expect(await ack.json()).toEqual(first);
        expect((await fetch(`${api}/timers/${first.id}`, { method: 'DELETE' })).status).toBe(409);
        const cancelAgain = await fetch(`${api}/timers/gone`, { method: 'DELETE' });
        expect(cancelAgain.status).toBe(200);
        expect(await cancelAgain.json()).toEqual(cancelled);
        expect((await postJson(`${api}/timers/${first.id}/replay`, {})).status).toBe(409);

        // Retention forgets it in the store too: the id is free for a new timer, which its shard holds.
        await env.sleep(HOUR + 2 * MINUTE);
        const anew = await create(api, { id: first.id, delayMs: 5 * MINUTE, action: webhook(target) });
        expect(anew.createdAt).not.toBe(first.createdAt);
        expect(await read(api, first.id)).toEqual(anew);
      },
      { parkAfterMs: 10 * MINUTE, snapshotBudgetBytes: 6_000 },
    );
  });
});

describe('retired digests, a batch at a time', () => {
  test('a parking shard with room to spare hands its digests over once a batch waits, and the store answers for them', async () => {
    await scenario(
      'early retirement',
      1,
      async ({ api, client, target, idPrefix }) => {
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        const closed: TimerRecord[] = [];
        for (const id of ['early-0', 'early-1']) {
          await create(api, { id, delayMs: MINUTE, action: webhook(target) });
          await env.sleep(2 * MINUTE);
          closed.push(await readWhen(api, id, (t) => t.state === 'Settled'));
        }
        // Two wait: fewer than a batch, so the shard keeps them.
        expect((await shard.query(shardStatusQuery)).digests).toBe(2);
        await create(api, { id: 'early-2', delayMs: MINUTE, action: webhook(target) });
        await env.sleep(2 * MINUTE);
        closed.push(await readWhen(api, 'early-2', (t) => t.state === 'Settled'));
        const status = await eventually(
          () => shard.query(shardStatusQuery),
          (s) => s.digests === 0,
          10_000,
        );
        expect(status.digests, 'the batch left the shard').toBe(0);
        // Far from short of room: it was the batch, not the room, that sent them.
        expect(status.snapshotBytes).toBeLessThan(status.capacityBytes / 10);
        for (const timer of closed) expect(await read(api, timer.id)).toEqual(timer);
      },
      { parkAfterMs: 10 * MINUTE, retireAfterDigests: 3 },
    );
  });
});

describe('dead letters', () => {
  test('a webhook failing every retry is dead-lettered and listed, and a replay delivers it', async () => {
    await scenario('dead letter replay', 2, async ({ api, target, deadLetters }) => {
      target.answerWith(503);
      await create(api, {
        id: 'flaky',
        delayMs: MINUTE,
        action: webhook(target, { order: 66 }),
        retry: { maxAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 2 },
      });
      await env.sleep(MINUTE + 10_000);
      const dead = await readWhen(api, 'flaky', (t) => t.state === 'DeadLettered');
      expect(dead).toMatchObject({ attempts: 3, lastError: 'HTTP 503' });
      expect(target.requests.map((r) => r.attempt)).toEqual([1, 2, 3]);
      expect(new Set(target.requests.map((r) => r.deliveryId))).toEqual(new Set([dead.deliveryId]));
      expect(target.requests.every((r) => r.verified)).toBe(true);
      // Backoff: the second attempt a second after the first failed, the third two seconds after that.
      expect(ms(dead.deadLetteredAt) - ms(dead.firedAt)).toBeGreaterThanOrEqual(3_000);

      const listed = (await (await fetch(`${api}/timers/dead-letters`)).json()) as {
        deadLetters: DeadLetter[];
      };
      expect(listed.deadLetters).toEqual([
        expect.objectContaining({
          timerId: 'flaky',
          attempts: 3,
          lastError: 'HTTP 503',
          deliveryId: dead.deliveryId,
        }),
      ]);
      const byState = (await (await fetch(`${api}/timers?state=DeadLettered`)).json()) as {
        timers: TimerRecord[];
      };
      expect(byState.timers.map((t) => t.id)).toEqual(['flaky']);
      // The record is also kept outside Temporal, in the dead-letter file.
      expect(await deadLetters.list()).toEqual(listed.deadLetters);

      target.answerWith(204);
      const replay = await postJson(`${api}/timers/flaky/replay`, {});
      expect(replay.status).toBe(202);
      const settled = await readWhen(api, 'flaky', (t) => t.state === 'Settled');
      expect(settled).toMatchObject({ replays: 1, attempts: 1, settledBy: 'delivery' });
      expect(settled.lastError).toBeUndefined();
      expect(target.delivered()).toEqual([
        expect.objectContaining({ deliveryId: dead.deliveryId, payload: { order: 66 }, verified: true }),
      ]);
      expect(
        ((await (await fetch(`${api}/timers/dead-letters`)).json()) as { deadLetters: [] }).deadLetters,
      ).toEqual([]);
      expect((await postJson(`${api}/timers/flaky/replay`, {})).status).toBe(409);
    });
  });

  test('a webhook refused with a 4xx is dead-lettered without retries', async () => {
    await scenario('dead letter refused', 2, async ({ api, target }) => {
      target.answerWith(410);
      await create(api, { id: 'refused', delayMs: MINUTE, action: webhook(target) });
      await env.sleep(2 * MINUTE);
      const dead = await readWhen(api, 'refused', (t) => t.state === 'DeadLettered');
      expect(dead).toMatchObject({ attempts: 1, lastError: 'HTTP 410' });
      // Discarding a dead letter is a cancel.
      const discard = await fetch(`${api}/timers/refused`, { method: 'DELETE' });
      expect(await discard.json()).toMatchObject({ state: 'Cancelled' });
    });
  });

  test('a webhook to an address the outbound policy refuses is dead-lettered at once, naming the rule', async () => {
    await scenario('dead letter outbound policy', 2, async ({ api, deadLetters }) => {
      await create(api, {
        id: 'metadata',
        delayMs: MINUTE,
        action: {
          type: 'webhook',
          url: 'http://169.254.169.254/latest/meta-data/',
          headers: { authorization: 'Bearer s3cret' },
        },
        retry: { maxAttempts: 5 },
      });
      await env.sleep(2 * MINUTE);
      const dead = await readWhen(api, 'metadata', (t) => t.state === 'DeadLettered');
      const lastError =
        'refused: 169.254.169.254 is a link-local address; allow it with SWOOSH_OUTBOUND_ALLOW';
      expect(dead).toMatchObject({ attempts: 1, lastError });
      const [letter] = await deadLetters.list();
      expect(letter).toMatchObject({ timerId: 'metadata', attempts: 1, lastError });
      expect(JSON.stringify(letter)).not.toContain('s3cret');
    });
  });
});

describe('workflow actions', () => {
  test('a signal action and an update action reach a waiting workflow; a rejected update is dead-lettered', async () => {
    await scenario('workflow actions', 2, async ({ api, client, taskQueue }) => {
      const workflowId = `${taskQueue}-approval`;
      const approval = await client.workflow.start(approvalTargetWorkflow, { workflowId, taskQueue });
      try {
        await create(api, {
          id: 'deadline-signal',
          delayMs: 10 * MINUTE,
          action: { type: 'signal', workflowId, signalName: 'approvalDeadline', args: ['window closed'] },
        });
        await create(api, {
          id: 'deadline-update',
          delayMs: 10 * MINUTE,
          action: { type: 'update', workflowId, updateName: 'expireApproval', args: ['quorum missed'] },
        });
        await create(api, {
          id: 'deadline-refused',
          delayMs: 10 * MINUTE,
          action: { type: 'update', workflowId, updateName: 'expireApproval', args: ['refuse'] },
        });
        await create(api, {
          id: 'deadline-nowhere',
          delayMs: 10 * MINUTE,
          retry: { maxAttempts: 2, initialIntervalMs: 1_000 },
          action: { type: 'signal', workflowId: `${taskQueue}-missing`, signalName: 'approvalDeadline' },
        });
        // All due together: one firing delivers a signal, an accepted and a rejected update.
        await env.sleep(11 * MINUTE);

        const received = await eventually(
          () => approval.query(receivedQuery),
          (r) => r.length === 2,
          15_000,
        );
        expect([...received].sort()).toEqual(['signal:window closed', 'update:quorum missed']);
        await readWhen(api, 'deadline-signal', (t) => t.state === 'Settled');
        await readWhen(api, 'deadline-update', (t) => t.state === 'Settled');
        const refused = await readWhen(api, 'deadline-refused', (t) => t.state === 'DeadLettered');
        expect(refused).toMatchObject({ attempts: 1 });
        expect(refused.lastError).toContain('update rejected');
        const nowhere = await readWhen(api, 'deadline-nowhere', (t) => t.state === 'DeadLettered');
        expect(nowhere.attempts).toBe(2);
      } finally {
        await approval.terminate('test finished');
      }
    });
  });
});

describe('owner halt', () => {
  /** A broadcast command endorsed by `owners`, countersigned by a gateway key, issued at the server's `at`. */
  function ownerCommand(
    action: 'pause' | 'resume',
    id: string,
    at: number,
    owners: readonly Signer[],
  ): SignedOwnerCommand {
    const command = { action, id, actor: 'alice', reason: `test ${action}` } as const;
    const signed = signOwnerCommand(command, { missionId: null, issuedAtMs: at }, generateSigner().signer);
    const bytes = ownerCommandSigningBytes(signed);
    return {
      ...signed,
      ...(owners.length > 0 && {
        endorsements: owners.map((o) => ({ signer: o.keyId, signature: o.sign(bytes) })),
      }),
    };
  }

  test('a halted shard fires nothing; the lift fires what fell due, once, flagged; only fresh owner-signed commands count', async () => {
    const owner = generateSigner().signer;
    const stranger = generateSigner().signer;
    const owners = { keys: [owner.keyId], quorum: 1 };
    await scenario(
      'owner halt',
      1,
      async ({ api, client, idPrefix, target }) => {
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        const created = await create(api, { id: 'held', delayMs: 10 * MINUTE, action: webhook(target) });
        const refusal = async (command: SignedOwnerCommand, lift = false) => {
          const sent = lift
            ? shard.executeUpdate(liftTimersUpdate, { args: [command] })
            : shard.executeUpdate(haltTimersUpdate, { args: [command] });
          const error = await sent.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
          return ((error as WorkflowUpdateFailedError).cause as ApplicationFailure).message;
        };
        const now = await env.currentTimeMs();
        expect(await refusal(ownerCommand('pause', 'p0', now, []))).toMatch(/0 owner key\(s\).*1 needed/);
        expect(await refusal(ownerCommand('pause', 'p0', now, [stranger]))).toMatch(/0 owner key/);
        expect(await refusal(ownerCommand('pause', 'p0', now - 20 * MINUTE, [owner]))).toMatch(/stale/);
        expect(await refusal(ownerCommand('resume', 'p0', now, [owner]))).toMatch(/expected a pause/);
        const forged = ownerCommand('pause', 'p0', now, [owner]);
        expect(
          await refusal({ ...forged, command: { ...forged.command, reason: 'not what was signed' } }),
        ).toMatch(/does not verify/);
        expect((await shard.query(shardStatusQuery)).halt).toBeNull();

        const halt = await shard.executeUpdate(haltTimersUpdate, {
          args: [ownerCommand('pause', 'p1', now, [owner])],
        });
        expect(halt).toMatchObject({ commandId: 'p1', actor: 'alice', signers: [owner.keyId] });

        // A resume issued before the halt (copied from an older lift) cannot lift it.
        expect(await refusal(ownerCommand('resume', 'r0', now - MINUTE, [owner]), true)).toMatch(
          /issued before the halt/,
        );

        await env.sleep(20 * MINUTE);
        await quiesce();
        expect(await read(api, 'held')).toMatchObject({ state: 'Armed', heldByHalt: 'p1' });
        expect(target.requests).toEqual([]);
        expect((await shard.query(shardStatusQuery)).halt).toMatchObject({ commandId: 'p1', held: 1 });

        const lifted = await shard.executeUpdate(liftTimersUpdate, {
          args: [ownerCommand('resume', 'r1', await env.currentTimeMs(), [owner])],
        });
        expect(lifted).toEqual({ released: 1 });
        const fired = await readWhen(api, 'held', (t) => t.state === 'Settled');
        expect(fired.heldByHalt).toBe('p1');
        expect(fired.latenessMs).toBeGreaterThanOrEqual(10 * MINUTE);
        expect(fired.latenessMs).toBe(ms(fired.firedAt) - ms(created.dueAt));
        expect(target.delivered().map((d) => d.timerId)).toEqual(['held']);
        expect((await shard.query(shardStatusQuery)).halt).toBeNull();
      },
      { owners },
    );
  });
});

describe('continue-as-new', () => {
  test('a shard continues-as-new carrying its pending timers, each still fires exactly once, and later starts reuse it', async () => {
    await scenario(
      'continue as new',
      1,
      async ({ api, client, target, idPrefix, taskQueue, ledgerDir, shardSettings }) => {
        const ids = Array.from({ length: 30 }, (_, i) => `can-${String(i).padStart(2, '0')}`);
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        // One update for all 30, so the shard continues-as-new while firing them rather than
        // under a stream of creates: the Java test server once stranded an update that arrived
        // while a run was closing (its task completion answered "workflow execution already
        // completed" and the caller waited forever).
        await ensureTimerShards(client, taskQueue, 1, { idPrefix, settings: shardSettings });
        await shard.executeUpdate(createTimersUpdate, {
          args: [{ specs: ids.map((id, i) => ({ id, delayMs: (i + 1) * MINUTE, action: webhook(target) })) }],
        });
        const status = await shard.query(shardStatusQuery);
        expect(status).toMatchObject({ runs: 0, timers: 30 });

        await env.sleep(31 * MINUTE);
        await expectDeliveredOnce(target, ids, 20_000);
        const final = await shard.query(shardStatusQuery);
        // Each run fires a few timers and hands the rest on.
        expect(final.runs).toBeGreaterThan(1);
        expect(final.counters.fired).toBe(30);
        expect(final.byState).toEqual({ Settled: 30 });
        // Across the runs the event log and the shard's ledger hold every step once, in order:
        // what a run had not written when it continued went on in its snapshot.
        await quiesce();
        await expectEachStoryOnce(taskQueue, ids);
        const { records } = await readLedger(ledgerDir, shardWorkflowId(idPrefix, 0));
        const closed = records.flatMap((r) => (r.kind === 'timer-closed' ? [r.timer_id] : []));
        expect(closed.sort()).toEqual(ids);

        // A create (Update-with-Start) and the worker's boot-time start and configure both reach
        // the run continue-as-new got to: the settled timers and the counters are still there.
        await create(api, { id: 'can-late', delayMs: HOUR, action: webhook(target) });
        await ensureTimerShards(client, taskQueue, 1, {
          idPrefix,
          settings: shardSettings,
          configure: true,
        });
        const reused = await shard.query(shardStatusQuery);
        expect(reused.runs).toBeGreaterThanOrEqual(final.runs);
        expect(reused.counters.fired).toBe(30);
        expect((await read(api, 'can-00')).state).toBe('Settled');
        expect((await read(api, 'can-late')).state).toBe('Scheduled');
      },
      { maxHistoryEvents: 60 },
    );
  });
});

describe('draining', () => {
  test('a shard that continues as new again and again while firing writes every event once, in order, and delivers every timer once, and closes each run with no durable timer about to fire', async () => {
    await scenario(
      'drain while firing',
      1,
      async ({ client, target, idPrefix, taskQueue, shardSettings }) => {
        // Slow answers keep deliveries running while timers keep falling due every 50 ms.
        target.answerAfter(1_500);
        const ids = Array.from({ length: 60 }, (_, i) => `drain-${String(i).padStart(2, '0')}`);
        const shard = client.workflow.getHandle(shardWorkflowId(idPrefix, 0));
        await ensureTimerShards(client, taskQueue, 1, { idPrefix, settings: shardSettings });
        await shard.executeUpdate(createTimersUpdate, {
          args: [{ specs: ids.map((id, i) => ({ id, delayMs: MINUTE + i * 50, action: webhook(target) })) }],
        });
        await env.sleep(MINUTE);
        await expectDeliveredOnce(target, ids, 60_000);
        await quiesce();

        // Runs drained while timers kept falling due; what one had not written when it continued
        // went on in its snapshot (docs/timers.md#inside-a-shard), for the next run to write.
        expect((await shard.query(shardStatusQuery)).runs).toBeGreaterThan(1);
        // The last run writes the events its predecessor handed on once their hold (a second) is up.
        await env.sleep(2_000);
        await quiesce();
        await expectEachStoryOnce(taskQueue, ids);

        // A durable timer firing while the closing task is with the worker makes Temporal refuse
        // the continue-as-new, and the retried task replays the whole run. Each run closed with
        // none due within a second of its closing task (TIMER_QUIET_CLOSE_PATCH).
        const runs = await historiesOfEveryRun(client, shardWorkflowId(idPrefix, 0));
        const left = runs.flatMap((events) => timersLeftAtClose(events) ?? []);
        expect(runs.length).toBeGreaterThan(2);
        for (const due of left) expect(due).toBeGreaterThan(1_000);
      },
      { maxHistoryEvents: 60 },
    );
  });
});

describe('the API', () => {
  test('lists timers across shards in due order, page by page, and by state', async () => {
    await scenario('listing', 3, async ({ api, target }) => {
      const ids = Array.from({ length: 7 }, (_, i) => `list-${i}`);
      for (const [i, id] of ids.entries()) {
        await create(api, { id, delayMs: (7 - i) * HOUR, action: webhook(target) });
      }
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const res = await fetch(`${api}/timers?limit=3${next ? `&after=${next}` : ''}`);
        expect(res.status).toBe(200);
        const page = (await res.json()) as { timers: TimerRecord[]; next?: string };
        expect(page.timers.length).toBeLessThanOrEqual(3);
        seen.push(...page.timers.map((t) => t.id));
        next = page.next;
      } while (next);
      expect(seen).toEqual([...ids].reverse());

      await env.sleep(HOUR + 1_000);
      await readWhen(api, 'list-6', (t) => t.state === 'Settled');
      const settled = (await (await fetch(`${api}/timers?state=Settled`)).json()) as {
        timers: TimerRecord[];
      };
      expect(settled.timers.map((t) => t.id)).toEqual(['list-6']);
    });
  });

  const invalid: [string, unknown, string][] = [
    ['both dueAt and delayMs', { dueAt: '2030-01-01T00:00:00Z', delayMs: 5 }, 'body.dueAt'],
    ['neither dueAt nor delayMs', { delayMs: undefined }, 'body.dueAt'],
    ['a negative delay', { delayMs: -1 }, 'body.delayMs'],
    ['a malformed id', { id: 'has space' }, 'body.id'],
    ['a reserved id', { id: 'dead-letters' }, 'body.id'],
    ['a non-http webhook', { action: { type: 'webhook', url: 'file:///etc/passwd' } }, 'body.action.url'],
    ['an unknown action', { action: { type: 'email', to: 'x' } }, 'body.action.type'],
    [
      'a header SWOOSH sets itself',
      { action: { type: 'webhook', url: 'http://127.0.0.1:9/', headers: { 'X-Swoosh-Signature': 'x' } } },
      'body.action.headers.X-Swoosh-Signature',
    ],
    ['a timer depending on itself', { dependsOn: ['bad-input'] }, 'body.dependsOn'],
    ['an unknown field', { owner: 'mallory' }, 'body.owner'],
    [
      'a chain repeating an id',
      {
        chain: { id: 'bad-input', delayMs: 1, action: { type: 'signal', workflowId: 'w', signalName: 's' } },
      },
      'body.chain.id',
    ],
  ];

  test('refuses malformed requests with a 400 naming the field, and creates nothing', async () => {
    await scenario('validation', 2, async ({ api }) => {
      const base = {
        id: 'bad-input',
        delayMs: 1_000,
        action: { type: 'webhook', url: 'http://127.0.0.1:9/' },
      };
      for (const [name, change, field] of invalid) {
        const res = await postJson(`${api}/timers`, { ...base, ...(change as object) });
        expect(res.status, name).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        const problem = (await res.json()) as { errors: { field: string }[] };
        expect(
          problem.errors.map((e) => e.field),
          name,
        ).toContain(field);
      }
      for (const [query, field] of [
        ['state=Bogus', 'query.state'],
        ['limit=0', 'query.limit'],
        ['after=nonsense', 'query.after'],
        ['colour=red', 'query.colour'],
      ]) {
        const res = await fetch(`${api}/timers?${query}`);
        expect(res.status, query).toBe(400);
        expect(((await res.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(
          field,
        );
      }
      const badId = await fetch(`${api}/timers/${encodeURIComponent('no spaces')}`);
      expect(badId.status).toBe(400);
      expect((await postJson(`${api}/timers/bad-input/ack`, { by: '' })).status).toBe(400);

      expect((await fetch(`${api}/timers/bad-input`)).status).toBe(404);
      const listing = (await (await fetch(`${api}/timers`)).json()) as { timers: TimerRecord[] };
      expect(listing.timers).toEqual([]);
    });
  });

  test('refuses commands the timer is not in a state for', async () => {
    await scenario('state conflicts', 2, async ({ api, target }) => {
      await create(api, { id: 'waiting', delayMs: HOUR, action: webhook(target) });
      const ack = await postJson(`${api}/timers/waiting/ack`, {});
      expect(ack.status).toBe(409);
      expect(((await ack.json()) as { detail: string }).detail).toBe(
        'a Scheduled timer cannot be acknowledged',
      );
      expect((await postJson(`${api}/timers/waiting/replay`, {})).status).toBe(409);
      expect((await postJson(`${api}/timers/nobody/ack`, {})).status).toBe(404);
      expect((await fetch(`${api}/timers/nobody`)).status).toBe(404);
    });
  });
});
