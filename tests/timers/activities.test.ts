/**
 * The timer activities in MockActivityEnvironment against real HTTP servers: the signed webhook
 * body, what each kind of answer means for retrying, the addresses a webhook may not reach (issue
 * 13, "No confused deputy"), and the dead-letter file.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSigner, type Signer } from '../../host/keys';
import { LicenceChecker } from '../../host/licence/checker';
import { signLicence } from '../../host/licence/tokens';
import { createTimerEventLog } from '../../host/timer-events';
import type { OutboundPolicy } from '../../host/outbound';
import { parseOutboundAllow } from '../../schemas/outbound';
import { createFileDeadLetterStore, createTimerActivities, webhookBody } from '../../activities/timers';
import type { DeadLetter } from '../../schemas/timer';
import type { WebhookBatch, WebhookDelivery } from '../../schemas/timer-activities';
import type { AttemptOutcome } from '../../schemas/timer-shard';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';
import { FileLedger } from '../../ledger';

let signer: Signer;
let target: WebhookTarget;
let dir: string;
// Never dialled: webhook delivery does not use Temporal.
const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });

beforeAll(async () => {
  ({ signer } = generateSigner());
  target = await startWebhookTarget(signer.keyId);
  dir = await mkdtemp(join(tmpdir(), 'swoosh-timer-activities-'));
});

afterAll(async () => {
  await target?.close();
  await rm(dir, { recursive: true, force: true });
});

function delivery(url: string, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return {
    url,
    timerId: 'invoice-reminder',
    deliveryId: '0d5c0c3e-3c1b-4c55-9a0e-0b7e1b7f2a10',
    escalationLevel: 0,
    attempt: 1,
    dueAt: '2026-11-23T09:00:00.000Z',
    firedAt: '2026-11-23T09:00:00.042Z',
    ...overrides,
  };
}

/** The targets here listen on loopback: webhooks reach them only because this allows it. */
const LOOPBACK: OutboundPolicy = { allow: parseOutboundAllow('127.0.0.1') };

function activities(webhookTimeoutMs?: number, outbound = LOOPBACK) {
  const deadLetters = createFileDeadLetterStore(join(dir, 'unused.jsonl'));
  return createTimerActivities({
    signer,
    deadLetters,
    ledger: new FileLedger({ dir: join(dir, 'unused-ledger'), signer }),
    events: createTimerEventLog(join(dir, 'unused-events'), signer),
    client,
    outbound,
    ...(webhookTimeoutMs && { webhookTimeoutMs }),
  });
}

const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

/** A batch of one: the activity the shard calls for webhooks. */
async function deliverOne(
  webhookTimeoutMs: number | undefined,
  delivery: WebhookDelivery,
  outbound?: OutboundPolicy,
): Promise<unknown> {
  const { deliverTimerWebhooks } = activities(webhookTimeoutMs, outbound);
  const outcomes = await env().run<[WebhookBatch], AttemptOutcome[], typeof deliverTimerWebhooks>(
    deliverTimerWebhooks,
    { deliveries: [delivery] },
  );
  return outcomes[0];
}

describe('webhook delivery', () => {
  test('posts a body signed with the orchestrator key, identical on every attempt', async () => {
    target.answerWith(204);
    const before = target.requests.length;
    const first = delivery(target.url, { payload: { invoice: 42 } });
    expect(await deliverOne(undefined, first)).toEqual({ ok: true });
    expect(await deliverOne(undefined, { ...first, attempt: 2 })).toEqual({ ok: true });
    const [a, b] = target.requests.slice(before);
    expect(a).toMatchObject({
      timerId: 'invoice-reminder',
      payload: { invoice: 42 },
      attempt: 1,
      verified: true,
    });
    expect(b).toMatchObject({ attempt: 2, verified: true });
    expect(webhookBody(first)).toBe(webhookBody({ ...first, attempt: 2 }));
  });

  test('sends the caller’s headers alongside its own', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const server = createServer((req, res) => {
      seen = req.headers;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await deliverOne(undefined, delivery(url, { headers: { authorization: 'Bearer t0ken' } }));
      expect(seen).toMatchObject({
        authorization: 'Bearer t0ken',
        'content-type': 'application/json',
        'x-swoosh-key-id': signer.keyId,
        'x-swoosh-delivery-id': '0d5c0c3e-3c1b-4c55-9a0e-0b7e1b7f2a10',
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test.each([
    [503, true],
    [429, true],
    [408, true],
    [410, false],
    [400, false],
    // Not followed: a redirect would resend a signed body somewhere nobody configured.
    [302, false],
  ])('an HTTP %i answer fails the attempt, retryable: %s', async (status, retryable) => {
    target.answerWith(status);
    expect(await deliverOne(undefined, delivery(target.url))).toEqual({
      ok: false,
      retryable,
      error: `HTTP ${status}`,
    });
  });

  test('a refused connection and a stalled target are retryable failures', async () => {
    const closed = await startWebhookTarget(signer.keyId);
    await closed.close();
    expect(await deliverOne(300, delivery(closed.url))).toEqual({
      ok: false,
      retryable: true,
      error: 'request failed: ECONNREFUSED',
    });

    const stalled = createServer(() => undefined);
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}/`;
      expect(await deliverOne(300, delivery(url))).toEqual({
        ok: false,
        retryable: true,
        error: 'request failed: timed out',
      });
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });
});

describe('addresses a webhook may not reach', () => {
  const NONE: OutboundPolicy = { allow: [] };
  const refused = (reason: string) => ({
    ok: false,
    retryable: false,
    error: `refused: ${reason}; allow it with SWOOSH_OUTBOUND_ALLOW`,
  });

  test('loopback is refused unless allowed, by address or by a name that resolves to it', async () => {
    const before = target.requests.length;
    const port = new URL(target.url).port;
    const secret = { authorization: 'Bearer s3cret-t0ken' };
    const outcome = await deliverOne(undefined, delivery(target.url, { headers: secret }), NONE);
    expect(outcome).toEqual(refused('127.0.0.1 is a loopback address'));
    expect(JSON.stringify(outcome)).not.toContain('s3cret');
    expect(await deliverOne(undefined, delivery(`http://localhost:${port}/hook`), NONE)).toEqual(
      refused('localhost resolves to 127.0.0.1, which is a loopback address'),
    );
    expect(await deliverOne(undefined, delivery(`http://[::1]:${port}/hook`), NONE)).toEqual(
      refused('::1 is a loopback address'),
    );
    expect(await deliverOne(undefined, delivery(`http://[::ffff:127.0.0.1]:${port}/hook`), NONE)).toEqual(
      refused('::ffff:7f00:1 is a loopback address (IPv4 127.0.0.1 in IPv6 form)'),
    );
    // Allowed on another port only: Temporal's port on the same host stays out of reach.
    const elsewhere = { allow: parseOutboundAllow('127.0.0.1:7233') };
    expect(await deliverOne(undefined, delivery(target.url), elsewhere)).toEqual(
      refused('127.0.0.1 is a loopback address'),
    );
    expect(target.requests.length).toBe(before);
  });

  test.each([
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address'],
    ['http://[fe80::1]/', 'fe80::1 is a link-local address'],
    ['http://10.0.0.1:8080/hook', '10.0.0.1 is a private address'],
    ['https://192.168.1.20/hook', '192.168.1.20 is a private address'],
    ['http://172.16.5.4/hook', '172.16.5.4 is a private address'],
    ['http://[fd00::7]/hook', 'fd00::7 is a private address'],
    ['http://100.64.1.1/hook', '100.64.1.1 is a carrier-grade NAT address'],
    ['http://0.0.0.0:3000/', '0.0.0.0 is an unspecified address'],
  ])('%s is refused without a request, and not retried', async (url, reason) => {
    expect(await deliverOne(undefined, delivery(url), NONE)).toEqual(refused(reason));
  });

  test('a redirect is not followed, to a private address or anywhere else', async () => {
    const other = await startWebhookTarget(signer.keyId);
    const redirecting = createServer((req, res) => {
      res.writeHead(307, { location: req.url === '/private' ? 'http://10.0.0.1/hook' : other.url });
      res.end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const port = (redirecting.address() as AddressInfo).port;
      const onlyThisPort = { allow: parseOutboundAllow(`127.0.0.1:${port}`) };
      for (const path of ['/private', '/loopback']) {
        expect(
          await deliverOne(undefined, delivery(`http://127.0.0.1:${port}${path}`), onlyThisPort),
        ).toEqual({
          ok: false,
          retryable: false,
          error: 'HTTP 307',
        });
      }
      expect(other.requests).toEqual([]);
    } finally {
      redirecting.closeAllConnections();
      await new Promise((resolve) => redirecting.close(resolve));
      await other.close();
    }
  });
});

test('a batch answers each delivery in order, each with its own outcome', async () => {
  const failing = await startWebhookTarget(signer.keyId);
  failing.answerWith(503);
  target.answerWith(204);
  try {
    const { deliverTimerWebhooks } = activities();
    const outcomes = await env().run(deliverTimerWebhooks, {
      deliveries: [
        delivery(target.url, { timerId: 'a' }),
        delivery(failing.url, { timerId: 'b' }),
        delivery(target.url, { timerId: 'c' }),
      ],
    });
    expect(outcomes).toEqual([{ ok: true }, { ok: false, retryable: true, error: 'HTTP 503' }, { ok: true }]);
  } finally {
    await failing.close();
  }
});

describe('the licence', () => {
  test('while it is DENIED no webhook is sent; in its grace and once it is back they are', async () => {
    const issuer = generateSigner().signer;
    const licenceFile = join(dir, 'licence.token');
    const DAY = 24 * 60 * 60 * 1000;
    let now = Date.parse('2026-01-10T00:00:00.000Z');
    const writeLicence = (expiresAt: string) =>
      writeFile(
        licenceFile,
        signLicence(
          {
            v: 1,
            id: 'lic-timers',
            issuer: issuer.keyId,
            licensee: 'ACME',
            seats: 1,
            features: [],
            issuedAt: '2026-01-01T00:00:00.000Z',
            notBefore: '2026-01-01T00:00:00.000Z',
            expiresAt,
          },
          issuer,
        ),
      );
    await writeLicence('2026-02-01T00:00:00.000Z');
    const licence = new LicenceChecker({
      issuerKey: issuer.keyId,
      source: { kind: 'file', path: licenceFile },
      graceMs: 2 * DAY,
      refreshMs: 60_000,
      retryMs: 60_000,
      timeoutMs: 5_000,
      clock: () => now,
      random: () => 0.5,
    });
    const { deliverTimerWebhooks } = createTimerActivities({
      signer,
      deadLetters: createFileDeadLetterStore(join(dir, 'unused.jsonl')),
      ledger: new FileLedger({ dir: join(dir, 'unused-ledger'), signer }),
      events: createTimerEventLog(join(dir, 'unused-events'), signer),
      client,
      outbound: LOOPBACK,
      licence,
    });
    const send = (timerId: string): Promise<AttemptOutcome[]> =>
      env().run(deliverTimerWebhooks, { deliveries: [delivery(target.url, { timerId })] });
    const received = () => target.requests.map((r) => r.timerId);
    target.answerWith(204);

    expect(await send('licensed')).toEqual([{ ok: true }]);
    now = Date.parse('2026-02-02T00:00:00.000Z');
    expect((await licence.check()).status).toBe('DEGRADED');
    expect(await send('in-grace')).toEqual([{ ok: true }]);
    now = Date.parse('2026-02-04T00:00:00.000Z');
    expect((await licence.check()).status).toBe('DENIED');
    const [refused] = await send('denied');
    expect(refused).toMatchObject({ ok: false, retryable: true });
    expect(refused?.ok === false && refused.error).toMatch(/^not sent: the licence is DENIED/);
    expect(received()).toEqual(expect.arrayContaining(['licensed', 'in-grace']));
    expect(received()).not.toContain('denied');

    await writeLicence('2026-03-01T00:00:00.000Z');
    now += 60_000;
    expect(await send('renewed')).toEqual([{ ok: true }]);
    expect(received()).toContain('renewed');
  });
});

describe('the dead-letter file', () => {
  const letter = (id: string): DeadLetter => ({
    deadLetterId: `${id}:d:0`,
    timerId: id,
    shard: 3,
    escalationLevel: 0,
    deliveryId: 'd',
    action: { type: 'webhook', url: 'https://hooks.example.org/x', headerNames: ['authorization'] },
    attempts: 5,
    lastError: 'HTTP 503',
    dueAt: '2026-11-23T09:00:00.000Z',
    firedAt: '2026-11-23T09:00:00.010Z',
    deadLetteredAt: '2026-11-23T09:01:02.000Z',
  });

  test('keeps each record once, in order, and skips a line torn by a crash', async () => {
    const path = join(dir, 'letters', 'dead-letters.jsonl');
    const store = createFileDeadLetterStore(path);
    expect(await store.list()).toEqual([]);
    const { recordTimerDeadLetter } = createTimerActivities({
      signer,
      deadLetters: store,
      ledger: new FileLedger({ dir: join(dir, 'unused-ledger'), signer }),
      events: createTimerEventLog(join(dir, 'unused-events'), signer),
      client,
      outbound: LOOPBACK,
    });
    await env().run(recordTimerDeadLetter, letter('a'));
    // An activity retried after a crash appends the same record again.
    await env().run(recordTimerDeadLetter, letter('a'));
    await appendFile(path, '{"deadLetterId":"torn');
    await appendFile(path, '\n');
    await store.append(letter('b'));
    expect(await store.list()).toEqual([letter('a'), letter('b')]);
  });
});
