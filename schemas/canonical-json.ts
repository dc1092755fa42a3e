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

/** What is remembered about an object frozen all the way down by `deepFreeze`. */
interface Memo {
  encoding: string | undefined;
  digest: string | undefined;
}

/** A base class whose constructor returns the object it is given, so a subclass adds fields to it. */
class Onto {
  constructor(target: object) {
    return target;
  }
}

/**
 * The memo of a deep-frozen object, kept in private fields of the object itself. A frozen object's
 * canonical encoding can never change, so it is computed once: a new state document shares most of
 * its regions with the previous one, and re-encoding only the region a transition changed keeps
 * hashing cheap (the digest is kept for `hash.ts` for the same reason).
 *
 * Private fields rather than a WeakSet and a WeakMap: a state document adds a handful of new
 * objects per transition, and inserting those into weak collections (with the garbage collector's
 * work for weak entries) cost more than the rest of the transition. Private fields are invisible
 * to `Object.keys`, spread, JSON, structured clone and deep equality, and cost about a property.
 */
class MemoFields extends Onto {
  #encoding: string | undefined = undefined;
  #digest: string | undefined = undefined;

  static attach(target: object): void {
    new MemoFields(target);
  }

  static has(obj: object): obj is MemoFields {
    return #encoding in obj;
  }

  static encoding(obj: MemoFields): string | undefined {
    return obj.#encoding;
  }

  static setEncoding(obj: MemoFields, encoding: string): void {
    obj.#encoding = encoding;
  }

  static digest(obj: MemoFields): string | undefined {
    return obj.#digest;
  }

  static setDigest(obj: MemoFields, digest: string): void {
    obj.#digest = digest;
  }
}

/**
 * Objects that were already frozen (or made non-extensible) when `deepFreeze` met them do not get
 * the fields (engines may refuse new private fields on them); they are remembered the slow way.
 */
const foreignMemos = new WeakMap<object, Memo>();

function foreignMemo(obj: object): Memo | undefined {
  return Object.isExtensible(obj) ? undefined : foreignMemos.get(obj);
}

/** The digest `hash.ts` remembered for a deep-frozen object, if any. */
export function memoisedDigest(obj: object): string | undefined {
  return MemoFields.has(obj) ? MemoFields.digest(obj) : foreignMemo(obj)?.digest;
}

/** Remembers `digest` for a deep-frozen object (anything else is ignored: it could still change). */
export function memoiseDigest(obj: object, digest: string): void {
  if (MemoFields.has(obj)) MemoFields.setDigest(obj, digest);
  else {
    const memo = foreignMemo(obj);
    if (memo !== undefined) memo.digest = digest;
  }
}

/**
 * Freezes an object graph in place and records it as immutable. Branches already recorded are
 * skipped, which is what makes freezing a reducer output cheap: only newly built parts are walked.
 * (`Object.isFrozen` alone is not enough: it says nothing about the children.)
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !isDeepFrozen(value)) {
    // Recorded before the children are walked, so a cyclic graph terminates (and canonical JSON
    // then refuses it as a cycle).
    if (Object.isExtensible(value)) MemoFields.attach(value);
    else foreignMemos.set(value, { encoding: undefined, digest: undefined });
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/** True when `value` was frozen, with everything it holds, by `deepFreeze`. */
export function isDeepFrozen(value: unknown): boolean {
  return (
    value !== null && typeof value === 'object' && (MemoFields.has(value) || foreignMemo(value) !== undefined)
  );
}

/**
 * Encodes `value` as canonical JSON. The same logical document always yields the same string,
 * whatever order its keys were inserted in, which is what makes state hashes comparable across
 * workers and replays. Throws `CanonicalJsonError` on non-finite numbers, `undefined` array
 * elements, functions, symbols, bigints, cycles and non-plain objects (a `Date` or `Map` has no single JSON meaning).
 *
 * The encoding runs on every transition, so it builds no paths: a value it cannot encode is
 * walked again by the path-tracking walk, which throws the error that names where it is.
 */
export function canonicalJson(value: unknown): string {
  try {
    return encode(value, 0);
  } catch (error) {
    if (error !== UNENCODABLE) throw error;
  }
  locate(value, '$', new Set());
  // Nothing unencodable: the value was only nested deeper than the fast walk's cycle bound.
  return encode(value, Number.NEGATIVE_INFINITY);
}

/** Thrown by the fast encoder; never escapes `canonicalJson`. */
const UNENCODABLE = new Error('unencodable');

/**
 * The fast encoder tells a cycle by its depth rather than by a set of ancestors (a set per call
 * cost more than the rest of encoding a transition's changes): past this depth it gives up and
 * `locate` decides between a cycle and a merely deep value.
 */
const MAX_DEPTH = 512;

function encode(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw UNENCODABLE;
      // JSON.stringify gives a finite number's String() form, only slower; String(-0) is "0" too,
      // so -0 and 0, the same JSON number, hash the same.
      return String(value);
    case 'string':
      return quotedString(value);
    case 'object':
      break;
    default:
      throw UNENCODABLE;
  }
  const obj: object = value;
  if (depth > MAX_DEPTH) throw UNENCODABLE;
  if (MemoFields.has(obj)) {
    let encoded = MemoFields.encoding(obj);
    if (encoded === undefined) {
      encoded = encodeObject(obj, depth + 1);
      MemoFields.setEncoding(obj, encoded);
    }
    return encoded;
  }
  const memo = foreignMemo(obj);
  if (memo === undefined) return encodeObject(obj, depth + 1);
  return (memo.encoding ??= encodeObject(obj, depth + 1));
}

function encodeObject(obj: object, depth: number): string {
  let out: string;
  if (Array.isArray(obj)) {
    out = '[';
    for (let i = 0; i < obj.length; i++) {
      const item: unknown = obj[i];
      if (item === undefined) throw UNENCODABLE;
      out += i > 0 ? `,${encode(item, depth)}` : encode(item, depth);
    }
    out += ']';
  } else {
    if (!isPlainObject(obj)) throw UNENCODABLE;
    const record = obj as Record<string, unknown>;
    const keys = sortKeys(Object.keys(record));
    out = '{';
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const child = record[key];
      if (child === undefined) continue;
      out += `${first ? '' : ','}${quotedKey(key)}${encode(child, depth)}`;
      first = false;
    }
    out += '}';
  }
  return out;
}

/**
 * `"key":` for a property name. State documents repeat a few dozen names on every transition, and
 * quoting one is dearer than looking it up, so short names are remembered; the bounds keep a
 * stream of arbitrary names (a map keyed by user data) from growing the memory.
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEY_MAX_LENGTH = 64;
const QUOTED_KEYS_MAX = 1024;

export function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (key.length <= QUOTED_KEY_MAX_LENGTH && quotedKeys.size < QUOTED_KEYS_MAX) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/**
 * The JSON literal of a string value. `JSON.stringify` of a string cost ~140 ns here and a
 * transition re-encodes a dozen of them; a string with nothing to escape, nearly every one, is
 * quoted directly, which gives the same text in about half the time. (A cache of recent literals
 * on top of this measured no faster.)
 */
function quotedString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** What `JSON.stringify` escapes: `"`, `\`, control characters, and surrogates when unpaired. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * Sorts property names in place by UTF-16 code unit, the order of `Array.prototype.sort` without a
 * comparator (and of `<` on strings). Objects here have a handful of keys, for which an insertion
 * sort is faster than `sort`, which allocates a work area on every call.
 */
export function sortKeys(keys: string[]): string[] {
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
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
