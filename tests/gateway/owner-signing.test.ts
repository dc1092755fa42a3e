/**
 * Broadcast owner commands at the gateway: a bearer token is not enough; only signatures by
 * registered owner keys over the command count, and an owner quorum of M needs M distinct ones.
 * The checks run on real ed25519 keys; the gateway's own key file is made in a temporary folder.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { coSign, draftOwnerCommand } from '../../api/owner-commands';
import { ownerCommandSigning } from '../../api/owner-signing';
import { generateSigner, verifySignature } from '../../host/keys';
import { OWNER_COMMAND_MAX_AGE_MS } from '../../schemas/owner-controls';
import { ownerCommandSigningBytes } from '../../schemas/signed-bytes';

const NOW = 1_800_000_000_000;
const alice = generateSigner().signer;
const bob = generateSigner().signer;
const mallory = generateSigner().signer;
const keyFile = () => join(mkdtempSync(join(tmpdir(), 'swoosh-owner-signing-')), 'gateway.key.json');
const signing = (quorum: number) =>
  ownerCommandSigning(keyFile(), { ownerKeys: [alice.keyId, bob.keyId], quorum, now: () => NOW });
const pause = () =>
  draftOwnerCommand(
    { action: 'pause' },
    { actor: 'alice', reason: 'incident 7', id: 'p-1', issuedAtMs: NOW },
  );

describe('owner signatures on broadcast commands', () => {
  test('one registered owner signature is enough with a quorum of 1', () => {
    expect(signing(1).check(coSign(pause(), alice))).toEqual({ ok: true, signers: [alice.keyId] });
  });

  test('a key that is not a registered owner key is refused, naming the signature', () => {
    const verdict = signing(1).check(coSign(pause(), mallory));
    expect(verdict).toMatchObject({ ok: false, status: 403, field: 'body.signatures.0.signer' });
  });

  test('a signature over other bytes (a changed reason) is refused as not verifying', () => {
    const signed = coSign(pause(), alice);
    const changed = { ...signed, command: { ...signed.command, reason: 'something else' } };
    expect(signing(1).check(changed)).toMatchObject({
      ok: false,
      status: 403,
      title: 'Owner signature does not verify',
      field: 'body.signatures.0.signature',
    });
  });

  test('no owner keys registered: nothing can be signed', () => {
    const none = ownerCommandSigning(keyFile(), { now: () => NOW });
    expect(none.check(coSign(pause(), alice))).toMatchObject({ ok: false, status: 403 });
  });

  test('a command issued longer ago than owners may take to sign is refused as stale', () => {
    const old = draftOwnerCommand(
      { action: 'pause' },
      { actor: 'alice', reason: 'old', issuedAtMs: NOW - OWNER_COMMAND_MAX_AGE_MS - 1 },
    );
    expect(signing(1).check(coSign(old, alice))).toMatchObject({ ok: false, field: 'body.issued_at_ms' });
  });

  test('a quorum of 2: one signature is refused, the same owner twice still counts once, two owners apply', () => {
    const two = signing(2);
    const once = coSign(pause(), alice);
    expect(two.check(once)).toMatchObject({
      ok: false,
      status: 403,
      title: 'Owner quorum not met',
      signers: [alice.keyId],
    });
    const twice = { ...once, signatures: [...once.signatures, ...once.signatures] };
    expect(two.check(twice)).toMatchObject({ ok: false, title: 'Owner quorum not met' });
    // Bob co-signs Alice's draft as it was handed to him: the same command and issued_at_ms.
    expect(two.check(coSign(once, bob))).toEqual({ ok: true, signers: [alice.keyId, bob.keyId] });
  });

  test('the countersigned command carries the owners as endorsements over the very same bytes', async () => {
    const s = signing(2);
    const request = coSign(coSign(pause(), alice), bob);
    const signed = await s.countersign(request);
    const bytes = ownerCommandSigningBytes(signed);
    expect(signed.signer).toBe((await s.controllers())[0]);
    expect(verifySignature(signed.signer, bytes, signed.signature)).toBe(true);
    expect(signed.endorsements?.map((e) => e.signer)).toEqual([alice.keyId, bob.keyId]);
    expect(s.verifiedOwners(signed)).toEqual([alice.keyId, bob.keyId]);
    // An endorsement that does not verify is not shown as a signer.
    const forged = { ...signed, endorsements: [{ signer: alice.keyId, signature: signed.signature }] };
    expect(s.verifiedOwners(forged)).toEqual([]);
  });
});
