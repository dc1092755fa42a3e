/**
 * ed25519 keys on node:crypto (OpenSSL): signers, signature checks, and the key files SWOOSH keeps
 * in its data folder. Everything outside the workflow sandbox signs and verifies here. ed25519 is
 * deterministic (RFC 8032), so these signatures are byte-identical to the tweetnacl ones written
 * before, and key files keep tweetnacl's 64-byte secret (seed, then public key) so existing keys
 * load unchanged. Verification is strict: a malformed key, a signature that is not canonical base64
 * of 64 bytes, or a non-canonical S (S >= L, which OpenSSL refuses by itself) never verifies. A key
 * file is created once, with mode 0600, and never overwritten; its private half is read only to
 * sign and is never printed or returned.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { open, readFile, stat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { SIGNATURE_PATTERN, SignerKeySchema } from '../schemas/proposal';
import { isErrno } from './durable-fs';

export interface Signer {
  /** `ed25519:<base64 public key>` */
  readonly keyId: string;
  /** Base64 detached signature over `message`. */
  sign(message: Uint8Array): string;
}

/** `gateway`: the gateway's own key, which signs the owner commands it sends on its callers' behalf. */
export type KeyPurpose = 'orchestrator' | 'licence-issuer' | 'gateway';

const KeyFile = z.strictObject({
  format: z.literal('swoosh-ed25519-key/v1'),
  purpose: z.enum(['orchestrator', 'licence-issuer', 'gateway']),
  keyId: SignerKeySchema,
  secretKey: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }),
});

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

export function keyIdOf(publicKey: Uint8Array): string {
  return `ed25519:${Buffer.from(publicKey).toString('base64')}`;
}

export function publicKeyOf(keyId: string): Uint8Array {
  const parsed = SignerKeySchema.parse(keyId);
  return new Uint8Array(Buffer.from(parsed.slice('ed25519:'.length), 'base64'));
}

/** tweetnacl's secret key: the 32-byte seed, then the 32-byte public key. */
const SECRET_KEY_LENGTH = 64;
const SEED_LENGTH = 32;
// DER headers that wrap a raw ed25519 seed as PKCS#8 and a raw public key as SPKI (RFC 8410).
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_KEY_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_KEY_PREFIX.length));
}

/**
 * A signer for a tweetnacl-format secret key. The private KeyObject is built once, here, so a
 * signature costs no key import. Refuses a key whose public half is not its seed's, which
 * tweetnacl would have used as given, making signatures nobody can verify.
 */
export function signerFromSecretKey(secretKey: Uint8Array): Signer {
  if (secretKey.length !== SECRET_KEY_LENGTH) throw new Error('an ed25519 secret key is 64 bytes');
  const privateKey = privateKeyFromSeed(secretKey.subarray(0, SEED_LENGTH));
  const publicKey = rawPublicKey(privateKey);
  if (!Buffer.from(publicKey).equals(secretKey.subarray(SEED_LENGTH))) {
    throw new Error('the public half of the ed25519 secret key does not match its seed');
  }
  return {
    keyId: keyIdOf(publicKey),
    sign: (message) => sign(null, message, privateKey).toString('base64'),
  };
}

/** A fresh in-memory signer; tests and key-file creation use it. */
export function generateSigner(): { signer: Signer; secretKey: Uint8Array } {
  const seed = randomBytes(SEED_LENGTH);
  const secretKey = new Uint8Array(Buffer.concat([seed, rawPublicKey(privateKeyFromSeed(seed))]));
  return { signer: signerFromSecretKey(secretKey), secretKey };
}

/**
 * Public keys already imported, by key id: an import costs about as much as a verification, and
 * a ledger check verifies thousands of records under a handful of keys. Bounded, oldest out.
 */
const publicKeys = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_SIZE = 64;

/** The key for a well-formed key id, or undefined. */
function publicKeyObject(keyId: string): KeyObject | undefined {
  const cached = publicKeys.get(keyId);
  if (cached) return cached;
  if (!SignerKeySchema.safeParse(keyId).success) return undefined;
  const key = createPublicKey({
    key: Buffer.concat([SPKI_KEY_PREFIX, publicKeyOf(keyId)]),
    format: 'der',
    type: 'spki',
  });
  if (publicKeys.size >= PUBLIC_KEY_CACHE_SIZE) publicKeys.delete(publicKeys.keys().next().value!);
  publicKeys.set(keyId, key);
  return key;
}

/**
 * False for any malformed key or signature, so callers need one check, not a try. The pattern
 * admits only the canonical base64 of 64 bytes, so one signature has one spelling; OpenSSL
 * refuses S >= L, so it has no malleated twin either (tests/host/keys.test.ts proves both).
 */
export function verifySignature(keyId: string, message: Uint8Array, signature: string): boolean {
  if (!SIGNATURE_PATTERN.test(signature)) return false;
  const key = publicKeyObject(keyId);
  return key !== undefined && verify(null, message, key, Buffer.from(signature, 'base64'));
}

/**
 * Creates the key file at `path` unless one exists (`wx`: never overwrite, even under a race).
 * Returns the public key id either way.
 */
export async function ensureKeyFile(
  path: string,
  purpose: KeyPurpose,
  now: Date = new Date(),
): Promise<{ created: boolean; keyId: string }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { signer, secretKey } = generateSigner();
  const body = {
    format: 'swoosh-ed25519-key/v1',
    purpose,
    keyId: signer.keyId,
    secretKey: Buffer.from(secretKey).toString('base64'),
    createdAt: now.toISOString(),
  } satisfies z.infer<typeof KeyFile>;
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return { created: false, keyId: (await loadSigner(path, purpose)).keyId };
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { created: true, keyId: signer.keyId };
}

/**
 * Loads a signer from a key file. Refuses a file others can read, as ssh does, because a
 * leaked orchestrator key would let anyone forge ledger records.
 */
export async function loadSigner(path: string, purpose: KeyPurpose): Promise<Signer> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new Error(
      `key file ${path} is accessible by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const parsed = KeyFile.safeParse(parseJsonQuietly(await readFile(path, 'utf8')));
  // Issue paths only: a message quoting the file could quote the private key.
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new Error(`key file ${path} is not a SWOOSH ed25519 key (check: ${fields})`);
  }
  if (parsed.data.purpose !== purpose) {
    throw new Error(`key file ${path} holds a ${parsed.data.purpose} key, not a ${purpose} key`);
  }
  const secretKey = new Uint8Array(Buffer.from(parsed.data.secretKey, 'base64'));
  let signer: Signer;
  try {
    signer = signerFromSecretKey(secretKey);
  } catch (error) {
    // signerFromSecretKey's messages name the fault, never the key's bytes.
    throw new Error(`key file ${path} has a malformed key: ${(error as Error).message}`);
  }
  if (signer.keyId !== parsed.data.keyId)
    throw new Error(`key file ${path}: keyId does not match its secret key`);
  return signer;
}

/** JSON.parse's own error quotes the input, which here is secret. */
function parseJsonQuietly(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
