/**
 * Canonical JSON: the one byte encoding that every hash and signature in SWOOSH is computed over,
 * in the workflow sandbox and outside it alike.
 *
 * Object keys are sorted by UTF-16 code unit (the order `Array.prototype.sort` gives, and the order
 * RFC 8785 prescribes), there is no insignificant whitespace, and numbers and strings use the
 * ECMAScript `JSON.stringify` forms. An object property whose value is `undefined` is omitted, as
 * JSON (and Temporal's payload converter) stores it, so the hashed value is the stored value.
 * Anything else JSON cannot represent faithfully is refused rather than silently coerced:
 * `JSON.stringify` would turn `NaN` or an `undefined` array element into `null`, so two different
 * documents could otherwise hash the same.

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
 * workers and replays. Throws `CanonicalJsonError` on non-finite numbers, `undefined` array
 * elements, functions, symbols, bigints, cycles and non-plain objects (a `Date` or `Map` has no single JSON meaning).
 *
 * The encoding runs on every transition, so it builds no paths: a value it cannot encode is
 * encoded again by the path-tracking walk, which throws the error that names where it is.
 */
export function canonicalJson(value: unknown): string {
  try {
    return encode(value, new Set());
  } catch (error) {
    if (error !== UNENCODABLE) throw error;
  }
  locate(value, '$', new Set());
  throw new CanonicalJsonError('unencodable value', '$');
}

/** Thrown by the fast encoder; never escapes `canonicalJson`. */
const UNENCODABLE = new Error('unencodable');

function encode(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw UNENCODABLE;
      // JSON.stringify(-0) is "0": -0 and 0 are the same JSON number, so they hash the same.
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw UNENCODABLE;
  }
  const obj: object = value;
  if (!deepFrozen.has(obj)) return encodeObject(obj, seen);
  let encoded = encodings.get(obj);
  if (encoded === undefined) {
    encoded = encodeObject(obj, seen);
    encodings.set(obj, encoded);
  }
  return encoded;
}

function encodeObject(obj: object, seen: Set<object>): string {
  if (seen.has(obj)) throw UNENCODABLE;
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = '[';
    for (let i = 0; i < obj.length; i++) {
      const item: unknown = obj[i];
      if (item === undefined) throw UNENCODABLE;
      out += i > 0 ? `,${encode(item, seen)}` : encode(item, seen);
    }
    out += ']';
  } else {
    if (!isPlainObject(obj)) throw UNENCODABLE;
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out = '{';
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const child = record[key];
      if (child === undefined) continue;
      out += `${first ? '' : ','}${JSON.stringify(key)}:${encode(child, seen)}`;
      first = false;
    }
    out += '}';
  }
  seen.delete(obj);
  return out;
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

/**
 * Walks `value` in the order `encode` does, tracking the path, and throws the error for the first
 * value canonical JSON cannot encode.
 */
function locate(value: unknown, path: string, seen: Set<object>): void {
  if (value === null) return;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`non-finite number ${String(value)}`, path);
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`unsupported ${typeof value}`, path);
  }
  const obj: object = value;
  if (seen.has(obj)) throw new CanonicalJsonError('cycle', path);
  seen.add(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const item: unknown = obj[i];
      if (item === undefined) throw new CanonicalJsonError('undefined array element', `${path}[${i}]`);
      locate(item, `${path}[${i}]`, seen);
    }
  } else {
    if (!isPlainObject(obj)) throw new CanonicalJsonError('non-plain object', path);
    const record = obj as Record<string, unknown>;
    for (const key of Object.keys(record).sort()) {
      const child = record[key];
      if (child !== undefined) locate(child, `${path}.${key}`, seen);
    }
  }
  seen.delete(obj);
}
