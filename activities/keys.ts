/**
 * ed25519 keys (tweetnacl): signers, signature checks, and the key files SWOOSH keeps in its data
 * folder. A key file is created once, with mode 0600, and never overwritten; its private half is
 * read only to sign and is never printed or returned.
 */
import { open, readFile, stat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import nacl from 'tweetnacl';
import { z } from 'zod';
import { SignerKeySchema } from '../schemas/proposal';
import { isErrno } from './durable-fs';

export interface Signer {
  /** `ed25519:<base64 public key>` */
  readonly keyId: string;
  /** Base64 detached signature over `message`. */
  sign(message: Uint8Array): string;
}

export type KeyPurpose = 'orchestrator' | 'licence-issuer';

const KeyFile = z.strictObject({
  format: z.literal('swoosh-ed25519-key/v1'),
  purpose: z.enum(['orchestrator', 'licence-issuer']),
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

export function signerFromSecretKey(secretKey: Uint8Array): Signer {
  const pair = nacl.sign.keyPair.fromSecretKey(secretKey);
  return {
    keyId: keyIdOf(pair.publicKey),
    sign: (message) => Buffer.from(nacl.sign.detached(message, pair.secretKey)).toString('base64'),
  };
}

/** A fresh in-memory signer; tests and key-file creation use it. */
export function generateSigner(): { signer: Signer; secretKey: Uint8Array } {
  const pair = nacl.sign.keyPair();
  return { signer: signerFromSecretKey(pair.secretKey), secretKey: pair.secretKey };
}

/** False for any malformed key or signature, so callers need one check, not a try. */
export function verifySignature(keyId: string, message: Uint8Array, signature: string): boolean {
  const key = SignerKeySchema.safeParse(keyId);
  if (!key.success) return false;
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== nacl.sign.signatureLength) return false;
  return nacl.sign.detached.verify(message, new Uint8Array(sig), publicKeyOf(key.data));
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
  if (secretKey.length !== nacl.sign.secretKeyLength) throw new Error(`key file ${path} has a malformed key`);
  const signer = signerFromSecretKey(secretKey);
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
