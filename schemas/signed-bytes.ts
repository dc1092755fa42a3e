/**
 * What SWOOSH signs and who signs it: signer identities and the exact bytes a proposal's or a
 * vote's signature covers. The workflow verifies over these bytes and people, the CLI and the
 * activities sign over them, so they are a contract, not an implementation detail.
 */
import type { TransitionProposal, UnsignedTransitionProposal } from './proposal';
import { base64Decode, base64Encode } from './base64';
import { canonicalJson } from './canonical-json';
import { utf8 } from './hash';

/** A signer identity: `ed25519:<base64 public key>`. */
export type SignerKey = `ed25519:${string}`;

const KEY_PREFIX = 'ed25519:';
export const PUBLIC_KEY_BYTES = 32;

/** Formats a 32-byte public key as a signer identity. */
export function signerKeyFromPublicKey(publicKey: Uint8Array): SignerKey {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('ed25519 public keys are 32 bytes');
  return `${KEY_PREFIX}${base64Encode(publicKey)}`;
}

/** The 32 public-key bytes of a signer identity, or null when it is not a well-formed identity. */
export function publicKeyOf(signer: string): Uint8Array | null {
  if (!signer.startsWith(KEY_PREFIX)) return null;
  const bytes = base64Decode(signer.slice(KEY_PREFIX.length));
  return bytes !== null && bytes.length === PUBLIC_KEY_BYTES ? bytes : null;
}

/**
 * The bytes a proposal's signature covers: canonical JSON of the proposal without `signature`
 * (docs/design.md#proposals). Any field left out of the signature could be changed in flight, so everything else
 * is in.
 */
export function proposalSigningBytes(proposal: UnsignedTransitionProposal | TransitionProposal): Uint8Array {
  const unsigned: Record<string, unknown> = { ...proposal };
  delete unsigned.signature;
  return utf8(canonicalJson(unsigned));
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
