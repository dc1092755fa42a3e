/**
 * What SWOOSH signs and who signs it: signer identities and the exact bytes a proposal's or a
 * vote's signature covers. The workflow verifies over these bytes and people, the CLI and the
 * activities sign over them, so they are a contract, not an implementation detail.
 */
import type { OwnerControlCommand, SignedOwnerCommand } from './owner-controls';
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

/** Distinguishes owner-command signatures from every other thing SWOOSH signs. */
export const OWNER_COMMAND_KIND = 'swoosh.owner-command/v1';

/** What an owner command's signature is over: the envelope without `signer` and `signature`. */
export type OwnerCommandClaim = Pick<SignedOwnerCommand, 'command' | 'mission_id' | 'issued_at_ms'>;

/**
 * The bytes an owner command signs: the `kind` tag, the mission it is for (null: every mission of
 * the deployment), when it was issued, and the whole command — id, action, actor, reason and its
 * parameters — so no part of it can be changed in flight or replayed as another command.
 */
export function ownerCommandSigningBytes(claim: OwnerCommandClaim): Uint8Array {
  return utf8(
    canonicalJson({
      kind: OWNER_COMMAND_KIND,
      mission_id: claim.mission_id,
      issued_at_ms: claim.issued_at_ms,
      command: claim.command,
    }),
  );
}

/**
 * Signs an owner command with any ed25519 signer (`sign` returns a base64 detached signature):
 * the gateway's native key, a person's key in the CLI, or the pure signer in tests.
 */
export function signOwnerCommand(
  command: OwnerControlCommand,
  claim: { missionId: string | null; issuedAtMs: number },
  signer: { readonly keyId: string; sign(message: Uint8Array): string },
): SignedOwnerCommand {
  const unsigned = { command, mission_id: claim.missionId, issued_at_ms: claim.issuedAtMs };
  return {
    ...unsigned,
    signer: signer.keyId,
    signature: signer.sign(ownerCommandSigningBytes(unsigned)),
  };
}
