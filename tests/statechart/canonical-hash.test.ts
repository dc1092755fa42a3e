import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64Decode, base64Encode } from '../../schemas/base64';
import { canonicalJson, CanonicalJsonError, deepFreeze } from '../../schemas/canonical-json';
import { hashCanonical, isSha256, sha256Text } from '../../schemas/hash';
import { initialState, memberSetHash, stateHash } from '../../workflows/statechart/state';
import { type StateDocument } from '../../schemas/state-document';
import { Harness } from './support/harness';

/** Rebuilds a JSON value with every object's keys inserted in a shuffled order. */
function reorderKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => reorderKeys(v, seed + i));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const shuffled = entries
      .map((e, i) => ({ e, k: Math.sin(seed * 9301 + i * 49297) }))
      .sort((a, b) => a.k - b.k)
      .map(({ e }) => e);
    return Object.fromEntries(shuffled.map(([k, v], i) => [k, reorderKeys(v, seed + i + 1)]));
  }
  return value;
}

describe('canonical JSON', () => {
  it('sorts keys and drops insignificant whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -1.5 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":-1.5,"z":0}}',
    );
  });

  it('encodes the same document identically whatever the key insertion order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        expect(canonicalJson(reorderKeys(value, seed))).toBe(canonicalJson(value));
      }),
    );
  });

  it('round-trips through JSON.parse to an equal value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('writes every string as JSON.stringify does', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00x', '\ud83d\ude00'),
    );
    fc.assert(
      fc.property(text, (s) => {
        expect(canonicalJson(s)).toBe(JSON.stringify(s));
        expect(canonicalJson({ s })).toBe(`{"s":${JSON.stringify(s)}}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('treats -0 as 0, since JSON has a single zero', () => {
    expect(canonicalJson({ n: -0 })).toBe('{"n":0}');
  });

  it('omits an undefined property, as the JSON that Temporal stores does', () => {
    expect(canonicalJson({ b: undefined, a: 1, c: { z: undefined } })).toBe('{"a":1,"c":{}}');
    expect(canonicalJson({ a: undefined })).toBe('{}');
  });

  it('orders keys by UTF-16 code units', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"Z":3,"z":2,"é":1}');
  });

  it.each([
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['-Infinity', [Number.NEGATIVE_INFINITY]],
    ['an undefined array element', [1, undefined]],
    ['a function', { f: () => 1 }],
    ['a bigint', { n: 10n }],
    ['a symbol', { s: Symbol('x') }],
    ['a Date', { d: new Date(0) }],
    ['a Map', { m: new Map() }],
  ])('refuses %s', (_label, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it('refuses cycles but accepts a shared (acyclic) subtree', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle at \$\.self/);
  });

  it('accepts plain objects and arrays from another realm (a V8 context such as the workflow sandbox)', () => {
    const foreign = vm.runInNewContext('({ b: [1, { c: 2 }], a: null })') as unknown;
    expect(canonicalJson(foreign)).toBe('{"a":null,"b":[1,{"c":2}]}');
    expect(() => canonicalJson(vm.runInNewContext('({ d: new Date(0) })'))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(vm.runInNewContext('(class K {}, { k: new (class K {})() })'))).toThrow(
      CanonicalJsonError,
    );
  });

  it('accepts objects with a null prototype', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 });
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });
});

describe('sha256 hashing in pure JavaScript', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    expect(sha256Text('abc')).toBe('sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Text('')).toBe('sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes the UTF-8 bytes of text', () => {
    // printf 'é' | sha256sum
    expect(sha256Text('é')).toBe('sha256-4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('hashes the canonical encoding, so independent implementations can check a hash', () => {
    // printf '{"a":{"c":true},"b":[1,"x",null,-2.5e-7]}' | sha256sum
    expect(hashCanonical({ b: [1, 'x', null, -2.5e-7], a: { c: true } })).toBe(
      'sha256-4eb57a91771c1d80c7463a6c7288e585a55df01295d4d5dc5dfac4a6da567813',
    );
  });

  it('produces sha256-<64 lowercase hex>', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(isSha256(hashCanonical(value))).toBe(true);
      }),
    );
  });
});

describe('state hash', () => {
  it('hashes the same document the same, however its keys were ordered', () => {
    const h = new Harness().driveExecuting();
    const reordered = reorderKeys(JSON.parse(JSON.stringify(h.state)), 7) as StateDocument;
    expect(Object.keys(reordered)).not.toEqual(Object.keys(h.state));
    expect(stateHash(reordered)).toBe(stateHash(h.state));
  });

  it('differs between missions and between states', () => {
    const a = initialState('m-a');
    const b = initialState('m-b');
    expect(stateHash(a)).not.toBe(stateHash(b));
    const h = new Harness();
    const before = stateHash(h.state);
    h.driveLicensed();
    expect(stateHash(h.state)).not.toBe(before);
  });

  it('is stable across calls and reflects changes to an unfrozen copy', () => {
    const state = initialState('m-a');
    expect(stateHash(state)).toBe(stateHash(state));
    const copy = JSON.parse(JSON.stringify(state)) as { control: { reason: string | null } } & StateDocument;
    const first = stateHash(copy);
    copy.control.reason = 'edited';
    expect(stateHash(copy)).not.toBe(first);
  });

  it('hashes a member set independently of member order', () => {
    const members = [
      { id: 'b', key: 'ed25519:B' },
      { id: 'a', key: 'ed25519:A' },
      { id: 'c', key: 'ed25519:C' },
    ];
    expect(memberSetHash(members)).toBe(memberSetHash([...members].reverse()));
    expect(memberSetHash(members)).not.toBe(memberSetHash(members.slice(1)));
  });
});

describe('base64', () => {
  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(base64Decode(base64Encode(bytes))).toEqual(bytes);
      }),
    );
  });

  it('matches RFC 4648 test vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [text, b64] of vectors) {
      expect(base64Encode(new TextEncoder().encode(text))).toBe(b64);
      expect(new TextDecoder().decode(base64Decode(b64))).toBe(text);
    }
  });

  it.each(['Zg', 'Zh==', 'Zm9=', 'Z===', 'Zm9v\n', 'Zm 9', 'Zm-v', '=Zm9', 'Zg==Zg=='])(
    'refuses non-canonical %j',
    (text) => {
      expect(base64Decode(text)).toBeNull();
    },
  );
});

describe('encoding memo for immutable documents', () => {
  it('encodes a deep-frozen document exactly as its mutable copy', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = JSON.parse(JSON.stringify(value)) as unknown;
        expect(canonicalJson(deepFreeze(copy))).toBe(canonicalJson(value));
        expect(canonicalJson(copy)).toBe(canonicalJson(value));
      }),
    );
  });

  it('does not trust Object.isFrozen: a shallow-frozen document with a mutable child is re-encoded', () => {
    const child = { n: 1 };
    const shallow = Object.freeze({ child });
    expect(canonicalJson(shallow)).toBe('{"child":{"n":1}}');
    child.n = 2;
    expect(canonicalJson(shallow)).toBe('{"child":{"n":2}}');
  });

  it('still refuses a cyclic graph after freezing it', () => {
    const a: Record<string, unknown> = {};
    a.self = { back: a };
    expect(() => canonicalJson(deepFreeze(a))).toThrow(CanonicalJsonError);
  });
});
