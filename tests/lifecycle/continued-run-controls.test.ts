/**
 * A continued run keeps the owner controls its snapshot carries (docs/lifecycle.md#execution-loop-and-windows):
 * budgets and the commands applied stay in force, and the next owner record takes the next `seq`.
 * Before SNAPSHOT_CARRIES_CONTROLS_PATCH a continued run started from the defaults, so its first
 * owner record reused the number of one already in the ledger, which refused it for good (the
 * chaos run found it: a resume-all after a continue-as-new never reached the ledger).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { dataPaths } from '../../host/data-dir';
import { readLedger, verifyLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import type { MissionView } from '../../schemas/mission';
import { stateQuery } from '../../schemas/mission-messages';
import { OWNER_RECORD_SEQ_BASE } from '../../workflows/mission/owner-controls';
import { SNAPSHOT_CARRIES_CONTROLS_PATCH } from '../../workflows/mission/workflow';
import {
  type LongHistoryFixture,
  LATENCY_BEFORE,
  ownerCommandsAcrossContinueAsNew,
  REROUTE_AFTER,
  startLongHistoryFixture,
} from '../chaos/long-history';
import { eventually } from '../support/temporal';
import { newSigner } from './support/missions';

const { EventType } = proto.temporal.api.enums.v1;

const controller = newSigner();
let fx: LongHistoryFixture;
let env: TestWorkflowEnvironment;
let deps: ActivityDeps;
let continued: MissionView;
let secondRunId: string;

const view = () => env.client.workflow.getHandle(fx.m.workflowId).query(stateQuery);
const ownerRecords = async () =>
  (await readLedger(dataPaths(deps.dataDir).ledgerDir, fx.m.missionId)).records.filter(
    (r): r is DecisionRecord => r.kind === 'decision' && r.seq >= OWNER_RECORD_SEQ_BASE,
  );

beforeAll(async () => {
  fx = await startLongHistoryFixture('continued run controls', 200, [controller.key]);
  ({ env, deps } = fx);
  ({ secondRunId, continued } = await ownerCommandsAcrossContinueAsNew(env.client, fx.m, controller));
}, 240_000);

afterAll(() => fx?.stop());

describe('a continued run keeps the owner controls of the run before it', () => {
  test('the budgets and the applied command are in force after the continue-as-new', () => {
    expect(secondRunId).not.toBe(fx.m.firstRunId);
    expect(continued.controls?.latency.short).toBe(LATENCY_BEFORE.budgets.short);
    expect(continued.controls?.applied.map((a) => a.id)).toEqual([LATENCY_BEFORE.id]);
  });

  test('the next owner command is applied on top of them', async () => {
    const v = await view();
    expect(v.controls?.agentTaskQueue).toBe(REROUTE_AFTER.taskQueue);
    expect(v.controls?.latency.short).toBe(LATENCY_BEFORE.budgets.short);
    expect(v.controls?.applied.map((a) => [a.id, a.applied])).toEqual([
      [LATENCY_BEFORE.id, true],
      [REROUTE_AFTER.id, true],
    ]);
  });

  test('its owner record takes the next seq, and the ledger verifies', async () => {
    // The record is appended after the state shows the command applied.
    const records = await eventually(ownerRecords, (r) => r.length === 2, 30_000);
    expect(records.map((r) => [r.idem_key, r.transition, r.seq])).toEqual([
      [`owner:${LATENCY_BEFORE.id}`, 'Owner_LatencyBudget', OWNER_RECORD_SEQ_BASE],
      [`owner:${REROUTE_AFTER.id}`, 'Owner_Reroute', OWNER_RECORD_SEQ_BASE + 1],
    ]);
    const verdict = await verifyLedger(dataPaths(deps.dataDir).ledgerDir, fx.m.missionId, [
      deps.orchestrator.keyId,
    ]);
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
  });

  test('the continued run started under the patch', async () => {
    const history = await env.client.workflow.getHandle(fx.m.workflowId, secondRunId).fetchHistory();
    const patches = (history.events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED)
      .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
      .map((p) => new TextDecoder().decode(p.payloads?.[0]?.data ?? new Uint8Array()));
    expect(patches.some((p) => p.includes(SNAPSHOT_CARRIES_CONTROLS_PATCH))).toBe(true);
  });
});
