/**
 * The fast state hash against the straightforward one. `stateHash` encodes only the members a
 * transition changed, reuses memoised encodings and the previous version's bytes, and resumes
 * SHA-256 mid-document; none of that may change a byte. Every digest here is checked against a
 * plain recursive canonical encoder (sorted keys, `JSON.stringify` forms, no memo) hashed by
 * `node:crypto`, over generated document histories and over simulated missions.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, deepFreeze, isDeepFrozen } from '../../schemas/canonical-json';
import { DocumentHasher, hashCanonical } from '../../schemas/hash';
import { reduce } from '../../workflows/statechart/reducer';
import { initialState, stateHash } from '../../workflows/statechart/state';
import { acceptedEvents, simContext, simulate, type SimOptions } from './support/sim';

/** Canonical JSON written the obvious way, sharing no code with schemas/canonical-json.ts. */
function plainCanonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(plainCanonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${plainCanonical(record[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

const plainHash = (value: unknown): string =>
  `sha256-${createHash('sha256').update(plainCanonical(value), 'utf8').digest('hex')}`;

/** Keys that collide in interesting ways when sorted: code-unit order, digits, non-ASCII. */
const key = fc.oneof(
  fc.constantFrom('a', 'b', 'B', 'z', '10', '9', 'é', 'ä', '\u{1F600}', 'epoch', 'head', 'meta'),
  fc.string({ maxLength: 6 }),
);
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** One step of a document's history: set, replace with a big value, delete, or undefine a member. */
const step = fc.record({
  op: fc.constantFrom('set', 'big', 'delete', 'undefine', 'keep'),
  key,
  value,
});

describe('DocumentHasher', () => {
  it('gives the plain encoder’s digest for every version of generated document histories', () => {
    fc.assert(
      fc.property(
        fc.dictionary(key, value, { maxKeys: 10 }),
        fc.array(step, { maxLength: 25 }),
        (start, steps) => {
          const hasher = new DocumentHasher();
          let doc = deepFreeze({ ...start }) as Record<string, unknown>;
          expect(hasher.digest(doc)).toBe(plainHash(doc));
          for (const s of steps) {
            // Every version shares all other members with the previous one by identity, as the
            // reducer's documents do.
            const next: Record<string, unknown> = { ...doc };
            if (s.op === 'set') next[s.key] = s.value;
            if (s.op === 'big') next[s.key] = { payload: 'x'.repeat(300), nested: s.value };
            if (s.op === 'delete') delete next[s.key];
            if (s.op === 'undefine') next[s.key] = undefined;
            doc = deepFreeze(s.op === 'keep' ? doc : next);
            expect(hasher.digest(doc)).toBe(plainHash(doc));
            expect(canonicalJson(doc)).toBe(plainCanonical(doc));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is not misled by going back to an older version or by an unrelated document', () => {
    const hasher = new DocumentHasher();
    const a = deepFreeze({ x: { n: 1 }, y: 'a'.repeat(200), z: [1, 2, 3] });
    const b = deepFreeze({ ...a, y: 'b'.repeat(100) });
    const other = deepFreeze({ q: 'é'.repeat(70), x: { n: 2 } });
    for (const doc of [a, b, a, other, b, other, a]) expect(hasher.digest(doc)).toBe(plainHash(doc));
  });

  it('agrees with hashCanonical on the same document and refuses a document that could change', () => {
    const doc = deepFreeze({ b: [1, { c: 'ü' }], a: null });
    expect(new DocumentHasher().digest(doc)).toBe(hashCanonical(doc));
    expect(() => new DocumentHasher().digest({ a: 1 })).toThrow(TypeError);
  });

  it('leaves its state intact when a member cannot be encoded', () => {
    const hasher = new DocumentHasher();
    const good = deepFreeze({ a: 'x'.repeat(100), b: 1 });
    hasher.digest(good);
    expect(() => hasher.digest(deepFreeze({ ...good, b: Number.NaN }))).toThrow(/non-finite/);
    const next = deepFreeze({ ...good, b: 2 });
    expect(hasher.digest(next)).toBe(plainHash(next));
  });
});

describe('deepFreeze memo', () => {
  it('is invisible: keys, JSON, spread and structured clone see only the document', () => {
    const doc = deepFreeze({ a: { b: [1] } });
    new DocumentHasher().digest(doc);
    expect(Object.keys(doc)).toEqual(['a']);
    expect(Object.getOwnPropertySymbols(doc)).toEqual([]);
    expect(JSON.stringify(doc)).toBe('{"a":{"b":[1]}}');
    expect(isDeepFrozen({ ...doc })).toBe(false);
    expect(isDeepFrozen(structuredClone(doc))).toBe(false);
    expect(structuredClone(doc)).toEqual({ a: { b: [1] } });
  });

  it('records objects frozen elsewhere without trusting their children', () => {
    const child = { n: 1 };
    const shallow = Object.freeze({ child });
    expect(isDeepFrozen(shallow)).toBe(false);
    deepFreeze(shallow);
    expect(isDeepFrozen(shallow)).toBe(true);
    expect(Object.isFrozen(child)).toBe(true);
    expect(canonicalJson(shallow)).toBe('{"child":{"n":1}}');
  });

  it('encodes values nested deeper than the fast walk’s bound, and still names a cycle', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 2000; i++) deep = i % 2 === 0 ? [deep] : { d: deep };
    expect(canonicalJson(deep)).toBe(plainCanonical(deep));
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    (cyclic.a as { b: Record<string, unknown> }).b.back = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle at \$\.a\.b\.back/);
  });
});

describe('state hashes of simulated missions', () => {
  it.each([1, 2, 3])('equal the plain encoder’s digest for every state (seed %i)', (seed) => {
    const options: SimOptions = {
      seed,
      accepted: 600,
      signed: false,
      chaos: { duplicate: 0.05, reorder: 0.03, drop: 0.03, invalid: 0.05 },
    };
    const run = simulate(options);
    const { config } = simContext(options);
    let state = initialState(`m-doc-${seed}`);
    const states = [state];
    for (const event of acceptedEvents(run)) {
      state = reduce(state, event, config);
      states.push(state);
      expect(stateHash(state)).toBe(plainHash(state));
    }
    // Earlier states again, out of order, through the same mission's hasher: fresh top-level
    // objects (no memoised digest) sharing every member with the state they copy.
    for (const earlier of [states[300]!, states[5]!, states[599]!, states[0]!, state]) {
      expect(stateHash(deepFreeze({ ...earlier }))).toBe(plainHash(earlier));
      expect(stateHash(JSON.parse(JSON.stringify(earlier)) as typeof earlier)).toBe(plainHash(earlier));
    }
  });
});
