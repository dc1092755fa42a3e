/**
 * The sandbox's SHA-256 against `node:crypto`: the same digest for every length around the block
 * and padding boundaries, for random bytes, and for `ResumableSha256` on sequences that share, extend,
 * shorten and rewrite prefixes of the previous input, since a state hash that differed from the
 * standard digest would break every recorded hash.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../schemas/canonical-json';
import { reduce } from '../../workflows/statechart/reducer';
import { ResumableSha256, sha256Hex } from '../../schemas/sha256';
import { initialState, stateHash } from '../../workflows/statechart/state';
import { acceptedEvents, simContext, simulate, type SimOptions } from './support/sim';

const reference = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('SHA-256 for the sandbox', () => {
  it('matches the FIPS 180-4 test vectors', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(sha256Hex(ascii(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(ascii('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('agrees with node:crypto on every length up to three blocks and past the padding edges', () => {
    for (let n = 0; n <= 200; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      expect(sha256Hex(bytes)).toBe(reference(bytes));
    }
  });

  it('agrees with node:crypto on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        expect(sha256Hex(bytes)).toBe(reference(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('resumes from shared prefixes without changing any digest', () => {
    const edit = fc.record({
      keep: fc.nat({ max: 4000 }),
      append: fc.uint8Array({ maxLength: 700 }),
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.array(edit, { maxLength: 12 }), (first, edits) => {
        const hasher = new ResumableSha256();
        // One buffer rewritten in place, with stale bytes past the input's end, as DocumentHasher does.
        const buffer = new Uint8Array(8000).fill(0xa5);
        buffer.set(first, 0);
        let length = first.length;
        expect(hasher.digestHex(buffer, length, 0)).toBe(reference(first));
        for (const { keep, append } of edits) {
          const kept = Math.min(keep, length);
          buffer.set(append, kept);
          length = kept + append.length;
          expect(hasher.digestHex(buffer, length, kept)).toBe(reference(buffer.slice(0, length)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('starts afresh when told nothing is unchanged', () => {
    const hasher = new ResumableSha256();
    const a = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const b = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff);
    hasher.digestHex(a, a.length, 0);
    expect(hasher.digestHex(b, b.length, 0)).toBe(reference(b));
  });
});

describe('state hashes', () => {
  it('equal node:crypto over the canonical JSON for every state of a simulated mission', () => {
    const options: SimOptions = {
      seed: 77,
      accepted: 1500,
      signed: false,
      chaos: { duplicate: 0.05, reorder: 0.03, drop: 0.03, invalid: 0.05 },
    };
    const run = simulate(options);
    const { config } = simContext(options);
    let state = initialState('m-hash');
    let checked = 0;
    for (const event of acceptedEvents(run)) {
      state = reduce(state, event, config);
      expect(stateHash(state)).toBe(`sha256-${reference(new TextEncoder().encode(canonicalJson(state)))}`);
      checked++;
    }
    expect(checked).toBe(1500);
  });
});
