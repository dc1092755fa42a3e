/**
 * A ledger's bytes are a format: every record is hashed and signed as written, so a ledger written
 * by an earlier version must verify with this one, and this one must write the very same bytes for
 * the same appends. The fixture was written by the ledger as it stood at commit abb1ec1 (all of it
 * in activities/ledger.ts, and decision drafts in the protocol's own field names): two decisions
 * through the `recordDecision` activity, an agent deployment, a lifecycle event and a decision
 * appended directly, under a fixed key and clock.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore } from '../../ledger/evidence-store';
import { createLedgerActivities } from '../../activities/ledger';
import { FileLedger, verifyLedger } from '../../ledger';
import { signerFromSecretKey } from '../../host/keys';
import { activityEnvironment } from '../activities/support/activity-env';
import {
  decisionDraft,
  decisionEntry,
  deploymentEntry,
  legacyDecisionDraft,
  lifecycleEvent,
} from './support/entries';
import { testKey } from '../statechart/support/keys';

const fixture = fileURLToPath(new URL('./fixtures/before-split/', import.meta.url));
const signer = signerFromSecretKey(testKey('ledger-fixture').secretKey);

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-ledger-format-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The fixture's appends, in its order, with its clock (one second per record). */
async function writeFixtureAppends(
  ledgerDir: string,
  draft: typeof decisionDraft | typeof legacyDecisionDraft,
): Promise<void> {
  let tick = 0;
  const ledger = new FileLedger({
    dir: ledgerDir,
    signer,
    clock: () => new Date(Date.UTC(2025, 9, 19, 2, 0, tick++)),
  });
  const activities = createLedgerActivities({
    ledger,
    evidence: new FileContentStore(join(dir, 'evidence')),
  });
  const env = activityEnvironment({ workflowExecution: { workflowId: 'mission-m-1', runId: 'run-1' } });
  await env.run(activities.recordDecision, draft(signer.keyId, 0));
  await env.run(activities.recordDecision, draft(signer.keyId, 1));
  await ledger.appendAgentDeployment(deploymentEntry(0));
  await ledger.appendAgentLifecycle(lifecycleEvent('spawned'));
  await ledger.appendDecision(decisionEntry(signer.keyId, 2));
  await ledger.close();
}

describe('decision ledger: the format on disk', () => {
  it('verifies a ledger written before the ledger became its own module', async () => {
    expect(await verifyLedger(fixture, 'm-1', [signer.keyId])).toEqual({
      mission: 'm-1',
      ok: true,
      verified: 5,
      notes: [],
    });
  });

  // Workflows now draft in the record's names; a task recorded before still carries the old ones.
  it.each([
    ["today's decision drafts", decisionDraft],
    ['the drafts of before', legacyDecisionDraft],
  ])('writes the same bytes as then for the same appends, from %s', async (_, draft) => {
    const ledgerDir = join(dir, 'ledger');
    await writeFixtureAppends(ledgerDir, draft);
    for (const name of ['m-1.jsonl', 'm-1.head.json']) {
      expect(await readFile(join(ledgerDir, name))).toEqual(await readFile(join(fixture, name)));
    }
  });
});
