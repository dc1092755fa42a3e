/**
 * The strict sandbox verifier (`@noble/curves`) against tweetnacl, the reference. On every kind of
 * signature an honest key or a tamperer produces — valid, forged, truncated, bit-flipped, signed
 * over other bytes or by another key, malleated by adding the group order to S — the two must give
 * the same verdict with the same reason, or replacing one by the other would change what a
 * mission accepts. Signing must be byte-identical. Where they may differ (crafted small-order
 * keys), the strict verifier refuses, which is why replayed code chooses by patch.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { base64Encode } from '../../schemas/base64';
import { verifyDetachedLegacy } from '../../workflows/statechart/legacy-signing';
import { scalarIsCanonical, signDetached, verifyDetached } from '../../workflows/statechart/signing';
import { signerKeyFromPublicKey } from '../../schemas/signed-bytes';

// tweetnacl, the reference, costs milliseconds per check; these counts keep the file near ten
// seconds on a quiet machine.
const RUNS = 100;
const TIMEOUT_MS = 180_000;

/** The group order L as a little-endian 32-byte number. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function toLE(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

function fromLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** The reference verdict: tweetnacl behind the scalar check SWOOSH has always added. */
function reference(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  return (
    signature.length === 64 &&
    scalarIsCanonical(signature) &&
    nacl.sign.detached.verify(message, signature, publicKey)
  );
}

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ minLength: 0, maxLength: 300 });

/** A signature as a tamperer might present it, from an honest one over `msg` by `pair`. */
type Tamper = (sig: Uint8Array, ctx: { other: Uint8Array; bit: number; cut: number }) => Uint8Array;
const TAMPERS: Record<string, Tamper> = {
  valid: (sig) => sig,
  'bit-flipped': (sig, { bit }) => {
    const out = sig.slice();
    out[bit >> 3]! ^= 1 << (bit & 7);
    return out;
  },
  truncated: (sig, { cut }) => sig.slice(0, cut % 64),
  forged: (_sig, { other }) => other,
  malleated: (sig) => {
    const s = fromLE(sig.subarray(32)) + L;
    const out = sig.slice();
    out.set(toLE(s < 2n ** 256n ? s : s - L), 32);
    return out;
  },
};

describe('the strict ed25519 verifier', () => {
  it(
    'signs byte for byte as tweetnacl does',
    () => {
      fc.assert(
        fc.property(seed, message, (s, msg) => {
          const pair = nacl.sign.keyPair.fromSeed(s);
          expect(signDetached(msg, pair.secretKey)).toBe(
            base64Encode(nacl.sign.detached(msg, pair.secretKey)),
          );
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  for (const [kind, tamper] of Object.entries(TAMPERS)) {
    it(
      `gives tweetnacl's verdict and reason on ${kind} signatures`,
      () => {
        fc.assert(
          fc.property(
            seed,
            message,
            fc.uint8Array({ minLength: 64, maxLength: 64 }),
            fc.nat({ max: 511 }),
            fc.nat(),
            (s, msg, other, bit, cut) => {
              const pair = nacl.sign.keyPair.fromSeed(s);
              const sig = tamper(nacl.sign.detached(msg, pair.secretKey), { other, bit, cut });
              const signer = signerKeyFromPublicKey(pair.publicKey);
              const strict = verifyDetached(msg, base64Encode(sig), signer);
              expect(strict).toEqual(verifyDetachedLegacy(msg, base64Encode(sig), signer));
              expect(strict.ok).toBe(reference(msg, sig, pair.publicKey));
              if (kind === 'valid') expect(strict.ok).toBe(true);
              if (kind === 'malleated' || kind === 'truncated') expect(strict.ok).toBe(false);
            },
          ),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }

  it(
    "gives tweetnacl's verdict on signatures over other bytes or by another key",
    () => {
      fc.assert(
        fc.property(seed, seed, message, message, fc.boolean(), (s1, s2, m1, m2, otherKey) => {
          const signerPair = nacl.sign.keyPair.fromSeed(s1);
          const sig = nacl.sign.detached(m1, signerPair.secretKey);
          const [msg, pub] = otherKey
            ? [m1, nacl.sign.keyPair.fromSeed(s2).publicKey]
            : [m2, signerPair.publicKey];
          const signer = signerKeyFromPublicKey(pub);
          const strict = verifyDetached(msg, base64Encode(sig), signer);
          expect(strict).toEqual(verifyDetachedLegacy(msg, base64Encode(sig), signer));
          expect(strict.ok).toBe(reference(msg, sig, pub));
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it('refuses a small-order key that tweetnacl accepts for any message (why replays choose by patch)', () => {
    // The identity point as a public key, R = identity and S = 0: [S]B - [k]A = identity = R for
    // every message, so tweetnacl accepts this one "signature" for anything.
    const identity = toLE(1n);
    const signature = new Uint8Array(64);
    signature.set(identity, 0);
    const signer = signerKeyFromPublicKey(identity);
    for (const text of ['pause everything', 'terminate']) {
      const msg = new TextEncoder().encode(text);
      expect(verifyDetachedLegacy(msg, base64Encode(signature), signer).ok).toBe(true);
      expect(verifyDetached(msg, base64Encode(signature), signer)).toEqual({
        ok: false,
        reason: `signature does not verify for ${signer}`,
      });
    }
  });

  it(
    "decides exactly as @noble/curves' own strict verify, on honest, random and crafted keys and R",
    () => {
      const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
      // Small-order points and non-canonical encodings (y ≥ p), which strict decoding must refuse.
      const crafted = [
        '0100000000000000000000000000000000000000000000000000000000000000',
        'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
        '0000000000000000000000000000000000000000000000000000000000000000',
        '0000000000000000000000000000000000000000000000000000000000000080',
        '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
        'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
        'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
      ].map(hex);
      const place = fc.oneof(
        fc.constant(null),
        fc.constantFrom(...crafted),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
      );
      fc.assert(
        fc.property(seed, message, place, place, (s, msg, key, r) => {
          const pair = nacl.sign.keyPair.fromSeed(s);
          const sig = nacl.sign.detached(msg, pair.secretKey);
          if (r !== null) sig.set(r, 0);
          const publicKey = key ?? pair.publicKey;
          const expected = scalarIsCanonical(sig) && ed25519.verify(sig, msg, publicKey, { zip215: false });
          const signer = signerKeyFromPublicKey(publicKey);
          expect(verifyDetached(msg, base64Encode(sig), signer).ok).toBe(expected);
          if (key === null && r === null) expect(expected).toBe(true);
        }),
        { numRuns: 400 },
      );
      for (const key of crafted) {
        const signer = signerKeyFromPublicKey(key);
        expect(verifyDetached(new Uint8Array([1]), base64Encode(new Uint8Array(64)), signer).ok).toBe(false);
      }
    },
    TIMEOUT_MS,
  );

  it('refuses malformed identities and signatures with the same reasons as before', () => {
    const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
    const msg = new Uint8Array([1, 2, 3]);
    const sig = base64Encode(nacl.sign.detached(msg, pair.secretKey));
    expect(verifyDetached(msg, sig, 'ed25519:AAAA')).toEqual({
      ok: false,
      reason: 'signer ed25519:AAAA is not an ed25519 public key',
    });
    expect(verifyDetached(msg, `${sig}=`, signerKeyFromPublicKey(pair.publicKey))).toEqual({
      ok: false,
      reason: 'signature is not canonical base64 of 64 bytes',
    });
  });
});
