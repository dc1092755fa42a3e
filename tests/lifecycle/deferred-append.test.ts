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

type Event = proto.temporal.api.history.v1.IHistoryEvent;
const PROPOSALS = 12;

let fx: LongHistoryFixture;
let m: LongHistoryMission;
let events: Event[];

beforeAll(async () => {
  fx = await startLongHistoryFixture('deferred append', 10_000);
  m = fx.m;
  for (let i = 0; i < PROPOSALS; i++) await m.propose();
  const last = m.accepted.at(-1)!.idem_key;
  // The last answer's append may still be running: read the history once it has completed.
  events = await eventually(
    async () => (await fx.env.client.workflow.getHandle(m.workflowId).fetchHistory()).events ?? [],
    (all) => appendsOf(all).some((a) => a.drafts.includes(last) && a.completedAt !== undefined),
    30_000,
  );
}, 180_000);

afterAll(() => fx?.stop());

const decode = (data: Uint8Array | null | undefined): string => Buffer.from(data ?? []).toString('utf8');

/** Each `recordDecisions` activity: the idem keys it carried and the event that completed it. */
function appendsOf(all: Event[]): { drafts: string[]; completedAt: number | undefined }[] {
  return all.flatMap((e) => {
    const task = e.activityTaskScheduledEventAttributes;
    if (task?.activityType?.name !== 'recordDecisions') return [];
    const drafts = (JSON.parse(decode(task.input?.payloads?.[0]?.data)) as { idem_key: string }[]).map(
      (d) => d.idem_key,
    );
    const completed = all.find(
      (c) => Number(c.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === Number(e.eventId),
    );
    return [{ drafts, completedAt: completed ? Number(completed.eventId) : undefined }];
  });
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
