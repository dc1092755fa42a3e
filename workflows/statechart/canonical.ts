/**
 * Canonical JSON: the one byte encoding that every hash and signature in SWOOSH is computed over.
 *
 * Object keys are sorted by UTF-16 code unit (the order `Array.prototype.sort` gives, and the order
 * RFC 8785 prescribes), there is no insignificant whitespace, and numbers and strings use the
 * ECMAScript `JSON.stringify` forms. Anything JSON cannot represent faithfully is refused rather
 * than silently coerced: `JSON.stringify` would turn `NaN` into `null` and drop `undefined`
 * properties, so two different documents could otherwise hash the same.
 */

/** A value that canonical JSON can encode without loss. */
export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Raised when a value has no faithful canonical JSON encoding; `path` locates the offending value. */
export class CanonicalJsonError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${message} at ${path}`);
    this.name = 'CanonicalJsonError';
  }
}

/**
 * Objects frozen all the way down by `deepFreeze`. Their canonical encoding can never change, so it
 * is remembered: a new state document shares most of its regions with the previous one, and
 * re-encoding only the region a transition changed keeps hashing cheap. Membership is by identity,
 * and weak collections let old documents be garbage-collected.
 */
const deepFrozen = new WeakSet<object>();
const encodings = new WeakMap<object, string>();

/**
 * Freezes an object graph in place and records it as immutable. Branches already recorded are
 * skipped, which is what makes freezing a reducer output cheap: only newly built parts are walked.
 * (`Object.isFrozen` alone is not enough: it says nothing about the children.)
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !deepFrozen.has(value)) {
    Object.freeze(value);
    // Recorded before the children are walked, so a cyclic graph terminates (and canonical JSON
    // then refuses it as a cycle).
    deepFrozen.add(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/** True when `value` was frozen, with everything it holds, by `deepFreeze`. */
export function isDeepFrozen(value: unknown): boolean {
  return value !== null && typeof value === 'object' && deepFrozen.has(value);
}

/**
 * Encodes `value` as canonical JSON. The same logical document always yields the same string,
 * whatever order its keys were inserted in, which is what makes state hashes comparable across
 * workers and replays. Throws `CanonicalJsonError` on non-finite numbers, `undefined`, functions,
 * symbols, bigints, cycles and non-plain objects (a `Date` or `Map` has no single JSON meaning).
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, '$', parts, new Set());
  return parts.join('');
}

function write(value: unknown, path: string, out: string[], seen: Set<object>): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`non-finite number ${String(value)}`, path);
      // JSON.stringify(-0) is "0": -0 and 0 are the same JSON number, so they hash the same.
      out.push(JSON.stringify(value));
      return;
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`unsupported ${typeof value}`, path);
  }
  const obj: object = value;
  if (deepFrozen.has(obj)) {
    let encoded = encodings.get(obj);
    if (encoded === undefined) {
      const sub: string[] = [];
      writeObject(obj, path, sub, seen);
      encoded = sub.join('');
      encodings.set(obj, encoded);
    }
    out.push(encoded);
    return;
  }
  writeObject(obj, path, out, seen);
}

/**
 * A plain object: null prototype, or the `Object.prototype` of *some* realm. Values handed across
 * a V8 context boundary (the workflow sandbox is one) carry the other realm's Object.prototype,
 * so identity with this realm's is too strict; a Date, Map or class instance still fails, because
 * its prototype has a prototype of its own.
 */
function isPlainObject(obj: object): boolean {
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === null || proto === Object.prototype) return true;
  return (
    typeof proto === 'object' &&
    Object.getPrototypeOf(proto) === null &&
    Object.prototype.toString.call(obj) === '[object Object]' &&
    typeof (proto as { constructor?: unknown }).constructor === 'function' &&
    (proto as { constructor: { name: string } }).constructor.name === 'Object'
  );
}

function writeObject(obj: object, path: string, out: string[], seen: Set<object>): void {
  if (seen.has(obj)) throw new CanonicalJsonError('cycle', path);
  seen.add(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = obj[i];
      if (item === undefined) throw new CanonicalJsonError('undefined array element', `${path}[${i}]`);
      write(item, `${path}[${i}]`, out, seen);
    }
    out.push(']');
  } else {
    if (!isPlainObject(obj)) throw new CanonicalJsonError('non-plain object', path);
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out.push('{');
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const child = record[key];
      if (child === undefined) throw new CanonicalJsonError('undefined property', `${path}.${key}`);
      if (i > 0) out.push(',');
      out.push(JSON.stringify(key), ':');
      write(child, `${path}.${key}`, out, seen);
    }
    out.push('}');
  }
  seen.delete(obj);
}
