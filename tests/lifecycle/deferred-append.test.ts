/**
 * The decision ledger's append off the transition's path (docs/lifecycle.md#the-ledger-append): a
 * `transition` Update answers in the workflow task that accepts it, which schedules its decision's
 * append (or queues it behind the append already running or gathering decisions); the ledger then
 * holds every decision history holds, once, in history's order.
 */
import type proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { readLedger, verifyLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import {
  type LongHistoryFixture,
  type LongHistoryMission,
  startLongHistoryFixture,
} from '../chaos/long-history';
import { eventually } from '../support/temporal';
import { BATCH, COALESCE_MS } from '../../workflows/mission/decision-appends';

type Event = proto.temporal.api.history.v1.IHistoryEvent;
const PROPOSALS = 12;
/** Proposals keep coming, one after another, for at least this long: several gathering windows. */
const STREAM_MS = 3 * COALESCE_MS;
/**
 * At most 40 proposals a second: no batch fills up (BATCH) and goes before its second is up, and
 * more than one arrives during an append's round trip, so appends complete with decisions queued.
 */
const PACE_MS = 25;

let fx: LongHistoryFixture;
let m: LongHistoryMission;
let events: Event[];
let streamMs: number;

let quiet: string;

const history = async (): Promise<Event[]> =>
  (await fx.env.client.workflow.getHandle(m.workflowId).fetchHistory()).events ?? [];

const historyOnceAppended = (idemKey: string) =>
  eventually(
    history,
    (all) => appendsOf(all).some((a) => a.drafts.includes(idemKey) && a.completedAt !== undefined),
    30_000,
  );

/** The stream has run STREAM_MS with PROPOSALS answered and spans STREAM_APPENDS appends. */
const STREAM_APPENDS = 3;

beforeAll(async () => {
  fx = await startLongHistoryFixture('deferred append', 10_000);
  m = fx.m;
  const start = Date.now();
  let lookedAt = start;
  const streaming = async (): Promise<boolean> => {
    if (m.accepted.length < PROPOSALS || Date.now() - start < STREAM_MS) return true;
    // On a loaded machine an append can outlast several gathering windows, so the time alone
    // may span too few appends to show their spacing: keep going until it does.
    if (Date.now() - lookedAt < COALESCE_MS / 2) return true;
    lookedAt = Date.now();
    return appendsOf(await history()).filter(carriesStream).length < STREAM_APPENDS;
  };
  while (await streaming()) await Promise.all([m.propose(), new Promise((r) => setTimeout(r, PACE_MS))]);
  streamMs = Date.now() - start;
  // The last answer's append may still be running: wait until it has completed, then a quiet
  // second, then one more proposal.
  await historyOnceAppended(m.accepted.at(-1)!.idem_key);
  await new Promise((r) => setTimeout(r, COALESCE_MS + 200));
  await m.propose();
  quiet = m.accepted.at(-1)!.idem_key;
  events = await historyOnceAppended(quiet);
}, 180_000);

afterAll(() => fx?.stop());

const decode = (data: Uint8Array | null | undefined): string => Buffer.from(data ?? []).toString('utf8');

/**
 * Each `recordDecisions` activity: the idem keys it carried, the event that scheduled it and the
 * one that completed it.
 */
function appendsOf(
  all: Event[],
): { drafts: string[]; scheduledAt: number; completedAt: number | undefined }[] {
  return all.flatMap((e) => {
    const task = e.activityTaskScheduledEventAttributes;
    if (task?.activityType?.name !== 'recordDecisions') return [];
    const drafts = (JSON.parse(decode(task.input?.payloads?.[0]?.data)) as { idem_key: string }[]).map(
      (d) => d.idem_key,
    );
    const completed = all.find(
      (c) => Number(c.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === Number(e.eventId),
    );
    return [
      {
        drafts,
        scheduledAt: Number(e.eventId),
        completedAt: completed ? Number(completed.eventId) : undefined,
      },
    ];
  });
}

/** An append that opens with a decision this test proposed. */
const carriesStream = (a: { drafts: string[] }): boolean =>
  m.accepted.some((d) => d.idem_key === a.drafts[0]);

/** When the workflow task that recorded event `id` started, in ms: the workflow's time in it. */
function taskTimeBefore(id: number): number {
  const started = [...events]
    .reverse()
    .find((e) => Number(e.eventId) < id && e.workflowTaskStartedEventAttributes);
  if (!started?.eventTime) throw new Error(`no workflow task started before event ${id}`);
  return Number(started.eventTime.seconds) * 1000 + Math.floor((started.eventTime.nanos ?? 0) / 1e6);
}

/** The event that answered the update `id` (the proposal's idem key). */
function answerOf(id: string): number {
  const answer = events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId === id);
  if (!answer) throw new Error(`no answer to ${id} in history`);
  return Number(answer.eventId);
}

describe('a transition answers before its decision is in the ledger, and the ledger catches up', () => {
  test('every accepted proposal was answered before the append carrying its decision completed', () => {
    const appends = appendsOf(events);
    for (const { idem_key } of m.accepted) {
      const append = appends.find((a) => a.drafts.includes(idem_key));
      expect(append, idem_key).toBeDefined();
      expect(answerOf(idem_key)).toBeLessThan(append!.completedAt!);
    }
  });

  test('every decision is carried by exactly one append, in the order history accepted them', () => {
    const carried = appendsOf(events).flatMap((a) => a.drafts);
    const outside = carried.filter((k) => m.accepted.some((a) => a.idem_key === k));
    expect(outside).toEqual(m.accepted.map((a) => a.idem_key));
    expect(new Set(carried).size).toBe(carried.length);
  });

  test('proposals answered in quick succession share appends', () => {
    const carrying = appendsOf(events).filter((a) =>
      a.drafts.some((k) => m.accepted.some((d) => d.idem_key === k)),
    );
    expect(carrying.length).toBeLessThan(m.accepted.length);
    expect(Math.max(...carrying.map((a) => a.drafts.length))).toBeGreaterThan(1);
  });

  test('a steady stream shares appends too: batches start a second apart', () => {
    const stream = appendsOf(events).filter((a) => !a.drafts.includes(quiet) && carriesStream(a));
    expect(Math.max(...stream.map((a) => a.drafts.length))).toBeLessThan(BATCH);
    // Workflow time is the start of the task that schedules the append.
    const gaps = stream
      .slice(1)
      .map((a, i) => taskTimeBefore(a.scheduledAt) - taskTimeBefore(stream[i]!.scheduledAt));
    expect(gaps.length).toBeGreaterThan(1);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(COALESCE_MS);
    expect(stream.length).toBeLessThanOrEqual(Math.ceil(streamMs / COALESCE_MS) + 1);
  });

  test('a decision after a quiet spell waits a second for others before its append', () => {
    const append = appendsOf(events).find((a) => a.drafts.includes(quiet))!;
    expect(append.drafts).toEqual([quiet]);
    expect(taskTimeBefore(append.scheduledAt) - taskTimeBefore(answerOf(quiet))).toBeGreaterThanOrEqual(
      COALESCE_MS,
    );
  });

  test('the ledger holds each decision once, in seq order, with the answered hashes, and verifies', async () => {
    const { records } = await readLedger(dataPaths(fx.deps.dataDir).ledgerDir, m.missionId);
    const decisions = records.filter((r): r is DecisionRecord => r.kind === 'decision');
    expect(decisions.map((d) => d.seq)).toEqual(decisions.map((_, i) => i + 1));
    const outside = decisions.filter((d) => m.accepted.some((a) => a.idem_key === d.idem_key));
    expect(outside.map((d) => d.post_state_hash)).toEqual(m.accepted.map((a) => a.post_hash));
    const verified = await verifyLedger(dataPaths(fx.deps.dataDir).ledgerDir, m.missionId, [
      fx.deps.orchestrator.keyId,
    ]);
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
  });
});
