/**
 * The timer activities in MockActivityEnvironment against real HTTP servers: the signed webhook
 * body and what each kind of answer means for retrying, and the dead-letter file.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSigner, type Signer } from '../../host/keys';
import { createFileDeadLetterStore, createTimerActivities, webhookBody } from '../../activities/timers';
import type { DeadLetter } from '../../schemas/timer';
import type { WebhookBatch, WebhookDelivery } from '../../schemas/timer-activities';
import type { AttemptOutcome } from '../../schemas/timer-shard';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';

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

function activities(webhookTimeoutMs?: number) {
  const deadLetters = createFileDeadLetterStore(join(dir, 'unused.jsonl'));
  return createTimerActivities({
    signer,
    deadLetters,
    client,
    ...(webhookTimeoutMs && { webhookTimeoutMs }),
  });
}

const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

/** A batch of one: the activity the shard calls for webhooks. */
async function deliverOne(webhookTimeoutMs: number | undefined, delivery: WebhookDelivery): Promise<unknown> {
  const { deliverTimerWebhooks } = activities(webhookTimeoutMs);
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
    const { recordTimerDeadLetter } = createTimerActivities({ signer, deadLetters: store, client });
    await env().run(recordTimerDeadLetter, letter('a'));
    // An activity retried after a crash appends the same record again.
    await env().run(recordTimerDeadLetter, letter('a'));
    await appendFile(path, '{"deadLetterId":"torn');
    await appendFile(path, '\n');
    await store.append(letter('b'));
    expect(await store.list()).toEqual([letter('a'), letter('b')]);
  });
});
