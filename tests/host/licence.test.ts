import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { generateSigner, type Signer } from '../../host/keys';
import { createLicenceActivities } from '../../activities/licence';
import { LicenceChecker, type LicenceCheckerOptions } from '../../host/licence/checker';
import { initDevLicence, licenceCheckerFromEnv } from '../../host/licence/setup';
import { signDenial, signLicence } from '../../host/licence/tokens';
import type { LicenceClaims } from '../../schemas/licence';
import { activityEnvironment } from '../activities/support/activity-env';
import { startHttpServer, type TestServer } from '../activities/support/http-server';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-01-10T00:00:00.000Z');

let dir: string;
let issuer: Signer;
let now: number;
const servers: TestServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-licence-'));
  issuer = generateSigner().signer;
  now = T0;
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

function claims(overrides: Partial<LicenceClaims> = {}): LicenceClaims {
  return {
    v: 1,
    id: 'lic-42',
    issuer: issuer.keyId,
    licensee: 'ACME',
    seats: 5,
    features: ['council', 'execution'],
    issuedAt: '2026-01-01T00:00:00.000Z',
    notBefore: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-02-01T00:00:00.000Z',
    ...overrides,
  };
}

const licenceFile = () => join(dir, 'licence.token');

async function writeLicence(token: string): Promise<void> {
  await writeFile(licenceFile(), `${token}\n`);
}

function checker(overrides: Partial<LicenceCheckerOptions> = {}): LicenceChecker {
  return new LicenceChecker({
    issuerKey: issuer.keyId,
    source: { kind: 'file', path: licenceFile() },
    graceMs: 2 * DAY,
    refreshMs: HOUR,
    retryMs: 60_000,
    // Generous, so a loaded machine does not time out; the slow-endpoint tests set their own.
    timeoutMs: 5_000,
    jitter: 0.2,
    clock: () => now,
    random: () => 0.5,
    ...overrides,
  });
}

/** A licence endpoint whose behaviour a test switches between calls. */
type EndpointMode = 'grant' | 'slow' | 'deny' | 'deny-signed' | 'deny-forged' | 'error';
interface LicenceEndpoint {
  url: string;
  set(mode: EndpointMode): void;
  hits(): number;
  close(): Promise<void>;
}
async function licenceEndpoint(initial: EndpointMode): Promise<LicenceEndpoint> {
  let mode = initial;
  let hits = 0;
  const server = await startHttpServer(async (_req, res) => {
    hits += 1;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    switch (mode) {
      case 'grant':
        return json(200, { licence: signLicence(claims(), issuer) });
      case 'slow':
        await delay(10_000);
        return json(200, { licence: signLicence(claims(), issuer) });
      case 'deny':
        return json(403, { error: 'forbidden' });
      case 'deny-signed':
        return json(403, {
          denial: signDenial(
            { v: 1, issuer: issuer.keyId, reason: 'licence revoked', issuedAt: new Date(now).toISOString() },
            issuer,
          ),
        });
      case 'deny-forged': {
        const forger = generateSigner().signer;
        return json(403, {
          denial: signDenial(
            { v: 1, issuer: forger.keyId, reason: 'go away', issuedAt: new Date(now).toISOString() },
            forger,
          ),
        });
      }
      case 'error':
        return json(503, { error: 'maintenance' });
    }
  });
  servers.push(server);
  return {
    url: server.url,
    set: (next) => (mode = next),
    hits: () => hits,
    close: async () => {
      servers.splice(servers.indexOf(server), 1);
      await server.close();
    },
  };
}

describe('licence verified offline', () => {
  it('accepts a valid licence signed by the trusted issuer', async () => {
    await writeLicence(signLicence(claims(), issuer));
    const verdict = await checker().check();
    expect(verdict).toMatchObject({
      status: 'LICENSED',
      reasons: [],
      source: 'file',
      licence: { id: 'lic-42', licensee: 'ACME', seats: 5, features: ['council', 'execution'] },
    });
    expect(verdict.graceUntil).toBeUndefined();
  });

  it('degrades an expired licence for the grace period, then stops', async () => {
    await writeLicence(signLicence(claims(), issuer));
    const licence = checker();
    now = Date.parse('2026-02-01T06:00:00.000Z');
    expect(await licence.check()).toMatchObject({
      status: 'DEGRADED',
      graceUntil: '2026-02-03T00:00:00.000Z',
      reasons: ['licence lic-42 expired at 2026-02-01T00:00:00.000Z', 'grace until 2026-02-03T00:00:00.000Z'],
    });
    now = Date.parse('2026-02-03T00:00:00.000Z');
    expect((await licence.check()).status).toBe('DENIED');
  });

  it('refuses a licence that is not valid yet', async () => {
    await writeLicence(
      signLicence(
        claims({ notBefore: '2026-03-01T00:00:00.000Z', expiresAt: '2026-04-01T00:00:00.000Z' }),
        issuer,
      ),
    );
    const verdict = await checker().check();
    expect(verdict.status).toBe('DENIED');
    expect(verdict.reasons).toEqual(['licence lic-42 is not valid before 2026-03-01T00:00:00.000Z']);
  });

  it('refuses a licence from the wrong issuer, without grace', async () => {
    const stranger = generateSigner().signer;
    await writeLicence(signLicence(claims({ issuer: stranger.keyId }), stranger));
    const verdict = await checker().check();
    expect(verdict.status).toBe('DENIED');
    expect(verdict.reasons[0]).toMatch(/signed by issuer ed25519:.+, not the trusted issuer/);
    expect(verdict.graceUntil).toBeUndefined();
  });

  it('refuses a tampered licence', async () => {
    const [prefix, payload, signature] = signLicence(claims(), issuer).split('.');
    const raised = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as LicenceClaims;
    raised.seats = 500;
    await writeLicence(
      [prefix, Buffer.from(JSON.stringify(raised)).toString('base64url'), signature].join('.'),
    );
    const verdict = await checker().check();
    expect(verdict.status).toBe('DENIED');
    expect(verdict.reasons[0]).toMatch(/signature does not verify/);
  });

  it('refuses a token that is not a licence at all', async () => {
    await writeLicence('not-a-licence');
    expect((await checker().check()).reasons).toEqual(['licence rejected: token is malformed']);
  });

  it('explains a missing licence file', async () => {
    const verdict = await checker().check();
    expect(verdict.status).toBe('DENIED');
    expect(verdict.reasons[0]).toMatch(/no licence file at .* licence init/);
  });

  it('caches the verdict and refreshes with jitter', async () => {
    await writeLicence(signLicence(claims(), issuer));
    const early = checker({ random: () => 0 });
    const late = checker({ random: () => 1 });
    const first = await early.check();
    await late.check();
    expect(Date.parse(first.nextCheckAt) - now).toBe(0.8 * HOUR);
    expect(Date.parse((await late.check()).nextCheckAt) - now).toBe(1.2 * HOUR);

    await writeLicence('replaced-by-garbage');
    now += 0.8 * HOUR - 1;
    expect((await early.check()).status).toBe('LICENSED');
    now += 1;
    expect((await early.check()).status).toBe('DENIED');
    expect((await late.check()).status).toBe('LICENSED');
  });
});

describe('licence fetched from an endpoint', () => {
  const endpointChecker = (url: string, overrides: Partial<LicenceCheckerOptions> = {}) =>
    checker({ source: { kind: 'endpoint', url }, ...overrides });

  it('accepts a licence the endpoint grants and fetches it once per refresh', async () => {
    const endpoint = await licenceEndpoint('grant');
    const licence = endpointChecker(endpoint.url);
    const results = await Promise.all([licence.check(), licence.check(), licence.check()]);
    expect(results.map((r) => r.status)).toEqual(['LICENSED', 'LICENSED', 'LICENSED']);
    expect(results[0]?.source).toBe('endpoint');
    now += 30 * 60 * 1000;
    await licence.check();
    expect(endpoint.hits()).toBe(1);
  });

  it('gives up on a slow endpoint at the timeout and degrades a verified licence', async () => {
    const endpoint = await licenceEndpoint('grant');
    const licence = endpointChecker(endpoint.url, { timeoutMs: 1_000 });
    expect((await licence.check()).status).toBe('LICENSED');
    endpoint.set('slow');
    now += 2 * HOUR;
    const verdict = await licence.check();
    expect(verdict.status).toBe('DEGRADED');
    expect(verdict.reasons[0]).toBe('licence endpoint did not answer within 1000 ms');
    expect(verdict.graceUntil).toBe(new Date(now + 2 * DAY).toISOString());
  });

  it('denies when a slow endpoint never delivered a licence', async () => {
    const endpoint = await licenceEndpoint('slow');
    const verdict = await endpointChecker(endpoint.url, { timeoutMs: 300 }).check();
    expect(verdict.status).toBe('DENIED');
    expect(verdict.reasons).toEqual([
      'licence endpoint did not answer within 300 ms',
      'no licence has verified yet, so there is no grace',
    ]);
  });

  it('degrades on a denial after a verified licence and believes only signed reasons', async () => {
    const endpoint = await licenceEndpoint('grant');
    const licence = endpointChecker(endpoint.url, { retryMs: 1 });
    await licence.check();
    now += 2 * HOUR;

    endpoint.set('deny');
    const denied = await licence.check();
    expect(denied.status).toBe('DEGRADED');
    expect(denied.reasons).toEqual([
      'licence endpoint denied the licence (HTTP 403)',
      `grace until ${new Date(now + 2 * DAY).toISOString()}`,
    ]);
    now += 10;
    endpoint.set('deny-signed');
    expect((await licence.check()).reasons[0]).toBe(
      'licence endpoint denied the licence: licence revoked (signed by the issuer)',
    );
    now += 10;
    endpoint.set('deny-forged');
    expect((await licence.check()).reasons[0]).toMatch(/unsigned denial: token is signed by issuer/);
  });

  it('denies outright when the first answer is a denial', async () => {
    const endpoint = await licenceEndpoint('deny-signed');
    expect((await endpointChecker(endpoint.url).check()).status).toBe('DENIED');
  });

  it('stops at grace expiry while the endpoint keeps failing, and recovers when it answers', async () => {
    const endpoint = await licenceEndpoint('grant');
    const licence = endpointChecker(endpoint.url);
    await licence.check();
    endpoint.set('error');
    now += 2 * HOUR;
    const failedAt = now;
    expect(await licence.check()).toMatchObject({
      status: 'DEGRADED',
      reasons: [
        'licence endpoint answered HTTP 503',
        `grace until ${new Date(failedAt + 2 * DAY).toISOString()}`,
      ],
    });

    now = failedAt + 2 * DAY - 1;
    expect((await licence.check()).status).toBe('DEGRADED');
    now = failedAt + 2 * DAY;
    const stopped = await licence.check();
    expect(stopped.status).toBe('DENIED');
    expect(stopped.reasons.at(-1)).toBe(`grace ended at ${new Date(failedAt + 2 * DAY).toISOString()}`);

    endpoint.set('grant');
    now += HOUR;
    expect(await licence.check()).toMatchObject({ status: 'LICENSED', reasons: [] });
  });

  it('degrades when the endpoint becomes unreachable', async () => {
    const endpoint = await licenceEndpoint('grant');
    const licence = endpointChecker(endpoint.url);
    await licence.check();
    await endpoint.close();
    now += 2 * HOUR;
    const verdict = await licence.check();
    expect(verdict.status).toBe('DEGRADED');
    expect(verdict.reasons[0]).toBe('licence endpoint unreachable: ECONNREFUSED');
  });
});

describe('licence activity and setup', () => {
  it('checkLicence returns the checker verdict', async () => {
    await writeLicence(signLicence(claims(), issuer));
    const activities = createLicenceActivities({ licence: checker() });
    expect((await activityEnvironment().run(activities.checkLicence)).status).toBe('LICENSED');
  });

  it('licence init creates a development issuer and licence once, and never overwrites them', async () => {
    const first = await initDevLicence(dir, new Date());
    expect(first.created).toEqual({ issuerKey: true, issuerPublicKey: true, licence: true });
    const paths = dataPaths(dir);
    expect((await stat(paths.licenceIssuerKey)).mode & 0o777).toBe(0o600);
    const before = await Promise.all(
      [paths.licenceIssuerKey, paths.licenceToken].map((p) => readFile(p, 'utf8')),
    );

    const second = await initDevLicence(dir, new Date());
    expect(second.created).toEqual({ issuerKey: false, issuerPublicKey: false, licence: false });
    expect(second.issuerKeyId).toBe(first.issuerKeyId);
    const after = await Promise.all(
      [paths.licenceIssuerKey, paths.licenceToken].map((p) => readFile(p, 'utf8')),
    );
    expect(after).toEqual(before);

    const verdict = await (await licenceCheckerFromEnv({}, dir)).check();
    expect(verdict).toMatchObject({ status: 'LICENSED', licence: { licensee: 'development' } });
  });

  it('reads licence settings from the environment and rejects bad ones', async () => {
    await expect(licenceCheckerFromEnv({}, dir)).rejects.toThrow(/no trusted licence issuer/);
    const endpoint = await licenceEndpoint('grant');
    const fromEnv = await licenceCheckerFromEnv(
      { SWOOSH_LICENCE_ISSUER_KEY: issuer.keyId, SWOOSH_LICENCE_ENDPOINT: endpoint.url },
      dir,
    );
    expect((await fromEnv.check()).source).toBe('endpoint');
    await expect(
      licenceCheckerFromEnv(
        { SWOOSH_LICENCE_ISSUER_KEY: issuer.keyId, SWOOSH_LICENCE_TIMEOUT_MS: 'soon' },
        dir,
      ),
    ).rejects.toThrow(/SWOOSH_LICENCE_TIMEOUT_MS/);
  });
});
