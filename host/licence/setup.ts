/**
 * Licence wiring for a process: the checker built from SWOOSH_LICENCE_* settings, and the
 * first-run development issuer and licence.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DevLicenceEnv, LicenceEnv } from '../../schemas/licence';
import { SignerKeySchema } from '../../schemas/proposal';
import { dataPaths } from '../data-dir';
import { isErrno, pathExists } from '../durable-fs';
import { ensureKeyFile, loadSigner } from '../keys';
import { LicenceChecker } from './checker';
import { signLicence } from './tokens';

/** Builds the checker from SWOOSH_LICENCE_* settings; the issuer defaults to the dev issuer. */
export async function licenceCheckerFromEnv(
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<LicenceChecker> {
  const parsed = LicenceEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid licence configuration: ${problems}`);
  }
  const settings = parsed.data;
  const paths = dataPaths(dataDir);
  const issuerKey = settings.SWOOSH_LICENCE_ISSUER_KEY ?? (await readIssuerKey(paths.licenceIssuerPublicKey));
  return new LicenceChecker({
    issuerKey,
    source: settings.SWOOSH_LICENCE_ENDPOINT
      ? { kind: 'endpoint', url: settings.SWOOSH_LICENCE_ENDPOINT }
      : { kind: 'file', path: settings.SWOOSH_LICENCE_FILE ?? paths.licenceToken },
    graceMs: settings.SWOOSH_LICENCE_GRACE_MS,
    refreshMs: settings.SWOOSH_LICENCE_REFRESH_MS,
    retryMs: settings.SWOOSH_LICENCE_RETRY_MS,
    timeoutMs: settings.SWOOSH_LICENCE_TIMEOUT_MS,
  });
}

export interface WorkerLicence {
  checker: LicenceChecker;
  /** Where the worker's licence comes from, for its start line. */
  note: string;
}

/**
 * The worker's licence: its SWOOSH_LICENCE_* settings, else the development issuer already in the
 * data folder (`licence init`), else a development licence issued now, but only when
 * SWOOSH_DEV_LICENCE=true says so (`npm run dev` does). Without any of them the worker refuses to
 * start: a worker that denied every mission at BOOT would hide the missing setting.
 */
export async function workerLicence(
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<WorkerLicence> {
  const dev = DevLicenceEnv.safeParse(env);
  if (!dev.success)
    throw new Error('invalid licence configuration: SWOOSH_DEV_LICENCE: expected true or false');
  const configured = Object.keys(env).some((k) => k.startsWith('SWOOSH_LICENCE_') && env[k]);
  const paths = dataPaths(dataDir);
  if (configured) {
    const checker = await licenceCheckerFromEnv(env, dataDir);
    return { checker, note: 'licence from SWOOSH_LICENCE_* settings' };
  }
  if (dev.data.SWOOSH_DEV_LICENCE) {
    const result = await initDevLicence(dataDir);
    const checker = await licenceCheckerFromEnv(env, dataDir);
    const issued = result.created.licence ? 'issued now' : 'kept';
    return {
      checker,
      note: `development licence (SWOOSH_DEV_LICENCE=true) ${issued} at ${result.licencePath}`,
    };
  }
  if (await pathExists(paths.licenceIssuerPublicKey)) {
    const checker = await licenceCheckerFromEnv(env, dataDir);
    return {
      checker,
      note: `licence ${paths.licenceToken} from the development issuer ${paths.licenceIssuerPublicKey}`,
    };
  }
  throw new Error(
    'no licence settings: set SWOOSH_LICENCE_ISSUER_KEY with SWOOSH_LICENCE_FILE or SWOOSH_LICENCE_ENDPOINT; ' +
      'for development, run "npm run dev", set SWOOSH_DEV_LICENCE=true, or run "npm run swoosh -- licence init" first. ' +
      'No development licence was issued.',
  );
}

async function readIssuerKey(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    throw new Error(
      `no trusted licence issuer: set SWOOSH_LICENCE_ISSUER_KEY, or run "npm run swoosh -- licence init" for development`,
    );
  }
  const key = SignerKeySchema.safeParse(text.trim());
  if (!key.success) throw new Error(`${path} does not hold an ed25519 public key id`);
  return key.data;
}

export interface DevLicenceResult {
  issuerKeyId: string;
  created: { issuerKey: boolean; issuerPublicKey: boolean; licence: boolean };
  licencePath: string;
}

/**
 * First-run development setup: an issuer key, its public key as the trusted issuer, and a
 * licence it signed. Anything that exists is kept, never overwritten.
 */
export async function initDevLicence(dataDir: string, now: Date = new Date()): Promise<DevLicenceResult> {
  const paths = dataPaths(dataDir);
  const issuer = await ensureKeyFile(paths.licenceIssuerKey, 'licence-issuer', now);
  const issuerPublicKey = await writeNew(paths.licenceIssuerPublicKey, `${issuer.keyId}\n`);
  let licence = false;
  if (!(await pathExists(paths.licenceToken))) {
    const signer = await loadSigner(paths.licenceIssuerKey, 'licence-issuer');
    const token = signLicence(
      {
        v: 1,
        id: `dev-${now.toISOString().slice(0, 10)}`,
        issuer: signer.keyId,
        licensee: 'development',
        seats: 1,
        features: ['development'],
        issuedAt: now.toISOString(),
        notBefore: now.toISOString(),
        expiresAt: new Date(now.getTime() + DEV_LICENCE_DAYS * 24 * 60 * 60 * 1000).toISOString(),
      },
      signer,
    );
    licence = await writeNew(paths.licenceToken, `${token}\n`);
  }
  return {
    issuerKeyId: issuer.keyId,
    created: { issuerKey: issuer.created, issuerPublicKey, licence },
    licencePath: paths.licenceToken,
  };
}

const DEV_LICENCE_DAYS = 90;

/** Writes a file only if absent; false when it already existed. */
async function writeNew(path: string, text: string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}
