/**
 * Canonical JSON (sorted keys, no insignificant whitespace) and `sha256-<hex>` digests for the
 * activity side. It must agree byte for byte with the workflow side's encoding, because the
 * ledger and the state document hash the same kinds of values.
 */
import { createHash } from 'node:crypto';

/**
 * Encodes JSON-compatible data canonically. Anything JSON would silently change (undefined in
 * arrays, NaN, Dates, Maps, class instances) is refused, so two encoders cannot disagree on it;
 * an object property whose value is undefined is omitted, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
      return JSON.stringify(value);
    case 'object':
      return Array.isArray(value) ? encodeArray(value) : encodeObject(value);
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

function encodeArray(items: unknown[]): string {
  return `[${items
    .map((item) => {
      if (item === undefined) throw new TypeError('canonical JSON cannot encode undefined in an array');
      return canonicalJson(item);
    })
    .join(',')}]`;
}

function encodeObject(value: object): string {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError('canonical JSON encodes plain objects only');
  }
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

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
