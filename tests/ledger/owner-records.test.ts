/**
 * `ledger verify` on owner records: a signed owner command's record keeps the command and every
 * signature over it, and verify checks them as an outsider would. The records here are appended
 * by the real ledger, so hash, chain and orchestrator signature are intact and only the owner
 * proof is what a test varies.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { hashCanonical } from '../../host/digest';
import { generateSigner } from '../../host/keys';
import { FileLedger, verifyLedger } from '../../ledger';
import type { DecisionEntry } from '../../schemas/decision-record';
import type { OwnerCommandProof, SignedOwnerCommand } from '../../schemas/owner-controls';
import { ownerCommandSigningBytes, signOwnerCommand } from '../../schemas/signed-bytes';
import { decisionEntry } from './support/entries';

const orchestrator = generateSigner().signer;
const gateway = generateSigner().signer;
const alice = generateSigner().signer;
const bob = generateSigner().signer;

/** A pause-all as the gateway countersigns it, endorsed by Alice and Bob. */
function countersigned(): SignedOwnerCommand {
  const command = { action: 'pause', id: 'halt-1', actor: 'test-owner', reason: 'incident' } as const;
  const signed = signOwnerCommand(command, { missionId: null, issuedAtMs: 1_800_000_000_000 }, gateway);
  const bytes = ownerCommandSigningBytes(signed);
  return {
    ...signed,
    endorsements: [alice, bob].map((o) => ({ signer: o.keyId, signature: o.sign(bytes) })),
  };
}

/** The owner record a mission writes for `envelope` (workflows/mission/owner-controls.ts). */
function ownerRecord(envelope: SignedOwnerCommand, proof?: OwnerCommandProof): DecisionEntry {
  const { command, mission_id, issued_at_ms } = envelope;
  return decisionEntry(orchestrator.keyId, 2 ** 40, {
    region: 'control',
    transition: 'Owner_Pause',
    proposal_signature: null,
    signature_verified: false,
    idem_key: `owner:${command.id}`,
    inputs_hash: hashCanonical(envelope),
    decided_at: '2025-10-19T01:24:00.000Z',
    owner_command: proof ?? {
      command,
      mission_id,
      issued_at_ms,
      signatures: [
        { signer: envelope.signer, signature: envelope.signature },
        ...(envelope.endorsements ?? []),
      ],
    },
  });
}

async function ledgerWith(entry: DecisionEntry): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-owner-records-'));
  const ledger = new FileLedger({ dir, signer: orchestrator });
  await ledger.appendDecision(decisionEntry(orchestrator.keyId, 0));
  await ledger.appendDecision(entry);
  await ledger.close();
  return dir;
}

describe('ledger verify checks owner command signatures', () => {
  test('an intact owner record verifies and says who signed it', async () => {
    const dir = await ledgerWith(ownerRecord(countersigned()));
    const result = await verifyLedger(dir, 'm-1', [orchestrator.keyId], {
      ownerKeys: [alice.keyId, bob.keyId],
    });
    expect(result.ok).toBe(true);
    expect(result.notes).toContain(
      `#1 Owner_Pause halt-1 by test-owner: signatures verified (countersigned by ${gateway.keyId}, signed by owner key(s) ${alice.keyId}, ${bob.keyId})`,
    );
  });

  test('an owner signature that does not verify over the command is named', async () => {
    const envelope = countersigned();
    const proof = ownerRecord(envelope).owner_command!;
    // Bob's key with Alice's signature: written by a ledger that holds the orchestrator key, so
    // only the owner check can catch it.
    const forged = {
      ...proof,
      signatures: [
        proof.signatures[0]!,
        proof.signatures[1]!,
        { ...proof.signatures[1]!, signer: bob.keyId },
      ],
    };
    const dir = await ledgerWith(ownerRecord(envelope, forged));
    const result = await verifyLedger(dir, 'm-1', [orchestrator.keyId]);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ index: 1, transition: 'Owner_Pause' });
    expect(result.firstBad?.reason).toBe(
      `owner command signature by ${bob.keyId} does not verify (edited or forged)`,
    );
  });

  test('a proof for another command than the one the record settled is refused', async () => {
    const envelope = countersigned();
    const proof = ownerRecord(envelope).owner_command!;
    const dir = await ledgerWith({
      ...ownerRecord(envelope),
      idem_key: 'owner:another-command',
      owner_command: proof,
    });
    const result = await verifyLedger(dir, 'm-1', [orchestrator.keyId]);
    expect(result.firstBad?.reason).toBe('holds owner command halt-1 but records owner:another-command');
  });

  test('signers outside the given owner keys are named', async () => {
    const dir = await ledgerWith(ownerRecord(countersigned()));
    const result = await verifyLedger(dir, 'm-1', [orchestrator.keyId], { ownerKeys: [alice.keyId] });
    expect(result.firstBad?.reason).toBe(
      `owner command signed by ${bob.keyId}, not one of the given owner keys`,
    );
  });
});
