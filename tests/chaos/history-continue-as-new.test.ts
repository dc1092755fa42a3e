/**
 * History-driven continue-as-new (docs/lifecycle.md#history-driven-continue-as-new): a mission
 * that completes no beat, moved only by outside proposals, continues as new once its history passes
 * `maxEvents` — the chaos run's stall (docs/chaos.md#what-it-found). The new run must carry the
 * state and HEAD, the idempotency table (a repeat is answered from it), the ledger must hold every
 * accepted proposal once in an unbroken chain, and proposals after it must still be accepted.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { dataPaths } from '../../host/data-dir';
import { readLedger, verifyLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import { stateQuery } from '../../schemas/mission-messages';
import type { StateDocument } from '../../schemas/state-document';
import type { MissionSnapshot } from '../../workflows/mission/engine';
import { HISTORY_CONTINUE_AS_NEW_PATCH } from '../../workflows/mission/history';
import { QUIET_CONTINUE_AS_NEW_PATCH } from '../../workflows/mission/workflow';
import { timersLeftAtClose } from '../support/closing';
import { eventually } from '../support/temporal';
import {
  type LongHistoryFixture,
  type LongHistoryMission,
  startLongHistoryFixture,
  untilContinuedAsNew,
} from './long-history';

const { EventType } = proto.temporal.api.enums.v1;
const MAX_EVENTS = 200;

let env: TestWorkflowEnvironment;
let deps: ActivityDeps;
let fx: LongHistoryFixture;
let m: LongHistoryMission;
type Viewed = { state: StateDocument; hash: string; phase: string };
let firstRunEvents: proto.temporal.api.history.v1.IHistoryEvent[];

beforeAll(async () => {
  fx = await startLongHistoryFixture('history continue-as-new', MAX_EVENTS);
  ({ env, deps, m } = fx);
  await untilContinuedAsNew(env.client, m);
  const history = await env.client.workflow.getHandle(m.workflowId, m.firstRunId).fetchHistory();
  firstRunEvents = history.events ?? [];
}, 180_000);

afterAll(() => fx?.stop());

const decisions = async () =>
  (await readLedger(dataPaths(deps.dataDir).ledgerDir, m.missionId)).records.filter(
    (r): r is DecisionRecord => r.kind === 'decision',
  );

/** The ids of the patches a run's history records (its `core_patch` markers). */
const patchIds = (events: readonly proto.temporal.api.history.v1.IHistoryEvent[]): string[] =>
  events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
    .map((p) => (JSON.parse(decode(p.payloads?.[0]?.data)) as { id: string }).id);

describe('a mission whose history grows without a beat continues as new', () => {
  test('the first run ended in continue-as-new past maxEvents, under the patch, with no beat completed', () => {
    expect(firstRunEvents.at(-1)?.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
    expect(firstRunEvents.length).toBeGreaterThanOrEqual(MAX_EVENTS);
    expect(patchIds(firstRunEvents)).toContain(HISTORY_CONTINUE_AS_NEW_PATCH);
    const { snapshot } = continuedWith();
    expect(snapshot.beatsCompleted).toBe(0);
    expect(snapshot.state.execution.phase).toBe('IDLE');
  });

  test('the first run let its publish timer fire before it sealed: no durable timer was due within a second of its closing task', () => {
    expect(patchIds(firstRunEvents)).toContain(QUIET_CONTINUE_AS_NEW_PATCH);
    const left = timersLeftAtClose(firstRunEvents);
    expect(left).toBeDefined();
    for (const due of left!) expect(due).toBeGreaterThan(1_000);
  });

  test('the new run starts from the HEAD the first run last answered, with the same limits', async () => {
    const { snapshot, history } = continuedWith();
    const inFirstRun = firstRunUpdates();
    const lastOfFirstRun = m.accepted.find((a) => a.idem_key === inFirstRun.at(-1));
    expect(snapshot.hash).toBe(lastOfFirstRun?.post_hash);
    expect(snapshot.state.policy.policy_version).toBe(`v${inFirstRun.length}`);
    expect(history).toEqual({ maxEvents: MAX_EVENTS, maxBytes: 4 * 1024 * 1024 });
    // Any proposal after those went to the new run, on top of the snapshot.
    const v = (await env.client.workflow.getHandle(m.workflowId).query(stateQuery)) as unknown as Viewed;
    expect(v.hash).toBe(m.accepted.at(-1)!.post_hash);
    expect(v.state.council).toEqual(snapshot.state.council);
    expect(v.state.policy.policy_version).toBe(`v${m.accepted.length}`);
  });

  test('a proposal the first run accepted is answered as a repeat by the new run', async () => {
    // The first run's last proposal: the idempotency table keeps the newest entries of a class
    // (`idempotencyCapacity`), and a first run whose seal took many attempts accepted more than that.
    const inFirstRun = m.accepted.find((a) => a.idem_key === firstRunUpdates().at(-1))!;
    const repeatOf = firstRunProposal(inFirstRun.idem_key);
    const outcome = await m.send(repeatOf);
    expect(outcome).toMatchObject({ post_hash: inFirstRun.post_hash, duplicate: true });
  });

  test('proposals after it are accepted and continue the chain', async () => {
    const before = m.accepted.length;
    for (let i = 0; i < 3; i++) {
      const { outcome } = await m.propose();
      expect(outcome.duplicate).toBe(false);
    }
    expect(m.accepted).toHaveLength(before + 3);
    const v = (await env.client.workflow.getHandle(m.workflowId).query(stateQuery)) as unknown as Viewed;
    expect(v.hash).toBe(m.accepted.at(-1)!.post_hash);
  });

  test('the first run appended every decision it accepted before it continued as new', () => {
    const accepted = new Set(firstRunUpdates());
    const appended = firstRunEvents
      .flatMap((e) => {
        const task = e.activityTaskScheduledEventAttributes;
        if (task?.activityType?.name !== 'recordDecisions') return [];
        return JSON.parse(decode(task.input?.payloads?.[0]?.data)) as { idem_key: string }[];
      })
      .map((d) => d.idem_key);
    expect(appended.filter((k) => accepted.has(k))).toEqual([...accepted]);
    const scheduled = firstRunEvents.filter((e) => e.activityTaskScheduledEventAttributes).length;
    const done = firstRunEvents.filter((e) => e.activityTaskCompletedEventAttributes).length;
    expect(done).toBe(scheduled);
  });

  test('the ledger holds every accepted proposal once, in seq order, and verifies', async () => {
    // Appends trail the answers (docs/lifecycle.md#the-ledger-append): wait for the last one.
    const last = m.accepted.at(-1)!.idem_key;
    const records = await eventually(decisions, (all) => all.some((d) => d.idem_key === last), 30_000);
    const outside = records.filter((d) => m.accepted.some((a) => a.idem_key === d.idem_key));
    expect(outside.map((d) => d.idem_key)).toEqual(m.accepted.map((a) => a.idem_key));
    expect(outside.map((d) => d.post_state_hash)).toEqual(m.accepted.map((a) => a.post_hash));
    expect(records.map((d) => d.seq)).toEqual(records.map((_, i) => i + 1));
    const verified = await verifyLedger(dataPaths(deps.dataDir).ledgerDir, m.missionId, [
      deps.orchestrator.keyId,
    ]);
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
  });
});

const decode = (data: Uint8Array | null | undefined): string => Buffer.from(data ?? []).toString('utf8');

/** The second argument of the first run's continue-as-new: what crossed into the new run. */
function continuedWith(): { snapshot: MissionSnapshot; history: unknown } {
  const attributes = firstRunEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
  return JSON.parse(decode(attributes?.input?.payloads?.[1]?.data)) as {
    snapshot: MissionSnapshot;
    history: unknown;
  };
}

/** The update ids (idem_keys) the first run accepted, in order. */
function firstRunUpdates(): string[] {
  return firstRunEvents.flatMap((e) => {
    const id = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId;
    return id ? [id] : [];
  });
}

/** The proposal an accepted update of the first run carried, read back from its history. */
function firstRunProposal(idemKey: string): Parameters<LongHistoryMission['send']>[0] {
  const accepted = firstRunEvents.find(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId === idemKey,
  );
  const request = accepted?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
  return JSON.parse(decode(request?.input?.args?.payloads?.[0]?.data)) as Parameters<
    LongHistoryMission['send']
  >[0];
}
