/**
 * The ledger's activities: a decision draft recorded under the calling workflow's id, agent
 * deployments and lifecycle events, evidence stored by content, and the ledger's refusals turned
 * into failures the workflow does not retry. The ledger itself is tested in tests/ledger/.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore } from '../../ledger/evidence-store';
import { createLedgerActivities } from '../../activities/ledger';
import { hashCanonical } from '../../host/digest';
import { generateSigner, type Signer } from '../../host/keys';
import { FileLedger, readLedger, verifyLedger } from '../../ledger';
import { decisionId } from '../../schemas/decision-id';
import type { LegacyDecisionDraft } from '../../activities/ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import type { ArtifactEvidence } from '../../schemas/evidence';
import {
  decisionDraft,
  decisionEntry,
  deploymentEntry,
  legacyDecisionDraft,
  lifecycleEvent,
} from '../ledger/support/entries';
import { activityEnvironment } from './support/activity-env';

let dir: string;
let signer: Signer;
let ledger: FileLedger;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-ledger-activities-'));
  signer = generateSigner().signer;
  ledger = new FileLedger({ dir, signer });
});

afterEach(async () => {
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
});

const verify = () => verifyLedger(dir, 'm-1', [signer.keyId]);

type RecordedDraft = LegacyDecisionDraft & { id: string };

/** The `recordDecision` inputs a recorded mission history holds: drafts as workflows sent them then. */
async function recordedDrafts(history: string): Promise<RecordedDraft[]> {
  type Scheduled = { activityType: { name: string }; input: { payloads: { data: string }[] } };
  const { events } = JSON.parse(
    await readFile(new URL(`../histories/${history}`, import.meta.url), 'utf8'),
  ) as { events: { activityTaskScheduledEventAttributes?: Scheduled }[] };
  return events.flatMap(({ activityTaskScheduledEventAttributes: task }) =>
    task?.activityType.name === 'recordDecision'
      ? [JSON.parse(Buffer.from(task.input.payloads[0]!.data, 'base64').toString('utf8')) as RecordedDraft]
      : [],
  );
}

describe('ledger activities', () => {
  const artifact: ArtifactEvidence = {
    kind: 'artifact',
    artifactId: `artifact-${'a'.repeat(64)}`,
    missionId: 'm-1',
    type: 'source',
    uri: 'repo://src/index.ts',
    checksum: `sha256-${'a'.repeat(64)}`,
    producedBy: 'ingestion',
    sizeBytes: 120,
    mediaType: 'text/typescript',
    createdAt: '2025-10-19T01:00:00.000Z',
  };

  it('record a decision draft keyed by the calling workflow, deployments and lifecycle events', async () => {
    const activities = createLedgerActivities({
      ledger,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment({ workflowExecution: { workflowId: 'mission-m-1', runId: 'run-1' } });
    const receipt = await env.run(activities.recordDecision, decisionDraft(signer.keyId, 0));
    const deployment = await env.run(activities.recordAgentDeployment, deploymentEntry(0));
    const retired = await env.run(activities.recordAgentLifecycle, lifecycleEvent('retired'));

    // The activity answers a receipt naming the record it wrote; the record is in the file.
    const decision = (await readLedger(dir, 'm-1')).records[0]!;
    expect(receipt).toEqual({ id: decision.id, index: 0, hash: decision.hash });
    expect(decision).toMatchObject({ ...decisionEntry(signer.keyId, 0), index: 0 });
    expect((decision as DecisionRecord).ucxl).toBe(decisionId(decisionDraft(signer.keyId, 0)));
    expect(deployment.index).toBe(1);
    // The event in the names lifecycle records have always had.
    const { lifecycle, missionId, timestamp, ...same } = lifecycleEvent('retired');
    expect(retired).toMatchObject({
      ...same,
      kind: 'agent-lifecycle',
      event: lifecycle,
      mission: missionId,
      at: timestamp,
    });
    expect(retired.index).toBe(2);
    // A retry after a worker crash answers the receipt of what the first attempt wrote.
    expect(await env.run(activities.recordDecision, decisionDraft(signer.keyId, 0))).toEqual(receipt);
    expect((await readLedger(dir, 'm-1')).records).toHaveLength(3);
    expect((await verify()).ok).toBe(true);
  });

  it('record a batch of decisions in order, and a retried batch writes nothing twice', async () => {
    const activities = createLedgerActivities({
      ledger,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment({ workflowExecution: { workflowId: 'mission-m-1', runId: 'run-1' } });
    const first = await env.run(activities.recordDecisions, [decisionDraft(signer.keyId, 0)]);
    const batch = [0, 1, 2].map((seq) => decisionDraft(signer.keyId, seq));
    // The batch after a worker crash mid-batch: its first decision was written by the attempt before.
    const receipts = await env.run(activities.recordDecisions, batch);
    const { records } = await readLedger(dir, 'm-1');
    expect(records.map((r) => (r as DecisionRecord).ucxl)).toEqual(batch.map((d) => decisionId(d)));
    expect(receipts).toEqual(records.map((r) => ({ id: r.id, index: r.index, hash: r.hash })));
    expect(receipts[0]).toEqual(first[0]);
    expect(await env.run(activities.recordDecisions, batch)).toEqual(receipts);
    expect((await readLedger(dir, 'm-1')).records).toHaveLength(3);
    expect((await verify()).ok).toBe(true);
  });

  it('record a draft in the field names of before as the very same decision', async () => {
    const activities = createLedgerActivities({
      ledger,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment({ workflowExecution: { workflowId: 'mission-m-1', runId: 'run-1' } });
    const receipt = await env.run(activities.recordDecision, legacyDecisionDraft(signer.keyId, 0));
    // Today's draft of that decision is a retry of the same emission: its receipt, no conflict.
    expect(await env.run(activities.recordDecision, decisionDraft(signer.keyId, 0))).toEqual(receipt);
    const { records } = await readLedger(dir, 'm-1');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      ...decisionEntry(signer.keyId, 0),
      ucxl: legacyDecisionDraft(signer.keyId, 0).id,
    });
  });

  it('record the drafts held by a recorded mission history as the ledger recorded them then', async () => {
    const drafts = await recordedDrafts('mission-statechart-first-run.json');
    expect(drafts.length).toBeGreaterThan(0);
    const activities = createLedgerActivities({
      ledger,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment({
      workflowExecution: { workflowId: 'mission-recorded', runId: 'run-1' },
    });
    for (const draft of drafts) await env.run(activities.recordDecision, draft);

    const mission = drafts[0]!.mission_id;
    const { records } = await readLedger(dir, mission);
    // The renames the ledger made before the draft took the record's names, spelled out again.
    expect(records).toMatchObject(
      drafts.map((d) => ({
        mission: d.mission_id,
        workflow_id: 'mission-recorded',
        seq: d.seq,
        region: d.region,
        transition: d.transition,
        guards: d.guards,
        signer: d.signer,
        proposal_signature: d.signature,
        signature_verified: d.signature_verified,
        pre_state_hash: d.pre_hash,
        post_state_hash: d.post_hash,
        inputs_hash: d.inputs_hash,
        idem_key: d.idem_key,
        hlc: d.hlc,
        window_id: d.window_id,
        evidence: d.evidence,
        decided_at: new Date(d.at_ms).toISOString(),
        // The id the workflow announced then is the one its record carries.
        ucxl: d.id,
      })),
    );
    expect((await verifyLedger(dir, mission, [signer.keyId])).ok).toBe(true);
  });

  it('fail without retry on an invalid entry or a conflicting replay', async () => {
    const activities = createLedgerActivities({
      ledger,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment();
    await expect(
      env.run(activities.recordDecision, { ...decisionDraft(signer.keyId, 0), inputs_hash: 'abc' }),
    ).rejects.toMatchObject({ type: 'InvalidLedgerEntry', nonRetryable: true });
    await expect(
      env.run(activities.recordDecision, { ...legacyDecisionDraft(signer.keyId, 0), pre_hash: 'abc' }),
    ).rejects.toMatchObject({ type: 'InvalidLedgerEntry', nonRetryable: true });
    await env.run(activities.recordDecision, decisionDraft(signer.keyId, 0));
    await expect(
      env.run(activities.recordDecision, { ...decisionDraft(signer.keyId, 0), hlc: 'later' }),
    ).rejects.toMatchObject({ type: 'LedgerConflict', nonRetryable: true });
    await expect(
      env.run(activities.recordAgentLifecycle, {
        ...lifecycleEvent('spawned'),
        energyBudget: { tokens: -1 },
      }),
    ).rejects.toMatchObject({ type: 'InvalidLedgerEntry', nonRetryable: true });
  });

  it('store evidence content-addressed, once, and read it back verified', async () => {
    const store = new FileContentStore(join(dir, 'evidence'));
    const activities = createLedgerActivities({ ledger, evidence: store });
    const env = activityEnvironment();
    const first = await env.run(activities.storeEvidence, artifact);
    const second = await env.run(activities.storeEvidence, { ...artifact });
    expect(first.checksum).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(second).toEqual(first);
    expect(JSON.parse((await store.get(first.checksum)).toString('utf8'))).toEqual(artifact);
    expect(first.checksum).toBe(hashCanonical(artifact));
  });

  it('detect stored evidence whose bytes changed', async () => {
    const store = new FileContentStore(join(dir, 'evidence'));
    const checksum = await store.put('report body');
    const hex = checksum.slice('sha256-'.length);
    const blob = join(dir, 'evidence', 'sha256', hex.slice(0, 2), hex);
    await rm(blob);
    await writeFile(blob, 'report b0dy');
    await expect(store.get(checksum)).rejects.toThrow(/corrupt/);
  });
});
