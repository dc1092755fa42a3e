/**
 * The gateway's ledger reads on the PostgreSQL store (docs/ledger.md, "Stores"): pages, the event
 * stream and the health check's ledger part, read from a database the writers share rather than
 * from a data folder. The records are appended straight to the store, as a worker on another host
 * would; the mission's workflow exists (with no worker) only so the routes find the mission.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGateway } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { SwooshClient } from '../../api/client';
import { type RunningGateway, startGateway } from '../../api/server';
import { generateSigner } from '../../host/keys';
import { PostgresLedger, PostgresLedgerReader } from '../../ledger';
import { missionWorkflowId } from '../../schemas/mission';
import { decisionEntry, deploymentEntry } from '../ledger/support/entries';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { startDevServerEnv, taskQueueFor } from '../support/temporal';

let env: TestWorkflowEnvironment;
let postgres: TestPostgres;
let dataDir: string;
let writer: PostgresLedger;
let reader: PostgresLedgerReader;
let running: RunningGateway;
let viewer: SwooshClient;
const mission = randomUUID();
const signer = generateSigner().signer;
const entry = (seq: number) =>
  decisionEntry(signer.keyId, seq, { mission, workflow_id: missionWorkflowId(mission) });

beforeAll(async () => {
  [env, postgres] = await Promise.all([startDevServerEnv(), startPostgres()]);
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-gateway-pg-'));
  writer = new PostgresLedger({ url: postgres.url, signer });
  reader = new PostgresLedgerReader({ url: postgres.url });
  const taskQueue = taskQueueFor('ledger-postgres');
  // No worker polls this queue: the workflow only has to exist for the routes' mission check.
  await env.client.workflow.start('swooshMission', { taskQueue, workflowId: missionWorkflowId(mission) });
  const token = newToken();
  const gateway = createGateway({
    client: env.client,
    taskQueue,
    auth: new Authenticator({ tokens: [{ name: 'viewer', role: 'viewer', token }] }),
    dataDir,
    ledger: reader,
    accessLog: () => {},
  });
  running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 2_000 });
  viewer = new SwooshClient(running.url, token);
  for (let seq = 0; seq < 5; seq++) {
    await writer.appendDecision(entry(seq));
    await writer.appendAgentDeployment({ ...deploymentEntry(seq), mission });
  }
}, 180_000);

afterAll(async () => {
  await running?.close();
  await env?.client.workflow
    .getHandle(missionWorkflowId(mission))
    .terminate()
    .catch(() => undefined);
  await env?.teardown();
  await Promise.all([writer?.close(), reader?.close()]);
  await postgres?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('gateway ledger reads on PostgreSQL', () => {
  test('GET /missions/:id/ledger pages the stored records by kind, each token leading to the next page', async () => {
    const seqs: number[][] = [];
    let token: string | undefined;
    do {
      const page = await viewer.ledger(mission, { pageSize: 2, ...(token && { pageToken: token }) });
      if (!page.ok) throw new Error(`page refused: ${page.status}`);
      seqs.push(page.body.records.map((r) => ('seq' in r ? r.seq : -1)));
      token = page.body.nextPageToken;
    } while (token);
    expect(seqs).toEqual([[0, 1], [2, 3], [4]]);

    const all = await viewer.ledger(mission, { kind: 'all', pageSize: 100 });
    if (!all.ok) throw new Error('no ledger');
    expect(all.body.records).toEqual((await reader.page(mission, { limit: 100 })).records);
    expect(all.body.records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // A files-store token (index 2 at byte 0) is not this store's.
    const foreign = Buffer.from('i2@0').toString('base64url');
    expect((await viewer.ledger(mission, { pageToken: foreign })).status).toBe(400);
    expect((await viewer.ledger(randomUUID())).status).toBe(404);
  });

  test('GET /missions/:id/events streams decisions from the store and resumes after Last-Event-ID', async () => {
    const abort = new AbortController();
    const stream = viewer.events(mission, { lastEventId: '6', signal: abort.signal });
    // Decisions sit at even indexes (each followed by its deployment): after 6 comes 8.
    const resumed = await stream.next();
    expect(resumed.value).toMatchObject({ id: '8', event: 'transition' });
    const live = await writer.appendDecision(entry(5));
    const next = await stream.next();
    expect(next.value).toMatchObject({ id: String(live.index), event: 'transition' });
    expect(JSON.parse((next.value as { data: string }).data)).toEqual(live);
    abort.abort();
    await stream.return(undefined);
  });

  test('GET /health checks the database as the ledger store', async () => {
    const health = await viewer.health();
    expect(health.body).toMatchObject({ checks: { ledger: { ok: true, detail: 'database answers' } } });
  });
});
