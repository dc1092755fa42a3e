/**
 * Owner controls over every running mission (pause all, resume all, reroute, latency budgets)
 * through the gateway on a real dev server, each signed by a registered owner key and recorded in
 * the missions' ledgers with the owner as actor and signer; and the gateway's graceful shutdown.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, ServiceError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { generateSigner, loadSigner } from '../../host/keys';
import {
  coSign,
  draftOwnerCommand,
  type OwnerCommandDraft,
  getControls,
  sendOwnerCommand,
} from '../../api/owner-commands';
import { DEFAULT_TIMER_SHARDS } from '../../schemas/config';
import { ownerControlSignal, stateQuery } from '../../schemas/mission-messages';
import { shardStatusQuery } from '../../schemas/timer-messages';
import { DEFAULT_SHARD_ID_PREFIX, shardWorkflowId } from '../../schemas/timer-shard-key';
import { FileLedger } from '../../ledger';
import { createGateway } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { type ProblemBody, SwooshClient } from '../../api/client';
import type { OwnerBatchResult } from '../../schemas/api';
import { startGateway } from '../../api/server';
import { decisionEntry } from '../ledger/support/entries';
import { freePort } from '../../temporal-dev/processes';
import { eventually } from '../support/temporal';
import {
  type GatewayFixture,
  type OwnedMission,
  startGatewayFixture,
  startOwnedMission,
} from './support/gateway';

let fx: GatewayFixture;
let missions: OwnedMission[];
/** Timer shards the gateway assumes (SWOOSH_TIMER_SHARDS unset). */
const SHARDS = DEFAULT_TIMER_SHARDS;
const shardHandle = (n: number) =>
  fx.env.client.workflow.getHandle(shardWorkflowId(DEFAULT_SHARD_ID_PREFIX, n));
/** The one registered owner key. */
const ownerKey = generateSigner().signer;

/** A broadcast command signed with the owner key, sent as `test-owner` (or `as`, named `actor`). */
function send(
  draft: OwnerCommandDraft,
  reason: string,
  id?: string,
  as: { api: SwooshClient; actor: string } = { api: fx.as.owner, actor: 'test-owner' },
) {
  const request = draftOwnerCommand(draft, { actor: as.actor, reason, ...(id !== undefined && { id }) });
  return sendOwnerCommand(as.api, coSign(request, ownerKey));
}

beforeAll(async () => {
  fx = await startGatewayFixture('gateway-owner-controls', undefined, { ownerKeys: [ownerKey.keyId] });
  missions = [await startOwnedMission(fx.as.operator), await startOwnedMission(fx.as.operator)];
  // Running past BOOT, and listed by visibility, before any batch is sent.
  for (const m of missions) {
    await eventually(
      () => fx.as.viewer.getMission(m.id),
      (r) => r.ok && ['PROJECT_LIFECYCLE', 'EXECUTION'].includes(r.body.phase),
      60_000,
    );
  }
  await eventually(
    () => fx.as.viewer.listMissions({ pageSize: 100 }),
    (r) => r.ok && missions.every((m) => r.body.missions.some((x) => x.missionId === m.id)),
    20_000,
  );
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

const views = () =>
  Promise.all(
    missions.map(async (m) => {
      const r = await fx.as.viewer.getMission(m.id);
      if (!r.ok) throw new Error(`mission ${m.id}: ${r.status}`);
      return r.body;
    }),
  );

async function ownerRecords(missionId: string, transition: string) {
  const r = await fx.as.viewer.ledger(missionId, { pageSize: 500 });
  if (!r.ok) throw new Error('no ledger');
  return r.body.records.filter((x) => x.kind === 'decision' && x.transition === transition);
}

/** The gateway's owner-command key, made in the data folder when the first mission started. */
async function gatewayKey(): Promise<string> {
  const file = dataPaths(fx.dataDir).gatewayKey;
  expect(statSync(file).mode & 0o777).toBe(0o600);
  return (await loadSigner(file, 'gateway')).keyId;
}

describe('owner controls over every running mission', () => {
  test('pause all, then resume all: each mission pauses and resumes and records the owner as actor', async () => {
    const paused = await send({ action: 'pause' }, 'maintenance window');
    expect(paused.status).toBe(202);
    if (!paused.ok) throw new Error('unreachable');
    expect(paused.body).toMatchObject({ action: 'pause', actor: 'test-owner', signers: [ownerKey.keyId] });
    for (const m of missions) expect(paused.body.signalled).toContain(`mission-${m.id}`);
    // Every timer shard took the halt, checking the owner's signature itself.
    const shards = Array.from({ length: SHARDS }, (_, n) => n);
    expect(paused.body.timerShards).toEqual({ updated: shards, failed: [] });
    const shardHalts = () =>
      Promise.all(
        shards.map(async (n) => (await shardHandle(n).query(shardStatusQuery)).halt?.commandId ?? null),
      );
    expect(new Set(await shardHalts())).toEqual(new Set([paused.body.commandId]));
    await eventually(views, (vs) => vs.every((v) => v.phase === 'PAUSED'), 30_000);
    expect((await views()).map((v) => v.phase)).toEqual(['PAUSED', 'PAUSED']);
    for (const m of missions) {
      const records = await eventually(
        () => ownerRecords(m.id, 'Owner_Pause'),
        (r) => r.length > 0,
      );
      // Countersigned by the gateway's own key, which the mission was started with, and endorsed
      // by the owner's: the mission verified both and the record keeps them for ledger verify.
      const record = records[0];
      if (record?.kind !== 'decision') throw new Error('no owner record');
      expect(record.guards[0]?.reasons).toEqual(
        expect.arrayContaining([
          'actor: test-owner',
          'reason: maintenance window',
          `signed by ${await gatewayKey()}, a controller of this mission; endorsed by owner key(s) ${ownerKey.keyId}`,
        ]),
      );
      expect(record.owner_command?.signatures.map((s) => s.signer)).toEqual([
        await gatewayKey(),
        ownerKey.keyId,
      ]);
    }

    const resumed = await send({ action: 'resume' }, 'window over');
    expect(resumed.status).toBe(202);
    if (resumed.ok) expect(resumed.body.timerShards).toEqual({ updated: shards, failed: [] });
    expect(new Set(await shardHalts())).toEqual(new Set([null]));
    await eventually(views, (vs) => vs.every((v) => v.phase !== 'PAUSED'), 30_000);
    expect((await views()).every((v) => v.phase !== 'PAUSED')).toBe(true);
    for (const m of missions) {
      const records = await eventually(
        () => ownerRecords(m.id, 'Owner_Resume'),
        (r) => r.length > 0,
      );
      expect(records).toHaveLength(1);
    }
  });

  test('reroute sends future agent work to another queue; the same command id twice applies once', async () => {
    const gpu = { action: 'reroute', taskQueue: 'swoosh-gpu-agents' } as const;
    const first = await send(gpu, 'move agents to the GPU pool', 'reroute-1');
    const again = await send(gpu, 'move agents to the GPU pool', 'reroute-1');
    expect([first.status, again.status]).toEqual([202, 202]);
    const routed = await eventually(
      views,
      (vs) => vs.every((v) => v.controls?.agentTaskQueue === 'swoosh-gpu-agents'),
      30_000,
    );
    for (const v of routed) {
      expect(v.controls?.agentTaskQueue).toBe('swoosh-gpu-agents');
      expect(v.controls?.applied.filter((a) => a.id === 'reroute-1')).toHaveLength(1);
    }
    for (const m of missions) {
      const records = await eventually(
        () => ownerRecords(m.id, 'Owner_Reroute'),
        (r) => r.length > 0,
      );
      expect(records).toHaveLength(1);
    }
    const back = await send({ action: 'reroute', taskQueue: null }, 'back to the mission queues');
    expect(back.status).toBe(202);
    await eventually(views, (vs) => vs.every((v) => v.controls?.agentTaskQueue === null), 30_000);
  });

  test('latency budgets change without a deploy and are refused out of bounds', async () => {
    const res = await send({ action: 'latency', budgets: { io: 240 } }, 'slow storage today');
    expect(res.status).toBe(202);
    const changed = await eventually(views, (vs) => vs.every((v) => v.controls?.latency.io === 240), 30_000);
    for (const v of changed) expect(v.controls?.latency.io).toBe(240);
    const tooShort = await send({ action: 'latency', budgets: { short: 0 } }, 'no');
    expect(tooShort.status).toBe(400);
    if (!tooShort.ok)
      expect(tooShort.body.errors?.map((e) => e.field)).toContain('body.command.budgets.short');
    const none = await send({ action: 'latency', budgets: {} }, 'nothing');
    expect(none.status).toBe(400);
    const badQueue = await send({ action: 'reroute', taskQueue: 'no spaces allowed' }, 'x');
    expect(badQueue.status).toBe(400);
  });

  test('a batch that misses a mission is a 502 naming it; the same commandId again reaches it and applies once everywhere', async () => {
    // Temporal refusing one signal (as under rate limiting) is injected through the SDK's own
    // client interceptor; the listing, the other signals and the missions are real.
    const refused = `mission-${missions[1]!.id}`;
    const flaky = new Client({
      connection: fx.env.connection,
      namespace: 'default',
      interceptors: {
        workflow: [
          {
            signal: (input, next) =>
              input.workflowExecution.workflowId === refused
                ? Promise.reject(
                    new ServiceError('Failed to signal Workflow', {
                      cause: new Error('8 RESOURCE_EXHAUSTED: namespace rate limit exceeded'),
                    }),
                  )
                : next(input),
          },
        ],
      },
    });
    const token = newToken();
    const running = await startGateway(
      createGateway({
        client: flaky,
        taskQueue: fx.taskQueue,
        auth: new Authenticator({ tokens: [{ name: 'flaky-owner', role: 'owner', token }] }),
        dataDir: fx.dataDir,
        accessLog: () => {},
        ownerKeys: [ownerKey.keyId],
      }),
      { host: '127.0.0.1', port: 0, graceMs: 1_000 },
    );
    try {
      const partial = await send(
        { action: 'latency', budgets: { short: 50 } },
        'slow model',
        'latency-partial-1',
        {
          api: new SwooshClient(running.url, token),
          actor: 'flaky-owner',
        },
      );
      expect(partial.status).toBe(502);
      const body = partial.body as ProblemBody & OwnerBatchResult;
      expect(body.failed).toEqual([
        { workflowId: refused, reason: '8 RESOURCE_EXHAUSTED: namespace rate limit exceeded' },
      ]);
      expect(body.signalled).toContain(`mission-${missions[0]!.id}`);
      expect(body.signalled).not.toContain(refused);
      expect(body.detail).toContain('latency-partial-1');
    } finally {
      await running.close();
    }

    const retried = await send(
      { action: 'latency', budgets: { short: 50 } },
      'slow model',
      'latency-partial-1',
    );
    expect(retried.status).toBe(202);
    const changed = await eventually(
      views,
      (vs) => vs.every((v) => v.controls?.latency.short === 50),
      30_000,
    );
    for (const v of changed)
      expect(v.controls?.applied.filter((a) => a.id === 'latency-partial-1')).toHaveLength(1);
  });

  test('one mission: pause and resume through the gateway are signed for it; the same pause straight from a Temporal client is refused', async () => {
    const [m] = missions;
    const handle = fx.env.client.workflow.getHandle(`mission-${m!.id}`);
    const before = (await ownerRecords(m!.id, 'Owner_Pause')).length;
    await handle.signal(ownerControlSignal, {
      action: 'pause',
      id: 'forged-1',
      actor: 'test-owner',
      reason: 'forged',
    });
    const refused = await eventually(
      () => handle.query(stateQuery),
      (v) => (v.controls?.refused ?? []).some((r) => r.id === 'forged-1'),
    );
    expect(refused.phase).not.toBe('PAUSED');
    expect(await ownerRecords(m!.id, 'Owner_Pause')).toHaveLength(before);

    expect((await fx.as.operator.control(m!.id, 'pause', 'one mission')).status).toBe(202);
    await eventually(views, (vs) => vs[0]!.phase === 'PAUSED', 30_000);
    expect((await fx.as.operator.control(m!.id, 'resume', 'one mission done')).status).toBe(202);
    const back = await eventually(
      () => handle.query(stateQuery),
      // The resume's statechart transition lands before its entry in `applied`: wait for both.
      (v) => v.phase !== 'PAUSED' && v.controls?.applied.at(-1)?.action === 'resume',
      30_000,
    );
    expect(back.controls?.applied.slice(-2).map((a) => [a.action, a.actor, a.signer])).toEqual([
      ['pause', 'test-operator', await gatewayKey()],
      ['resume', 'test-operator', await gatewayKey()],
    ]);
  });

  test('only owners may: operators and agents get 403 and nothing is sent', async () => {
    const before = (await views()).map((v) => v.controls?.applied.length);
    expect(
      (await send({ action: 'pause' }, 'x', undefined, { api: fx.as.operator, actor: 'test-operator' }))
        .status,
    ).toBe(403);
    expect(
      (
        await send({ action: 'latency', budgets: { io: 100 } }, 'x', undefined, {
          api: fx.as.agent,
          actor: 'test-agent',
        })
      ).status,
    ).toBe(403);
    expect((await views()).map((v) => v.controls?.applied.length)).toEqual(before);
  });

  test('an owner token alone is not enough: unsigned, wrongly signed or sent for another actor is refused and nothing is sent', async () => {
    const before = (await views()).map((v) => v.controls?.applied.length);
    // The body a token-only caller would send: no command, no signatures.
    const tokenOnly = await fx.as.owner.request('POST', '/controls/pause-all', {
      body: { reason: 'token alone' },
    });
    expect(tokenOnly.status).toBe(400);
    const unsigned = draftOwnerCommand({ action: 'pause' }, { actor: 'test-owner', reason: 'unsigned' });
    const noSignature = await sendOwnerCommand(fx.as.owner, unsigned);
    expect(noSignature.status).toBe(400);
    if (!noSignature.ok) expect(noSignature.body.errors?.map((e) => e.field)).toContain('body.signatures');
    const stranger = await sendOwnerCommand(fx.as.owner, coSign(unsigned, generateSigner().signer));
    expect(stranger.status).toBe(403);
    if (!stranger.ok) expect(stranger.body.errors?.[0]?.field).toBe('body.signatures.0.signer');
    const signed = coSign(unsigned, ownerKey);
    const altered = { ...signed, command: { ...signed.command, reason: 'not what was signed' } };
    const forged = await sendOwnerCommand(fx.as.owner, altered);
    expect(forged.status).toBe(403);
    if (!forged.ok) expect(forged.body.title).toBe('Owner signature does not verify');
    const someoneElse = coSign(
      draftOwnerCommand({ action: 'pause' }, { actor: 'someone-else', reason: 'x' }),
      ownerKey,
    );
    expect((await sendOwnerCommand(fx.as.owner, someoneElse)).status).toBe(403);
    const controls = await getControls(fx.as.viewer);
    expect(controls.ok && controls.body.halted).toBe(false);
    expect((await views()).map((v) => v.controls?.applied.length)).toEqual(before);
  });
});

describe('health when parts are missing', () => {
  /** A second gateway on the same Temporal service, with its own task queue and data folder. */
  async function gatewayWith(client: Client, taskQueue: string, dataDir: string, maxStreams?: number) {
    const token = newToken();
    const gateway = createGateway({
      client,
      taskQueue,
      auth: new Authenticator({ tokens: [{ name: 'v', role: 'viewer', token }] }),
      dataDir,
      accessLog: () => {},
      maxStreams,
    });
    const running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 1_000 });
    return { running, api: new SwooshClient(running.url, token) };
  }

  test('no worker on the task queue and an unwritable ledger folder: degraded, naming both', async () => {
    // A regular file where the data folder should be: nothing can be created under it.
    const blocked = join(mkdtempSync(join(tmpdir(), 'swoosh-health-')), 'data');
    writeFileSync(blocked, 'not a folder');
    const { running, api } = await gatewayWith(fx.env.client, 'nobody-polls-this-queue', blocked);
    try {
      const res = await api.health();
      expect(res.status).toBe(200);
      if (!res.ok) throw new Error('unreachable');
      expect(res.body).toMatchObject({ status: 'degraded', consensus: 'unknown', walLag: null });
      expect(res.body.checks.temporal.ok).toBe(true);
      expect(res.body.checks.worker).toMatchObject({ ok: false, pollers: 0 });
      expect(res.body.checks.ledger.ok).toBe(false);
      expect(res.body.checks.ledger.detail).not.toContain(blocked);
    } finally {
      await running.close();
    }
  });

  test('consensus follows the ledger as it grows: lagging while it is behind HEAD, diverged once it holds more', async () => {
    // A data folder of its own: the sampled missions are real, their ledgers here start empty.
    const dataDir = mkdtempSync(join(tmpdir(), 'swoosh-consensus-'));
    const { running, api } = await gatewayWith(fx.env.client, fx.taskQueue, dataDir);
    try {
      const behind = await api.health();
      if (!behind.ok) throw new Error(`health ${behind.status}`);
      expect(behind.body.sampledMissions).toBe(missions.length);
      expect(behind.body).toMatchObject({ consensus: 'lagging', lastSnapshotHLC: null });
      expect(behind.body.walLag).toBeGreaterThan(0);

      // More statechart decisions for one mission than its workflow has accepted.
      const view = await fx.as.viewer.getMission(missions[0]!.id);
      if (!view.ok) throw new Error('no mission');
      const head = (view.body.state as { head: { seq: number } }).head.seq;
      const signer = generateSigner().signer;
      const ledger = new FileLedger({ dir: dataPaths(dataDir).ledgerDir, signer });
      const ids = { mission: missions[0]!.id, workflow_id: `mission-${missions[0]!.id}` };
      for (let seq = 0; seq < head + 50; seq++)
        await ledger.appendDecision(decisionEntry(signer.keyId, seq, ids));

      const ahead = await eventually(
        () => api.health(),
        (r) => r.ok && r.body.consensus !== 'lagging',
      );
      if (!ahead.ok) throw new Error(`health ${ahead.status}`);
      expect(ahead.body).toMatchObject({ status: 'degraded', consensus: 'diverged' });
      expect(ahead.body.lastSnapshotHLC).toBe(decisionEntry(signer.keyId, head + 49).hlc);
    } finally {
      await running.close();
    }
  });

  test('event streams beyond the cap are refused with 503 and Retry-After until one closes', async () => {
    const { running, api } = await gatewayWith(fx.env.client, fx.taskQueue, fx.dataDir, 1);
    try {
      const first = new AbortController();
      const held = api.events(missions[0]!.id, { signal: first.signal });
      expect((await held.next()).done).toBe(false);
      const refused = await api.fetch('GET', `/missions/${missions[1]!.id}/events`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(((await refused.json()) as ProblemBody).title).toBe('Too many event streams');

      first.abort();
      for await (const _event of held) void _event;
      const next = await eventually(
        () => api.fetch('GET', `/missions/${missions[1]!.id}/events`),
        (r) => r.status === 200 || (void r.body?.cancel(), false),
      );
      expect(next.status).toBe(200);
      await next.body?.cancel();
    } finally {
      await running.close();
    }
  });

  test('Temporal unreachable: 503 unavailable', async () => {
    const port = await freePort();
    // Nothing listens there: the lazy connection fails at the first call, as a lost service would.
    // No gRPC retry interceptor: its backoff timers outlive the calls' deadlines and would fire on
    // the closed connection after the test.
    const client = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${port}`, interceptors: [] }),
    });
    const { running, api } = await gatewayWith(client, fx.taskQueue, fx.dataDir);
    try {
      const res = await api.health();
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'unavailable', consensus: 'unknown' });
    } finally {
      await running.close();
      await client.connection.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('stops accepting, lets an in-flight request finish, ends event streams, closes the Temporal connection', async () => {
    const connection = await Connection.connect({ address: fx.env.address });
    const client = new Client({ connection, namespace: 'default' });
    const token = newToken();
    const gateway = createGateway({
      client,
      taskQueue: fx.taskQueue,
      auth: new Authenticator({ tokens: [{ name: 'o', role: 'owner', token }] }),
      dataDir: fx.dataDir,
      accessLog: () => {},
    });
    let closedConnection = false;
    const running = await startGateway(gateway, {
      host: '127.0.0.1',
      port: 0,
      graceMs: 10_000,
      onClosed: async () => {
        await connection.close();
        closedConnection = true;
      },
    });
    const api = new SwooshClient(running.url, token);

    const abort = new AbortController();
    const stream = api.events(missions[0]!.id, { signal: abort.signal });
    const firstEvent = await stream.next();
    expect(firstEvent.done).toBe(false);

    // An in-flight request: its body is still arriving when shutdown begins.
    const url = new URL(running.url);
    const body = JSON.stringify({ mission: 'not-a-uuid' });
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/missions',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': body.length,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 5));
      setTimeout(() => req.end(body.slice(5)), 500);
    });
    await new Promise((r) => setTimeout(r, 100));
    const closing = running.close();

    // New connections are refused at once.
    await expect(
      fetch(`${running.url}/health`, { headers: { authorization: `Bearer ${token}` } }),
    ).rejects.toThrow();
    // The in-flight request is answered (its body is invalid: 400), not cut off.
    expect(await inFlight).toBe(400);
    // The event stream ends rather than holding the server open.
    for await (const _event of stream) void _event;
    await closing;
    expect(closedConnection).toBe(true);
    await expect(client.workflowService.getSystemInfo({})).rejects.toThrow();
  });
});
