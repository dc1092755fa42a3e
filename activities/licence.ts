/**
 * Licence (KACHING). A licence is an ed25519-signed token verified offline against the trusted
 * issuer key, read from a file or fetched from a licence endpoint. The checker caches what it
 * last read and refreshes with jitter (so a fleet of workers does not hit the endpoint in step);
 * the verdict is re-evaluated against the clock on every call, so expiry and the end of grace
 * take effect even between refreshes.
 *
 * Verdict rules:
 * - a token that fails verification (tampered, wrong issuer, malformed, missing) → DENIED now;
 * - a valid token → LICENSED between notBefore and expiresAt, then DEGRADED for the grace period;
 * - endpoint slow, unreachable or denying after a licence has verified → DEGRADED until grace
 *   runs out (counted from the first failure), then DENIED; with nothing verified yet → DENIED.
 *
 * Token format: `swl1.<base64url canonical-JSON claims>.<base64url signature>`, the signature
 * covering the text before the last dot (denials use `swd1.`).
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { SignerKeySchema } from '../schemas/proposal';
import {
  LicenceClaims,
  LicenceDenialClaims,
  LicenceDenialResponse,
  LicenceEnv,
  LicenceGrantResponse,
  type LicenceVerdict,
} from '../schemas/licence';
import { canonicalJson } from '../schemas/canonical-json';
import { dataPaths } from '../host/data-dir';
import { isErrno, pathExists } from '../host/durable-fs';
import { describeFetchError } from './fetch-error';
import { ensureKeyFile, loadSigner, type Signer, utf8Bytes, verifySignature } from '../host/keys';

const LICENCE_PREFIX = 'swl1';
const DENIAL_PREFIX = 'swd1';

function signToken(prefix: string, claims: unknown, issuer: Signer): string {
  const head = `${prefix}.${Buffer.from(canonicalJson(claims)).toString('base64url')}`;
  const signature = Buffer.from(issuer.sign(utf8Bytes(head)), 'base64').toString('base64url');
  return `${head}.${signature}`;
}

export function signLicence(claims: LicenceClaims, issuer: Signer): string {
  return signToken(LICENCE_PREFIX, LicenceClaims.parse(claims), issuer);
}

export function signDenial(claims: LicenceDenialClaims, issuer: Signer): string {
  return signToken(DENIAL_PREFIX, LicenceDenialClaims.parse(claims), issuer);
}

type Verified<T> = { ok: true; claims: T } | { ok: false; reason: string };

function verifyToken<T extends { issuer: string }>(
  prefix: string,
  schema: z.ZodType<T>,
  token: string,
  issuerKey: string,
): Verified<T> {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return { ok: false, reason: 'token is malformed' };
  const [, payload = '', signature = ''] = parts;
  const claims = decodeClaims(schema, payload);
  const signed = verifySignature(
    issuerKey,
    utf8Bytes(`${prefix}.${payload}`),
    Buffer.from(signature, 'base64url').toString('base64'),
  );
  if (!signed) {
    // Claims read before verification serve only to say which key signed; nothing else trusts them.
    if (claims && claims.issuer !== issuerKey) {
      return { ok: false, reason: `token is signed by issuer ${claims.issuer}, not the trusted issuer` };
    }
    return { ok: false, reason: 'token signature does not verify against the trusted issuer (altered?)' };
  }
  if (!claims) return { ok: false, reason: 'token claims are malformed' };
  if (claims.issuer !== issuerKey) return { ok: false, reason: `token names issuer ${claims.issuer}` };
  return { ok: true, claims };
}

function decodeClaims<T>(schema: z.ZodType<T>, payload: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function verifyLicenceToken(token: string, issuerKey: string): Verified<LicenceClaims> {
  return verifyToken(LICENCE_PREFIX, LicenceClaims, token, issuerKey);
}

export type LicenceSource = { kind: 'file'; path: string } | { kind: 'endpoint'; url: string };

export interface LicenceCheckerOptions {
  /** The trusted issuer, `ed25519:<base64 public key>`. */
  issuerKey: string;
  source: LicenceSource;
  /** How long DEGRADED lasts before DENIED. */
  graceMs: number;
  /** Refresh interval after a successful read. */
  refreshMs: number;
  /** Refresh interval while the last read failed. */
  retryMs: number;
  /** Deadline for one endpoint request, body included. */
  timeoutMs: number;
  /** ± fraction applied to refresh intervals; default 0.2. */
  jitter?: number;
  clock?: () => number;
  random?: () => number;
}

type Outcome =
  | { kind: 'valid'; claims: LicenceClaims }
  | { kind: 'invalid' | 'unavailable' | 'denied'; reasons: string[] };
type Attempt = Outcome & { at: number };

export class LicenceChecker {
  readonly #options: Required<LicenceCheckerOptions>;
  #last: Attempt | undefined;
  #lastGood: LicenceClaims | undefined;
  #troubleSince: number | undefined;
  #nextCheckAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;

  constructor(options: LicenceCheckerOptions) {
    SignerKeySchema.parse(options.issuerKey);
    this.#options = {
      ...options,
      jitter: options.jitter ?? 0.2,
      clock: options.clock ?? Date.now,
      random: options.random ?? Math.random,
    };
  }

  /** The current verdict; reads or fetches the licence only when the cached read is due. */
  async check(): Promise<LicenceVerdict> {
    if (this.#options.clock() >= this.#nextCheckAt) {
      // Concurrent callers share one refresh instead of each hitting the endpoint.
      this.#inflight ??= this.#refresh().finally(() => {
        this.#inflight = undefined;
      });
      await this.#inflight;
    }
    return this.#verdict(this.#options.clock());
  }

  async #refresh(): Promise<void> {
    const { source, clock, refreshMs, retryMs } = this.#options;
    const at = clock();
    const outcome =
      source.kind === 'file' ? await this.#readFile(source.path) : await this.#fetch(source.url);
    this.#last = { ...outcome, at };
    if (outcome.kind === 'valid') {
      this.#lastGood = outcome.claims;
      this.#troubleSince = undefined;
    } else if (outcome.kind !== 'invalid') {
      this.#troubleSince ??= at;
    }
    this.#nextCheckAt = at + this.#jittered(outcome.kind === 'valid' ? refreshMs : retryMs);
  }

  #jittered(ms: number): number {
    const { jitter, random } = this.#options;
    return Math.round(ms * (1 - jitter + 2 * jitter * random()));
  }

  async #readFile(path: string): Promise<Outcome> {
    let token: string;
    try {
      token = await readFile(path, 'utf8');
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      return {
        kind: 'invalid',
        reasons: [`no licence file at ${path} (for development: npm run swoosh -- licence init)`],
      };
    }
    return this.#fromToken(token);
  }

  #fromToken(token: string): Outcome {
    const verified = verifyLicenceToken(token, this.#options.issuerKey);
    return verified.ok
      ? { kind: 'valid', claims: verified.claims }
      : { kind: 'invalid', reasons: [`licence rejected: ${verified.reason}`] };
  }

  async #fetch(url: string): Promise<Outcome> {
    const { timeoutMs, issuerKey } = this.#options;
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.text();
      if (response.status === 200) {
        const grant = LicenceGrantResponse.safeParse(parseJson(body));
        if (!grant.success) return { kind: 'unavailable', reasons: ['licence endpoint sent no licence'] };
        return this.#fromToken(grant.data.licence);
      }
      if (response.status === 401 || response.status === 403) {
        const denial = LicenceDenialResponse.safeParse(parseJson(body));
        const token = denial.success ? denial.data.denial : undefined;
        if (token === undefined) {
          return {
            kind: 'denied',
            reasons: [`licence endpoint denied the licence (HTTP ${response.status})`],
          };
        }
        const verified = verifyToken(DENIAL_PREFIX, LicenceDenialClaims, token, issuerKey);
        return {
          kind: 'denied',
          reasons: [
            verified.ok
              ? `licence endpoint denied the licence: ${verified.claims.reason} (signed by the issuer)`
              : `licence endpoint denied the licence (HTTP ${response.status}; unsigned denial: ${verified.reason})`,
          ],
        };
      }
      return { kind: 'unavailable', reasons: [`licence endpoint answered HTTP ${response.status}`] };
    } catch (error) {
      if (error instanceof Error && error.name === 'TimeoutError') {
        return { kind: 'unavailable', reasons: [`licence endpoint did not answer within ${timeoutMs} ms`] };
      }
      return { kind: 'unavailable', reasons: [`licence endpoint unreachable: ${describeFetchError(error)}`] };
    }
  }

  #verdict(now: number): LicenceVerdict {
    const last = this.#last;
    if (!last) throw new Error('licence verdict requested before any check');
    const good = this.#lastGood;
    const base = {
      source: this.#options.source.kind,
      checkedAt: new Date(last.at).toISOString(),
      nextCheckAt: new Date(this.#nextCheckAt).toISOString(),
      ...(good && {
        licence: {
          id: good.id,
          licensee: good.licensee,
          seats: good.seats,
          features: good.features,
          notBefore: good.notBefore,
          expiresAt: good.expiresAt,
        },
      }),
    };
    if (last.kind === 'invalid') return { ...base, status: 'DENIED', reasons: last.reasons };
    if (last.kind === 'valid') return { ...base, ...this.#evaluate(last.claims, now, []) };
    if (!good) {
      return {
        ...base,
        status: 'DENIED',
        reasons: [...last.reasons, 'no licence has verified yet, so there is no grace'],
      };
    }
    return { ...base, ...this.#evaluate(good, now, last.reasons, this.#troubleSince) };
  }

  #evaluate(
    claims: LicenceClaims,
    now: number,
    troubles: string[],
    troubleSince?: number,
  ): Pick<LicenceVerdict, 'status' | 'reasons' | 'graceUntil'> {
    const { graceMs } = this.#options;
    if (now < Date.parse(claims.notBefore)) {
      return {
        status: 'DENIED',
        reasons: [...troubles, `licence ${claims.id} is not valid before ${claims.notBefore}`],
      };
    }
    const reasons = [...troubles];
    let graceUntil = troubleSince === undefined ? Number.POSITIVE_INFINITY : troubleSince + graceMs;
    const expiresAt = Date.parse(claims.expiresAt);
    if (now >= expiresAt) {
      reasons.push(`licence ${claims.id} expired at ${claims.expiresAt}`);
      graceUntil = Math.min(graceUntil, expiresAt + graceMs);
    }
    if (graceUntil === Number.POSITIVE_INFINITY) return { status: 'LICENSED', reasons };
    const until = new Date(graceUntil).toISOString();
    if (now < graceUntil)
      return { status: 'DEGRADED', reasons: [...reasons, `grace until ${until}`], graceUntil: until };
    return { status: 'DENIED', reasons: [...reasons, `grace ended at ${until}`], graceUntil: until };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

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

export interface LicenceActivityDeps {
  licence: LicenceChecker;
}

export function createLicenceActivities({ licence }: LicenceActivityDeps) {
  return {
    /** The LICENSE_CHECK guard input; cached, so calling it on every beat is cheap. */
    checkLicence: (): Promise<LicenceVerdict> => licence.check(),
  };
}
