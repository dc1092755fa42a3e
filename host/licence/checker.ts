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
 */
import {
  LicenceDenialResponse,
  LicenceGrantResponse,
  type LicenceClaims,
  type LicenceVerdict,
} from '../../schemas/licence';
import { readFile } from 'node:fs/promises';
import { SignerKeySchema } from '../../schemas/proposal';
import { describeFetchError } from '../fetch-error';
import { isErrno } from '../durable-fs';
import { verifyDenialToken, verifyLicenceToken } from './tokens';

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
        const verified = verifyDenialToken(token, issuerKey);
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
