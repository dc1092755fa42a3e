/**
 * Webhook receivers can verify freshness (issue 15, item 6): the receiver check that
 * docs/timers.md shows, taken from the document as written, run against real deliveries of the
 * timer activity to a real HTTP receiver. It accepts a fresh delivery once, treats a copy sent
 * again inside the window as a duplicate, and refuses a stale copy or a forged timestamp.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createFileDeadLetterStore, createTimerActivities, WEBHOOK_HEADERS } from '../../activities/timers';
import { generateSigner, type Signer, verifySignature } from '../../host/keys';
import { createTimerEventLog } from '../../host/timer-events';
import { parseOutboundAllow } from '../../schemas/outbound';
import type { WebhookBatch, WebhookDelivery } from '../../schemas/timer-activities';
import type { AttemptOutcome } from '../../schemas/timer-shard';
import { FileLedger } from '../../ledger';

type Verdict = 'fresh' | 'duplicate' | 'invalid';
interface ReceiverCheck {
  TOLERANCE_MS: number;
  swooshKey(keyId: string): KeyObject;
  checkDelivery(
    headers: IncomingHttpHeaders,
    body: Buffer,
    key: KeyObject,
    seen: Map<string, number>,
    now?: number,
  ): Verdict;
}

/** The fenced block right after the marker comment in docs/timers.md. */
async function documentedCheck(dir: string): Promise<ReceiverCheck> {
  const doc = await readFile(new URL('../../docs/timers.md', import.meta.url), 'utf8');
  const match = /<!-- receiver-check:[^>]*-->\s*```js\n([\s\S]*?)```/.exec(doc);
  if (!match) throw new Error('docs/timers.md has no receiver-check code block');
  const file = join(dir, 'receiver-check.mjs');
  await writeFile(file, match[1]!);
  return (await import(pathToFileURL(file).href)) as ReceiverCheck;
}

interface Captured {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let dir: string;
let check: ReceiverCheck;
let signer: Signer;
let key: KeyObject;
const seen = new Map<string, number>();
/** Every request the receiver got, and the verdicts it acted on (`fresh` only). */
const captured: Captured[] = [];
const actedOn: string[] = [];
let url: string;
let close: () => Promise<void>;

/** The receiver's answer for a verdict: what docs/timers.md tells a receiver to answer. */
const STATUS: Record<Verdict, number> = { fresh: 204, duplicate: 200, invalid: 401 };

function receive(request: Captured, now?: number): Verdict {
  const verdict = check.checkDelivery(request.headers, request.body, key, seen, now);
  if (verdict === 'fresh') actedOn.push(String(request.headers[WEBHOOK_HEADERS.deliveryId]));
  return verdict;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-webhook-freshness-'));
  check = await documentedCheck(dir);
  ({ signer } = generateSigner());
  key = check.swooshKey(signer.keyId);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks) };
      captured.push(request);
      res.statusCode = STATUS[receive(request)];
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  close = () =>
    new Promise((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
});

afterAll(async () => {
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

async function deliver(delivery: WebhookDelivery): Promise<AttemptOutcome> {
  const { deliverTimerWebhooks } = createTimerActivities({
    signer,
    deadLetters: createFileDeadLetterStore(join(dir, 'unused.jsonl')),
    ledger: new FileLedger({ dir: join(dir, 'unused-ledger'), signer }),
    events: createTimerEventLog(join(dir, 'unused-events'), signer),
    // Never dialled: webhook delivery does not use Temporal.
    client: new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
    outbound: { allow: parseOutboundAllow('127.0.0.1') },
  });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const [outcome] = await env.run<[WebhookBatch], AttemptOutcome[], typeof deliverTimerWebhooks>(
    deliverTimerWebhooks,
    { deliveries: [delivery] },
  );
  return outcome!;
}

const firing = (deliveryId: string, attempt = 1): WebhookDelivery => ({
  url,
  timerId: 'invoice-reminder',
  deliveryId,
  escalationLevel: 0,
  attempt,
  dueAt: '2026-12-02T09:00:00.000Z',
  firedAt: '2026-12-02T09:00:00.042Z',
  payload: { invoice: 42 },
});

test('a fresh delivery is acted on once; a copy sent again is a duplicate, a stale or re-stamped one is refused', async () => {
  const deliveryId = 'a2f4c1de-5b7e-4c0a-9d4e-6f1b2c3d4e5f';
  expect(await deliver(firing(deliveryId))).toEqual({ ok: true });
  expect(actedOn).toEqual([deliveryId]);
  const original = captured.at(-1)!;
  const timestamp = Number(original.headers[WEBHOOK_HEADERS.timestamp]);

  // The captured request sent again at once: the receiver has seen the id and does nothing.
  expect(receive(original)).toBe('duplicate');
  // …and sent again after the window: the timestamp is stale.
  seen.clear();
  expect(receive(original, timestamp + check.TOLERANCE_MS + 1)).toBe('invalid');
  // Re-stamping it with the receiver's time breaks the request signature.
  const restamped = {
    ...original,
    headers: { ...original.headers, [WEBHOOK_HEADERS.timestamp]: String(timestamp + check.TOLERANCE_MS) },
  };
  expect(receive(restamped, timestamp + check.TOLERANCE_MS + 1)).toBe('invalid');
  // So does any change to the body, whose signature a receiver written before still checks alone.
  const edited = { ...original, body: Buffer.from(original.body.toString().replace('42', '43')) };
  expect(receive(edited)).toBe('invalid');
  expect(actedOn).toEqual([deliveryId]);

  // The body's own signature is unchanged, so an old receiver still verifies the same request.
  expect(
    verifySignature(
      String(original.headers[WEBHOOK_HEADERS.keyId]),
      new Uint8Array(original.body),
      String(original.headers[WEBHOOK_HEADERS.signature]),
    ),
  ).toBe(true);
});

test('SWOOSH retrying a delivery the receiver already took is answered 2xx, not acted on twice', async () => {
  const deliveryId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
  expect(await deliver(firing(deliveryId, 1))).toEqual({ ok: true });
  // The worker lost the answer and tries again: same id and body, a fresh timestamp and signature.
  expect(await deliver(firing(deliveryId, 2))).toEqual({ ok: true });
  const [first, second] = captured.slice(-2);
  expect(first!.body.equals(second!.body)).toBe(true);
  expect(receive(second!)).toBe('duplicate');
  expect(actedOn.filter((id) => id === deliveryId)).toHaveLength(1);
});
