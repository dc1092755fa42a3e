/**
 * A person's ed25519 key file (`swoosh keys new`): created once with mode 0600, never overwritten,
 * refused when others can read it, and never printed. The same format as the orchestrator's key
 * files but its own `format`, so a person key is never mistaken for a deployment key.
 */
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { isErrno } from '../../host/durable-fs';
import { generateSigner, type Signer, signerFromSecretKey } from '../../host/keys';
import { SignerKeySchema } from '../../schemas/proposal';
import { UsageError } from '../usage';

/** A name people recognise in a config and a ledger: it labels the key, it is not an identity. */
export const KeyName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits and . _ - only, at most 64');

const PersonKeyFile = z.strictObject({
  format: z.literal('swoosh-person-key/v1'),
  name: KeyName,
  keyId: SignerKeySchema,
  secretKey: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }),
});

/** Creates `path` with a new key; refuses to replace an existing file. Returns the public key. */
export async function createPersonKey(path: string, name: string, now = new Date()): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { signer, secretKey } = generateSigner();
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) throw new UsageError(`${path} exists; a key file is never overwritten`);
    throw error;
  }
  try {
    const body: z.infer<typeof PersonKeyFile> = {
      format: 'swoosh-person-key/v1',
      name,
      keyId: signer.keyId,
      secretKey: Buffer.from(secretKey).toString('base64'),
      createdAt: now.toISOString(),
    };
    await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return signer.keyId;
}

export type PersonSigner = Signer & { readonly name: string };

/** Loads a person key; a file others can read, or that is not a person key, is refused. */
export async function loadPersonKey(path: string): Promise<PersonSigner> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) throw new UsageError(`no key file ${path}`);
    throw error;
  }
  if ((info.mode & 0o077) !== 0)
    throw new UsageError(`key file ${path} is accessible by others; chmod 600 it`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    json = undefined;
  }
  // Field paths only: a message quoting the file could quote the private key.
  const parsed = PersonKeyFile.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new UsageError(`key file ${path} is not a swoosh person key (check: ${fields})`);
  }
  const signer = signerFromSecretKey(new Uint8Array(Buffer.from(parsed.data.secretKey, 'base64')));
  if (signer.keyId !== parsed.data.keyId)
    throw new UsageError(`key file ${path}: keyId does not match its secret key`);
  return { ...signer, name: parsed.data.name };
}
