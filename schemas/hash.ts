/**
 * SHA-256 digests in the `sha256-<hex>` form used by state hashes, inputs hashes and member-set
 * hashes. The digest comes from `sha256.ts` (pure JavaScript) because `node:crypto` does not exist
 * inside Temporal's workflow sandbox, and the hash must be computed there during replay.
 */
import { canonicalJson } from './canonical-json';
import { sha256Hex, type PrefixHasher } from './sha256';

/** The textual prefix of every digest; part of the format so a digest names its algorithm. */
export const SHA256_PREFIX = 'sha256-';

/** A digest string `sha256-` followed by 64 lowercase hex characters. */
export type Sha256 = `sha256-${string}`;

const encoder = new TextEncoder();
const HEX = '0123456789abcdef';

/** Lowercase hex of `bytes`; written out here so the core has no dependency on Buffer. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

/**
 * UTF-8 bytes of a string, as a Uint8Array of the calling realm. Temporal's sandbox provides the
 * host's TextEncoder, whose output is a Uint8Array of the *host* realm; tweetnacl checks its
 * arguments with `instanceof Uint8Array` and would throw on it, so the bytes are copied into a
 * local array.
 */
export function utf8(text: string): Uint8Array {
  return new Uint8Array(encoder.encode(text));
}

/** `sha256-<hex>` of the UTF-8 encoding of `text`. */
export function sha256Text(text: string): Sha256 {
  return `${SHA256_PREFIX}${sha256Hex(encoder.encode(text))}`;
}

/**
 * `sha256-<hex>` of `value`'s canonical JSON, resuming from `hasher`'s midstate over the prefix it
 * shares with the previous value hashed there. Same digest as `hashCanonical`; cheaper for a
 * sequence of documents that differ late in their encoding.
 */
export function hashCanonicalWith(hasher: PrefixHasher, value: unknown): Sha256 {
  return `${SHA256_PREFIX}${hasher.digestHex(encoder.encode(canonicalJson(value)))}`;
}

/**
 * `sha256-<hex>` of the canonical JSON encoding of `value`. This is the only way the core hashes
 * structured data, so two callers that build the same document in a different key order agree on
 * its hash. Throws `CanonicalJsonError` for values canonical JSON refuses.
 */
export function hashCanonical(value: unknown): Sha256 {
  return sha256Text(canonicalJson(value));
}

const SHA256_RE = /^sha256-[0-9a-f]{64}$/;

/** True when `value` is a well-formed `sha256-<64 hex>` digest string. */
export function isSha256(value: unknown): value is Sha256 {
  return typeof value === 'string' && SHA256_RE.test(value);
}
