/**
 * `sha256-<hex>` digests with Node's native hash, for code outside the workflow sandbox. The
 * encoding is the one canonical encoder (schemas/canonical-json.ts), so a digest here equals the
 * workflow's pure-JS digest of the same value.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../schemas/canonical-json';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256-<hex>` of raw bytes or a string's UTF-8 encoding. */
export function sha256Digest(data: string | Uint8Array): string {
  return `sha256-${sha256Hex(data)}`;
}

/** `sha256-<hex>` of a value's canonical JSON. */
export function hashCanonical(value: unknown): string {
  return sha256Digest(canonicalJson(value));
}
