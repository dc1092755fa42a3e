/**
 * The node:crypto signer and verifier against tweetnacl, the reference they replaced: the same
 * signatures byte for byte, the same verdicts once tweetnacl is given the canonical-S check it
 * lacks, and key files written in tweetnacl's format still loading.
 */
import { createHash, createPublicKey, verify as opensslVerify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigner, keyIdOf, loadSigner, signerFromSecretKey, verifySignature } from '../../host/keys';

/** The order of the ed25519 base point; a signature's S must be below it (RFC 8032 §5.1.7). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const littleEndian = (bytes: Uint8Array): bigint =>
  bytes.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);

function withS(signature: Uint8Array, s: bigint): Uint8Array {
  const out = new Uint8Array(signature);
  for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return out;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** tweetnacl's verdict plus the canonical-S check it does not make: what verification must say. */
const reference = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
  signature.length === 64 &&
  littleEndian(signature.subarray(32)) < L &&
  nacl.sign.detached.verify(message, signature, publicKey);

const native = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
  verifySignature(keyIdOf(publicKey), message, base64(signature));

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = new Uint8Array(bytes);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << (bit % 8);
  return out;
};

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ minLength: 1, maxLength: 300 });

interface Signed {
  seed: Uint8Array;
  key: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}
interface Draw {
  bit: number;
  length: number;
  s: bigint;
}

/** Ways of presenting a signed message to a verifier; only `valid` should verify. */
const presentations = {
  valid: (at: Signed) => at,
  // Signed by another key: one derived from the signer's, so never the same one.
  forged: (at: Signed) => ({
    ...at,
    signature: nacl.sign.detached(
      at.message,
      nacl.sign.keyPair.fromSeed(createHash('sha256').update(at.seed).digest()).secretKey,
    ),
  }),
  truncated: (at: Signed, { length }: Draw) => ({ ...at, signature: at.signature.subarray(0, length) }),
  extended: (at: Signed) => ({ ...at, signature: new Uint8Array([...at.signature, 0]) }),
  'flipped-signature': (at: Signed, { bit }: Draw) => ({ ...at, signature: flipBit(at.signature, bit) }),
  'flipped-message': (at: Signed, { bit }: Draw) => ({ ...at, message: flipBit(at.message, bit) }),
  'flipped-key': (at: Signed, { bit }: Draw) => ({ ...at, key: flipBit(at.key, bit % 256) }),
  malleated: (at: Signed) => ({
    ...at,
    signature: withS(at.signature, littleEndian(at.signature.subarray(32)) + L),
  }),
  'large-s': (at: Signed, { s }: Draw) => ({ ...at, signature: withS(at.signature, s) }),
} satisfies Record<string, (at: Signed, draw: Draw) => Signed>;
type Presentation = keyof typeof presentations;

const cases = fc
  .record({
    seed,
    message,
    kind: fc.constantFrom(...(Object.keys(presentations) as Presentation[])),
    draw: fc.record({
      bit: fc.nat(511),
      length: fc.nat(63),
      s: fc.bigInt({ min: L, max: 2n ** 256n - 1n }),
    }),
  })
  .map(({ seed, message, kind, draw }) => {
    const pair = nacl.sign.keyPair.fromSeed(seed);
    const signed = {
      seed,
      key: pair.publicKey,
      message,
      signature: nacl.sign.detached(message, pair.secretKey),
    };
    return { kind, valid: kind === 'valid', ...presentations[kind](signed, draw) };
  });

describe('ed25519 on node:crypto', () => {
  it('signs byte for byte as tweetnacl does, for any key and message', () => {
    fc.assert(
      fc.property(seed, fc.uint8Array({ maxLength: 1024 }), (seed, message) => {
        const pair = nacl.sign.keyPair.fromSeed(seed);
        const signer = signerFromSecretKey(pair.secretKey);
        expect(signer.keyId).toBe(keyIdOf(pair.publicKey));
        expect(signer.sign(message)).toBe(base64(nacl.sign.detached(message, pair.secretKey)));
      }),
      { numRuns: 150 },
    );
  });

  it('generates keys in tweetnacl format that tweetnacl signs with identically', () => {
    const { signer, secretKey } = generateSigner();
    const pair = nacl.sign.keyPair.fromSecretKey(secretKey);
    const message = new TextEncoder().encode('swoosh');
    expect(signer.keyId).toBe(keyIdOf(pair.publicKey));
    expect(signer.sign(message)).toBe(base64(nacl.sign.detached(message, secretKey)));
  });

  it('verifies exactly as tweetnacl with the canonical-S check: valid, forged, truncated, flipped, malleated', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(cases, (c) => {
        seen.add(c.kind);
        expect(reference(c.key, c.message, c.signature)).toBe(c.valid);
        expect(native(c.key, c.message, c.signature)).toBe(c.valid);
      }),
      { numRuns: 150 },
    );
    expect(seen.size).toBe(Object.keys(presentations).length);
  });

  it('refuses a malleated signature (S + L) that tweetnacl alone accepts', () => {
    const pair = nacl.sign.keyPair();
    const message = new TextEncoder().encode('one signature per message');
    const signature = nacl.sign.detached(message, pair.secretKey);
    const malleated = withS(signature, littleEndian(signature.subarray(32)) + L);
    expect(nacl.sign.detached.verify(message, malleated, pair.publicKey)).toBe(true);
    expect(native(pair.publicKey, message, signature)).toBe(true);
    expect(native(pair.publicKey, message, malleated)).toBe(false);
  });

  it('relies on OpenSSL itself to refuse S >= L, so it makes no check of its own', () => {
    const pair = nacl.sign.keyPair();
    const key = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pair.publicKey]),
      format: 'der',
      type: 'spki',
    });
    const message = new TextEncoder().encode('S below L');
    const signature = nacl.sign.detached(message, pair.secretKey);
    const s = littleEndian(signature.subarray(32));
    expect(opensslVerify(null, message, key, signature)).toBe(true);
    for (const big of [s + L, L, 2n ** 253n - 1n, 2n ** 256n - 1n]) {
      expect(opensslVerify(null, message, key, withS(signature, big))).toBe(false);
    }
  });

  it('refuses a signature spelled in non-canonical base64, though it decodes to a valid one', () => {
    const { signer } = generateSigner();
    const message = new TextEncoder().encode('one spelling');
    const signature = signer.sign(message);
    // The last character before `==` carries 2 bits of data and 4 that must be zero.
    const last = 'AQgw'.indexOf(signature[85]!);
    const respelled = `${signature.slice(0, 85)}${'BRhx'[last]}==`;
    expect(Buffer.from(respelled, 'base64').equals(Buffer.from(signature, 'base64'))).toBe(true);
    expect(verifySignature(signer.keyId, message, signature)).toBe(true);
    expect(verifySignature(signer.keyId, message, respelled)).toBe(false);
  });

  it('answers false, never throws, for malformed key ids and signatures', () => {
    const { signer } = generateSigner();
    const message = new Uint8Array([1, 2, 3]);
    const signature = signer.sign(message);
    expect(verifySignature('ed25519:short', message, signature)).toBe(false);
    expect(verifySignature(signer.keyId.replace('ed25519:', 'rsa:'), message, signature)).toBe(false);
    expect(verifySignature(signer.keyId, message, '')).toBe(false);
    expect(verifySignature(signer.keyId, message, signature.slice(4))).toBe(false);
    expect(verifySignature(signer.keyId, message, `${signature}AAAA`)).toBe(false);
  });

  it('refuses a secret key of the wrong length or whose public half is not its seed', () => {
    const pair = nacl.sign.keyPair();
    expect(() => signerFromSecretKey(pair.secretKey.subarray(0, 32))).toThrow(/64 bytes/);
    const mismatched = new Uint8Array([...pair.secretKey.subarray(0, 32), ...nacl.sign.keyPair().publicKey]);
    expect(() => signerFromSecretKey(mismatched)).toThrow(/does not match its seed/);
  });
});

describe('key files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swoosh-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const keyFile = async (secretKey: Uint8Array, keyId: string): Promise<string> => {
    const path = join(dir, 'orchestrator.key.json');
    const body = {
      format: 'swoosh-ed25519-key/v1',
      purpose: 'orchestrator',
      keyId,
      secretKey: base64(secretKey),
      createdAt: '2025-10-19T01:00:00.000Z',
    };
    await writeFile(path, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    return path;
  };

  it('load a key written by the tweetnacl signer and sign as it did', async () => {
    const pair = nacl.sign.keyPair();
    const signer = await loadSigner(await keyFile(pair.secretKey, keyIdOf(pair.publicKey)), 'orchestrator');
    const message = new TextEncoder().encode('still the same key');
    expect(signer.keyId).toBe(keyIdOf(pair.publicKey));
    expect(signer.sign(message)).toBe(base64(nacl.sign.detached(message, pair.secretKey)));
  });

  it('refuse a key whose halves disagree, without quoting it', async () => {
    const pair = nacl.sign.keyPair();
    const other = nacl.sign.keyPair().publicKey;
    const secretKey = new Uint8Array([...pair.secretKey.subarray(0, 32), ...other]);
    const path = await keyFile(secretKey, keyIdOf(other));
    const failure = await loadSigner(path, 'orchestrator').then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toMatch(/malformed key: the public half .* does not match its seed/);
    expect(failure?.message).not.toContain(base64(secretKey));
    expect(failure?.message).not.toContain(base64(secretKey.subarray(0, 32)));
  });
});
