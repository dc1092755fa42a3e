/**
 * ed25519 signing and verification with tweetnacl, over canonical JSON bytes.
 *
 * Only verification and signing with a key the caller already holds live here; both are
 * deterministic, so they are safe in the workflow sandbox. Key generation needs randomness and
 * stays outside the core. tweetnacl probes for a random source when it loads (`self.crypto`, then
 * `require('crypto')`); in the sandbox neither exists, which leaves key generation disabled and
 * leaves everything used here working. The Temporal bundler flags that `require('crypto')`, so the
 * worker lists `crypto` under `bundlerOptions.ignoreModules`.
 */
import nacl from 'tweetnacl';
import type { TransitionProposal, UnsignedTransitionProposal } from '../../schemas/proposal';
import { base64Decode, base64Encode } from './base64';
import { canonicalJson } from './canonical';
import { utf8 } from './hash';

/** A signer identity: `ed25519:<base64 public key>`. */
export type SignerKey = `ed25519:${string}`;

const KEY_PREFIX = 'ed25519:';

/** Formats a 32-byte public key as a signer identity. */
export function signerKeyFromPublicKey(publicKey: Uint8Array): SignerKey {
  if (publicKey.length !== nacl.sign.publicKeyLength)
    throw new RangeError('ed25519 public keys are 32 bytes');
  return `${KEY_PREFIX}${base64Encode(publicKey)}`;
}

/** The 32 public-key bytes of a signer identity, or null when it is not a well-formed identity. */
export function publicKeyOf(signer: string): Uint8Array | null {
  if (!signer.startsWith(KEY_PREFIX)) return null;
  const bytes = base64Decode(signer.slice(KEY_PREFIX.length));
  return bytes !== null && bytes.length === nacl.sign.publicKeyLength ? bytes : null;
}

/**
 * The group order L of ed25519, little-endian. A signature whose scalar S is not below L verifies
 * in tweetnacl but is a malleated copy of another signature; refusing it keeps one signature per
 * (message, key), so signatures can be compared and recorded as identifiers.
 */
const L = new Uint8Array([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

function scalarIsCanonical(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = L[i]!;
    if (s < l) return true;
    if (s > l) return false;
  }
  return false;
}

/** Outcome of a signature check, with the reason a rejection reports. */
export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Verifies a detached ed25519 signature (base64) by `signer` over `message`. Returns a reason
 * rather than throwing, because a bad signature is an expected input, not a fault.
 */
export function verifyDetached(message: Uint8Array, signatureB64: string, signer: string): VerifyResult {
  const publicKey = publicKeyOf(signer);
  if (publicKey === null) return { ok: false, reason: `signer ${signer} is not an ed25519 public key` };
  const signature = base64Decode(signatureB64);
  if (signature === null || signature.length !== nacl.sign.signatureLength) {
    return { ok: false, reason: 'signature is not canonical base64 of 64 bytes' };
  }
  if (!scalarIsCanonical(signature))
    return { ok: false, reason: 'signature scalar is not canonical (malleated)' };
  if (!nacl.sign.detached.verify(message, signature, publicKey)) {
    return { ok: false, reason: `signature does not verify for ${signer}` };
  }
  return { ok: true };
}

/** Signs `message` with a 64-byte tweetnacl secret key; deterministic (RFC 8032). */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): string {
  if (secretKey.length !== nacl.sign.secretKeyLength)
    throw new RangeError('ed25519 secret keys are 64 bytes');
  return base64Encode(nacl.sign.detached(message, secretKey));
}

/**
 * The bytes a proposal's signature covers: canonical JSON of the proposal without `signature`
 * (SPEC §3). Any field left out of the signature could be changed in flight, so everything else
 * is in.
 */
export function proposalSigningBytes(proposal: UnsignedTransitionProposal | TransitionProposal): Uint8Array {
  const unsigned: Record<string, unknown> = { ...proposal };
  delete unsigned.signature;
  return utf8(canonicalJson(unsigned));
}

/**
 * Signs an unsigned proposal with the signer's secret key. The secret key must belong to
 * `proposal.signer`; a mismatch would only produce a proposal that fails verification, so it is
 * caught early here.
 */
export function signProposal(
  proposal: UnsignedTransitionProposal,
  secretKey: Uint8Array,
): TransitionProposal {
  const publicKey = publicKeyOf(proposal.signer);
  if (publicKey === null || !sameBytes(publicKey, secretKey.subarray(32))) {
    throw new RangeError(`secret key does not belong to signer ${proposal.signer}`);
  }
  return { ...proposal, signature: signDetached(proposalSigningBytes(proposal), secretKey) };
}

/** Verifies a proposal's signature against its own `signer` field. */
export function verifyProposalSignature(proposal: TransitionProposal): VerifyResult {
  return verifyDetached(proposalSigningBytes(proposal), proposal.signature, proposal.signer);
}

/**
 * The bytes a council vote signs: the member, the member-set hash and the mission. The mission id
 * is included so a vote for the same council in another mission cannot be replayed here, and the
 * `kind` tag keeps a vote from ever parsing as anything else that is signed.
 */
export function voteSigningBytes(
  vote: { readonly member: string; readonly council_set_hash: string },
  missionId: string,
): Uint8Array {
  return utf8(
    canonicalJson({
      kind: 'swoosh.vote/v1',
      mission_id: missionId,
      member: vote.member,
      council_set_hash: vote.council_set_hash,
    }),
  );
}

/** Signs a council vote for `missionId` with the member's secret key. */
export function signVote(
  vote: { readonly member: string; readonly council_set_hash: string },
  missionId: string,
  secretKey: Uint8Array,
): { member: string; council_set_hash: string; signature: string } {
  return {
    member: vote.member,
    council_set_hash: vote.council_set_hash,
    signature: signDetached(voteSigningBytes(vote, missionId), secretKey),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
