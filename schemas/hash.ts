/**
 * SHA-256 digests in the `sha256-<hex>` form used by state hashes, inputs hashes and member-set
 * hashes. The digest comes from `sha256.ts` (pure JavaScript) because `node:crypto` does not exist
 * inside Temporal's workflow sandbox, and the hash must be computed there during replay.
 */
import {
  canonicalJson,
  isDeepFrozen,
  memoisedDigest,
  memoiseDigest,
  quotedKey,
  sortKeys,
} from './canonical-json';
import { ResumableSha256, sha256Hex } from './sha256';

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
 * Hashes successive versions of one deep-frozen document (the states of one mission) whose
 * top-level members are mostly the very same objects as in the previous version.
 *
 * The canonical encoding of an object is `{`, its members `"key":value` in sorted key order joined
 * by `,`, and `}`. The hasher keeps the previous version's members and the UTF-8 bytes of its
 * encoding. Members are compared by identity, which is sound because a deep-frozen value cannot
 * change: everything before the first member that differs is byte for byte what was hashed last
 * time, so SHA-256 resumes from its midstate there and only the rest is compressed. Members after
 * that one that are the same object again are copied as bytes, not encoded again.
 *
 * Same digest as `hashCanonical`, which tests/statechart/document-hash.test.ts checks on generated
 * documents and simulated missions.
 */
export class DocumentHasher {
  /** The previous version's members in key order: names, values, and where each one's bytes end. */
  #keys: string[] = [];
  #values: unknown[] = [];
  #ends: number[] = [];
  /** The previous version's encoding; `#spare` is where the next one is written. */
  #bytes: Uint8Array = new Uint8Array(4096);
  #spare: Uint8Array = new Uint8Array(4096);
  #digest: Sha256 | null = null;
  readonly #sha = new ResumableSha256();

  /** `sha256-<hex>` of `doc`'s canonical JSON; `doc` must be deep-frozen (see `deepFreeze`). */
  digest(doc: object): Sha256 {
    if (!isDeepFrozen(doc) || Array.isArray(doc))
      throw new TypeError('DocumentHasher hashes deep-frozen objects');
    const memoised = memoisedDigest(doc);
    if (memoised !== undefined) return memoised as Sha256;
    const record = doc as Record<string, unknown>;
    const keys = sortKeys(Object.keys(record));
    const values: unknown[] = [];
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const value = record[keys[i]!];
      // An undefined member is not encoded, as in canonicalJson.
      if (value === undefined) continue;
      keys[n] = keys[i]!;
      values[n++] = value;
    }
    keys.length = n;

    const prevKeys = this.#keys;
    const prevValues = this.#values;
    const prevEnds = this.#ends;
    let first = 0;
    while (first < n && keys[first] === prevKeys[first] && values[first] === prevValues[first]) first++;
    if (first === n && n === prevKeys.length && this.#digest !== null) {
      memoiseDigest(doc, this.#digest);
      return this.#digest;
    }

    const prev = this.#bytes;
    const start = first === 0 ? 0 : prevEnds[first - 1]!;
    let out = ensure(this.#spare, start);
    out.set(prev.subarray(0, start), 0);
    const ends = prevEnds.slice(0, first);
    let at = start;
    for (let i = first; i < n;) {
      if (keys[i] === prevKeys[i] && values[i] === prevValues[i]) {
        // Unchanged members next to each other are next to each other in the previous bytes too:
        // one copy for the run.
        const from = i === 0 ? 0 : prevEnds[i - 1]!;
        const shift = at - from;
        do ends.push(prevEnds[i++]! + shift);
        while (i < n && keys[i] === prevKeys[i] && values[i] === prevValues[i]);
        const to = prevEnds[i - 1]!;
        out = ensure(out, at + (to - from));
        out.set(prev.subarray(from, to), at);
        at += to - from;
        continue;
      }
      // A run of changed members (epoch, execution, head and hlc_last sort next to each other) is
      // encoded as one string and converted to UTF-8 in one call: a call per member cost more than
      // the conversion.
      const runStart = ends.length;
      let text = '';
      do {
        text += memberText(keys, values, i);
        // Where the member ends if the text is ASCII (a byte a character); corrected below if not.
        ends.push(at + text.length);
        i++;
      } while (i < n && !(keys[i] === prevKeys[i] && values[i] === prevValues[i]));
      out = ensure(out, at + text.length * 3);
      const written = encoder.encodeInto(text, out.subarray(at)).written;
      if (written === text.length) {
        at += written;
        continue;
      }
      for (let j = runStart; j < i; j++) {
        at += encoder.encodeInto(memberText(keys, values, j), out.subarray(at)).written;
        ends[j] = at;
      }
    }
    out = ensure(out, at + 2);
    if (n === 0) out[at++] = 0x7b; // '{'
    out[at++] = 0x7d; // '}'

    const digest: Sha256 = `${SHA256_PREFIX}${this.#sha.digestHex(out, at, start)}`;
    this.#spare = prev;
    this.#bytes = out;
    this.#keys = keys;
    this.#values = values;
    this.#ends = ends;
    this.#digest = digest;
    memoiseDigest(doc, digest);
    return digest;
  }
}

/** The canonical text of a document's member `i`, with the `{` or `,` before it. */
function memberText(keys: readonly string[], values: readonly unknown[], i: number): string {
  return `${i === 0 ? '{' : ','}${quotedKey(keys[i]!)}${canonicalJson(values[i])}`;
}

/** `buffer` if it holds at least `size` bytes, else a larger copy of it. */
function ensure(buffer: Uint8Array, size: number): Uint8Array {
  if (buffer.length >= size) return buffer;
  const grown = new Uint8Array(Math.max(size, buffer.length * 2));
  grown.set(buffer);
  return grown;
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
