/**
 * GET /timers/events on a real dev server, worker and gateway (issue 15, item 4): a created
 * timer's state changes arrive as signed events, Armed before Fired; a client that reconnects
 * with Last-Event-ID, to another gateway over the same data folder, gets only the events after;
 * `state` and `idPrefix` filter; a bad query or event id is refused naming the field.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGateway } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { type ServerSentEvent, SwooshClient } from '../../api/client';
import { startGateway } from '../../api/server';
import { dataPaths } from '../../host/data-dir';
import { loadSigner } from '../../host/keys';
import { verifyTimerEvent } from '../../host/timer-events';
import { loadTimerConfig } from '../../schemas/config';
import { SignedTimerEvent } from '../../schemas/timer-events';
import { eventually } from '../support/temporal';
import { type GatewayFixture, startGatewayFixture } from '../gateway/support/gateway';
import { startWebhookTarget, type WebhookTarget } from './support/webhook-target';

let fx: GatewayFixture;
let target: WebhookTarget;
let keyId: string;
/** Ids of this run's timers start with it, so streams see only this file's timers. */
const run = `ev-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  fx = await startGatewayFixture('timer-events');
  keyId = (await loadSigner(dataPaths(fx.dataDir).orchestratorKey, 'orchestrator')).keyId;
  target = await startWebhookTarget(keyId);
}, 180_000);

afterAll(async () => {
  await target?.close();
  await fx?.stop();
});

interface Received {
  id: string;
  event: SignedTimerEvent;
}

/**
 * Opens a stream and reads `timer` events until `done` says so (or 60 s pass). The stream is open
 * (its headers arrived) when `opened` resolves, so a timer created after that is seen.
 */
function watch(
  client: SwooshClient,
  query: { state?: string; idPrefix?: string },
  done: (events: Received[]) => boolean,
  lastEventId?: string,
): { opened: Promise<void>; events: Promise<Received[]> } {
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), 60_000);
  let markOpen!: () => void;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  const events = (async () => {
    const received: Received[] = [];
    const stream = client.timerEvents(query, {
      signal: abort.signal,
      ...(lastEventId !== undefined && { lastEventId }),
    });
    // The first read sends the request; the gateway writes `retry:` at once, before any event.
    const first = stream.next();
    setTimeout(markOpen, 300);
    const consume = (message: ServerSentEvent) => {
      if (message.event !== 'timer') throw new Error(`unexpected ${message.event}: ${message.data}`);
      received.push({ id: message.id!, event: SignedTimerEvent.parse(JSON.parse(message.data)) });
    };
    try {
      const head = await first;
      if (!head.done) consume(head.value);
      while (!done(received)) {
        const next = await stream.next();
        if (next.done) break;
        consume(next.value);
      }
    } finally {
      clearTimeout(timeout);
      abort.abort();
      await stream.return(undefined);
    }
    return received;
  })();
  return { opened, events };
}

const webhook = () => ({ type: 'webhook' as const, url: target.url });
const statesOf = (events: Received[], timerId: string) =>
  events.filter((e) => e.event.timerId === timerId).map((e) => e.event.state);

describe('GET /timers/events', () => {
  let armedId: string;
  const first = `${run}-a1`;

  test('a created timer streams Scheduled, Armed, Fired and Settled, each signed by the orchestrator', async () => {
    const stream = watch(fx.as.viewer, { idPrefix: `${run}-a` }, (events) =>
      statesOf(events, first).includes('Settled'),
    );
    await stream.opened;
    const created = await fx.as.agent.createTimer({ id: first, delayMs: 1_500, action: webhook() });
    expect(created.status).toBe(201);
    const events = await stream.events;
    expect(statesOf(events, first)).toEqual(['Scheduled', 'Armed', 'Fired', 'Settled']);
    for (const { event } of events) expect(verifyTimerEvent(event, keyId)).toBe(true);
    const fired = events.find((e) => e.event.state === 'Fired')!.event;
    expect(fired.timerId).toBe(first);
    expect(fired.firedAt).toBeDefined();
    expect(fired.deliveryId).toBe(target.delivered().find((d) => d.timerId === first)?.deliveryId);
    // Per shard, numbers only grow.
    const seqs = events.map((e) => e.event.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    armedId = events.find((e) => e.event.state === 'Armed')!.id;
  });

  test('another gateway over the same data folder resumes after Last-Event-ID with only the later events', async () => {
    expect(armedId).toBeDefined();
    const token = newToken();
    const auth = new Authenticator({ tokens: [{ name: 'second-viewer', role: 'viewer', token }] });
    const gateway = createGateway({
      client: fx.env.client,
      taskQueue: fx.taskQueue,
      auth,
      dataDir: fx.dataDir,
      accessLog: () => {},
    });
    const running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 1_000 });
    try {
      const client = new SwooshClient(running.url).as(token);
      const resumed = await watch(
        client,
        { idPrefix: `${run}-a` },
        (events) => statesOf(events, first).includes('Settled'),
        armedId,
      ).events;
      expect(statesOf(resumed, first)).toEqual(['Fired', 'Settled']);
    } finally {
      await running.close();
    }
  });

  test('state and idPrefix filter the stream', async () => {
    const other = `${run}-d1`;
    const wanted = [`${run}-c1`, `${run}-c2`];
    const sentinel = `${run}-c9`;
    const filtered = watch(fx.as.viewer, { state: 'Fired', idPrefix: `${run}-c` }, (events) =>
      events.some((e) => e.event.timerId === sentinel),
    );
    await filtered.opened;
    for (const id of [other, ...wanted]) {
      expect((await fx.as.agent.createTimer({ id, delayMs: 1_000, action: webhook() })).status).toBe(201);
    }
    // Once the other timer has settled its events are in the log; a timer created after it and
    // seen by the stream proves the stream read past them.
    await eventually(
      () => fx.as.viewer.getTimer(other),
      (r) => r.ok && r.body.state === 'Settled',
      30_000,
    );
    await eventually(
      () => fx.as.viewer.getTimer(wanted[1]!),
      (r) => r.ok && r.body.state === 'Settled',
      30_000,
    );
    expect((await fx.as.agent.createTimer({ id: sentinel, delayMs: 500, action: webhook() })).status).toBe(
      201,
    );
    const events = await filtered.events;
    expect(events.map((e) => e.event.state)).toEqual(['Fired', 'Fired', 'Fired']);
    expect(events.map((e) => e.event.timerId).sort()).toEqual([...wanted, sentinel].sort());
  });

  test.each([
    ['query.state', '?state=Ringing'],
    ['query.idPrefix', '?idPrefix=-starts-badly'],
    ['query.from', '?from=yesterday'],
    ['query.lastEventId', '?lastEventId=seven'],
  ])('a bad query is refused with 400 naming %s', async (field, search) => {
    const res = await fx.as.viewer.request('GET', `/timers/events${search}`);
    expect(res.status).toBe(400);
    expect(res.ok || res.body.errors?.map((e) => e.field)).toContain(field);
  });

  test('a Last-Event-ID that is not a cursor, or names another number of shards, is refused naming the header', async () => {
    const shards = loadTimerConfig().shards;
    for (const lastEventId of ['abc', Array.from({ length: shards + 1 }, () => '0').join('.')]) {
      const res = await fx.as.viewer.request('GET', '/timers/events', {
        headers: { 'last-event-id': lastEventId },
      });
      expect(res.status).toBe(400);
      expect(res.ok || res.body.errors?.map((e) => e.field)).toContain('header.last-event-id');
    }
  });

  test('a caller without a token may not watch', async () => {
    expect((await fx.as.anonymous.request('GET', '/timers/events')).status).toBe(401);
  });
});
