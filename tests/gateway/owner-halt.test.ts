/**
 * A pause that holds, with an owner quorum of 2, through the gateway on a real dev server:
 * one owner's signature is refused; two halt the deployment, which the control workflow keeps;
 * a mission started while halted starts PAUSED; `GET /controls` shows the halt, its signers and
 * reason; resume-all lifts it; and `ledger verify` checks both owners' signatures in the records.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { coSign, draftOwnerCommand, getControls, sendOwnerCommand } from '../../api/owner-commands';
import { dataPaths } from '../../host/data-dir';
import { generateSigner, loadSigner } from '../../host/keys';
import { verifyLedger } from '../../ledger';
import { eventually } from '../support/temporal';
import {
  type GatewayFixture,
  type OwnedMission,
  startGatewayFixture,
  startOwnedMission,
} from './support/gateway';

const alice = generateSigner().signer;
const bob = generateSigner().signer;
let fx: GatewayFixture;
let running: OwnedMission;
let late: OwnedMission;

const phaseOf = async (m: OwnedMission) => {
  const r = await fx.as.viewer.getMission(m.id);
  if (!r.ok) throw new Error(`mission ${m.id}: ${r.status}`);
  return r.body;
};
const controls = async () => {
  const r = await getControls(fx.as.viewer);
  if (!r.ok) throw new Error(`controls: ${r.status}`);
  return r.body;
};
const key = (file: string, purpose: 'gateway' | 'orchestrator') =>
  loadSigner(file, purpose).then((s) => s.keyId);

beforeAll(async () => {
  fx = await startGatewayFixture('gateway-owner-halt', undefined, {
    ownerKeys: [alice.keyId, bob.keyId],
    ownerQuorum: 2,
  });
  running = await startOwnedMission(fx.as.operator);
  await eventually(
    () => phaseOf(running),
    (v) => ['PROJECT_LIFECYCLE', 'EXECUTION'].includes(v.phase),
    60_000,
  );
  await eventually(
    () => fx.as.viewer.listMissions({ pageSize: 100 }),
    (r) => r.ok && r.body.missions.some((x) => x.missionId === running.id),
    20_000,
  );
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

describe('a halt that holds, set by a quorum of two owners', () => {
  const pause = draftOwnerCommand(
    { action: 'pause' },
    { actor: 'test-owner', reason: 'incident 42: stop all agent work', id: 'halt-42' },
  );

  test('one owner signature is refused and changes nothing; the second owner co-signs and the deployment halts', async () => {
    const one = coSign(pause, alice);
    const refused = await sendOwnerCommand(fx.as.owner, one);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ title: 'Owner quorum not met', signers: [alice.keyId], quorum: 2 });
    expect(await controls()).toMatchObject({ halted: false, halt: null });

    const both = await sendOwnerCommand(fx.as.owner, coSign(one, bob));
    expect(both.status).toBe(202);
    expect(both.body).toMatchObject({ action: 'pause', signers: [alice.keyId, bob.keyId] });
    expect(await controls()).toEqual({
      halted: true,
      halt: {
        commandId: 'halt-42',
        action: 'pause',
        actor: 'test-owner',
        reason: 'incident 42: stop all agent work',
        issuedAt: new Date(pause.issued_at_ms).toISOString(),
        signers: [alice.keyId, bob.keyId],
        countersignedBy: await key(dataPaths(fx.dataDir).gatewayKey, 'gateway'),
      },
      lastLift: null,
      owners: { keys: [alice.keyId, bob.keyId], quorum: 2 },
    });
    const paused = await eventually(
      () => phaseOf(running),
      (v) => v.phase === 'PAUSED',
      30_000,
    );
    expect(paused.phase).toBe('PAUSED');
  });

  test('a mission started after pause-all starts PAUSED by the halt, recorded with both owners as signers', async () => {
    late = await startOwnedMission(fx.as.operator);
    const view = await eventually(
      () => phaseOf(late),
      (v) => v.controls?.applied.some((a) => a.id === 'halt-42') === true,
      60_000,
    );
    expect(view.phase).toBe('PAUSED');
    expect(view.controls?.applied[0]).toMatchObject({ id: 'halt-42', action: 'pause', applied: true });
    // By its start input (not a signal after the start): the gateway read the halt first.
    const history = await fx.env.client.workflow.getHandle(`mission-${late.id}`).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[1];
    const start = defaultPayloadConverter.fromPayload<{ halt?: { command: { id: string } } }>(payload!);
    expect(start.halt?.command.id).toBe('halt-42');
    // The owner record is appended after the mission shows the command applied.
    const ownerPause = async () => {
      const ledger = await fx.as.viewer.ledger(late.id, { pageSize: 500 });
      if (!ledger.ok) throw new Error('no ledger');
      return ledger.body.records.find((r) => r.kind === 'decision' && r.transition === 'Owner_Pause');
    };
    const record = await eventually(ownerPause, (r) => r !== undefined, 30_000);
    // Every ledger append (the owner record included) is an ordinary activity scheduled by a
    // completed workflow task, never a local activity run before its task was durable.
    const events = (await fx.env.client.workflow.getHandle(`mission-${late.id}`).fetchHistory()).events ?? [];
    const appends = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordDecisions',
    );
    expect(appends.length).toBeGreaterThan(0);
    expect(
      events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity'),
    ).toEqual([]);
    expect(record?.kind === 'decision' && record.owner_command?.signatures.map((s) => s.signer)).toEqual([
      await key(dataPaths(fx.dataDir).gatewayKey, 'gateway'),
      alice.keyId,
      bob.keyId,
    ]);
    // Still paused once BOOT has run: the halt holds until an owner lifts it.
    const later = await eventually(
      () => phaseOf(late),
      (v) => (v.state as { boot: { phase: string } } | undefined)?.boot.phase === 'LICENSED',
      60_000,
    );
    expect(later.phase).toBe('PAUSED');
  });

  test('ledger verify checks the owners’ signatures in the halted mission’s ledger', async () => {
    const paths = dataPaths(fx.dataDir);
    const orchestrator = await key(paths.orchestratorKey, 'orchestrator');
    const verified = await verifyLedger(paths.ledgerDir, late.id, [orchestrator], {
      ownerKeys: [alice.keyId, bob.keyId],
    });
    expect(verified.ok).toBe(true);
    expect(
      verified.notes.some((n) => n.includes('Owner_Pause halt-42 by test-owner: signatures verified')),
    ).toBe(true);
    const strangers = await verifyLedger(paths.ledgerDir, late.id, [orchestrator], {
      ownerKeys: [alice.keyId],
    });
    expect(strangers.firstBad?.reason).toBe(
      `owner command signed by ${bob.keyId}, not one of the given owner keys`,
    );
  });

  test('resume-all by two owners lifts the halt: both missions resume and a mission started now runs', async () => {
    const resume = draftOwnerCommand(
      { action: 'resume' },
      { actor: 'test-owner', reason: 'incident 42 resolved', id: 'lift-42' },
    );
    const lifted = await sendOwnerCommand(fx.as.owner, coSign(coSign(resume, bob), alice));
    expect(lifted.status).toBe(202);
    const after = await controls();
    expect(after).toMatchObject({
      halted: false,
      halt: null,
      lastLift: { commandId: 'lift-42', actor: 'test-owner', signers: [bob.keyId, alice.keyId] },
    });
    for (const m of [running, late]) {
      const v = await eventually(
        () => phaseOf(m),
        (x) => x.phase !== 'PAUSED',
        30_000,
      );
      expect(v.phase).not.toBe('PAUSED');
    }
    const fresh = await startOwnedMission(fx.as.operator);
    const v = await eventually(
      () => phaseOf(fresh),
      (x) => ['PROJECT_LIFECYCLE', 'EXECUTION'].includes(x.phase),
      60_000,
    );
    expect(v.controls?.applied).toEqual([]);
  });
});
