/**
 * ed25519 signing and verification over canonical JSON bytes, for the workflow sandbox.
 *
 * Verification uses `@noble/curves` in strict RFC 8032 mode: non-canonical point encodings,
 * small-order public keys and a scalar S not below the group order are refused, so there is one
 * valid signature per (message, key) and a signature can serve as an identifier. It is pure
 * JavaScript (the sandbox has no `node:crypto`) and about 40 times faster there than tweetnacl,
 * which was what capped a worker's transitions (docs/statechart.md, "Signatures"). Signing is
 * deterministic, so it is safe in the sandbox too; key generation needs randomness and stays
 * outside the core. Histories recorded before the switch keep tweetnacl's verdicts through
 * `legacy-signing.ts`, chosen by the engine with a patch.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import type { TransitionProposal, UnsignedTransitionProposal } from '../../schemas/proposal';
import { proposalSigningBytes, publicKeyOf, voteSigningBytes } from '../../schemas/signed-bytes';
import { base64Decode, base64Encode } from '../../schemas/base64';
import { publicPoint, type Point } from './curve-points';

const SIGNATURE_BYTES = 64;
const SECRET_KEY_BYTES = 64;

/**
 * The group order L of ed25519, little-endian. A signature whose scalar S is not below L is a
 * malleated copy of another signature. The strict verifier refuses it too; checking first gives the
 * rejection its own reason.
 */
const L = new Uint8Array([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

export function scalarIsCanonical(signature: Uint8Array): boolean {
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

/** A detached-signature check: `(message, base64 signature, signer identity) → verdict`. */
export type Verifier = (message: Uint8Array, signatureB64: string, signer: string) => VerifyResult;

/**
 * The checks every verifier shares, and the curve check itself passed in: a malformed identity or
 * signature, or a malleated scalar, is refused with the same reason whichever curve code runs.
 */
export function verifyWith(
  curveCheck: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean,
): Verifier {
  return (message, signatureB64, signer) => {
    const publicKey = publicKeyOf(signer);
    if (publicKey === null) return { ok: false, reason: `signer ${signer} is not an ed25519 public key` };
    const signature = base64Decode(signatureB64);
    if (signature === null || signature.length !== SIGNATURE_BYTES) {
      return { ok: false, reason: 'signature is not canonical base64 of 64 bytes' };
    }
    if (!scalarIsCanonical(signature))
      return { ok: false, reason: 'signature scalar is not canonical (malleated)' };
    if (!curveCheck(signature, message, publicKey)) {
      return { ok: false, reason: `signature does not verify for ${signer}` };
    }
    return { ok: true };
  };
}

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * RFC 8032 verification as `@noble/curves` does it with `zip215: false` — strict decoding of A and
 * R, 0 ≤ S < L, small-order A refused, the cofactored equation [8][S]B = [8]R + [8][k]A — built from
 * its point operations so that A can carry its cached window table (`curve-points.ts`).
 */
function strictCheck(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const A = publicPoint(publicKey);
  if (A === null) return false;
  let R: Point;
  let SB: Point;
  try {
    R = ed25519.Point.fromBytes(signature.subarray(0, 32), false);
    SB = ed25519.Point.BASE.multiplyUnsafe(littleEndian(signature.subarray(32)));
  } catch {
    return false;
  }
  const challenge = new Uint8Array(64 + message.length);
  challenge.set(signature.subarray(0, 32), 0);
  challenge.set(publicKey, 32);
  challenge.set(message, 64);
  const k = ed25519.Point.Fn.create(littleEndian(sha512(challenge)));
  return R.add(A.multiplyUnsafe(k)).subtract(SB).clearCofactor().is0();
}

/**
 * Verifies a detached ed25519 signature (base64) by `signer` over `message`, strictly (RFC 8032,
 * small-order keys refused). Returns a reason rather than throwing, because a bad signature is an
 * expected input, not a fault.
 */
export const verifyDetached: Verifier = verifyWith(strictCheck);

/**
 * Signs `message` with a 64-byte secret key (the 32-byte seed followed by the public key, the
 * layout SWOOSH's key files use); deterministic (RFC 8032), so every implementation agrees.
 */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): string {
  if (secretKey.length !== SECRET_KEY_BYTES) throw new RangeError('ed25519 secret keys are 64 bytes');
  return base64Encode(ed25519.sign(message, secretKey.subarray(0, 32)));
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
export function verifyProposalSignature(
  proposal: TransitionProposal,
  verify: Verifier = verifyDetached,
): VerifyResult {
  return verify(proposalSigningBytes(proposal), proposal.signature, proposal.signer);
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
