/**
 * The ledger's storage contract (ledger/store.ts), the same cases for every store: appends
 * idempotent per record id, two writers racing on one mission without a duplicate, paging,
 * following, the head, and verify naming a record tampered with where it is stored.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigner, type Signer } from '../../host/keys';
import {
  FileLedger,
  PostgresLedger,
  LedgerConflictError,
  LedgerCorruptError,
  LedgerCursorError,
  ledgerRecordsFile,
  ledgerReport,
  type LedgerStore,
  readLedger,
  recordId,
  verifyLedger,
} from '../../ledger';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { decisionEntry, deploymentEntry, timerClosedEntry } from './support/entries';

/** One store's storage, fresh for each test. */
interface Storage {
  /** A writer on this storage, as each worker opens its own. */
  open(signer: Signer): LedgerStore;
  /** Changes a stored record in place, as whoever can write the storage could. */
  tamper(mission: string, index: number, edit: (record: Record<string, unknown>) => void): Promise<void>;
  dispose(): Promise<void>;
}

const stores: { name: string; create: () => Promise<Storage> }[] = [
  {
    name: 'files',
    create: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'swoosh-store-'));
      return {
        open: (signer) => new FileLedger({ dir, signer }),
        async tamper(mission, index, edit) {
          const path = ledgerRecordsFile(dir, mission);
          const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
          const record = JSON.parse(lines[index]!) as Record<string, unknown>;
          edit(record);
          lines[index] = JSON.stringify(record);
          await writeFile(path, `${lines.join('\n')}\n`);
        },
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    create: async () => {
      const { url, database } = await freshDatabase();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      return {
        open: (signer) => new PostgresLedger({ url, signer }),
        async tamper(mission, index, edit) {
          const { rows } = await admin.query<{ record: string }>(
            'SELECT record FROM swoosh_ledger_records WHERE mission = $1 AND index = $2',
            [mission, index],
          );
          const record = JSON.parse(rows[0]!.record) as Record<string, unknown>;
          edit(record);
          await admin.query(
            'UPDATE swoosh_ledger_records SET record = $3 WHERE mission = $1 AND index = $2',
            [mission, index, JSON.stringify(record)],
          );
        },
        async dispose() {
          await admin.end();
          await dropDatabase(database);
        },
      };
    },
  },
];

/** One server for the file (started when a postgres case first runs), a database per case. */
let server: TestPostgres | undefined;
let databases = 0;
async function serverAdmin<T>(task: (client: pg.Client) => Promise<T>): Promise<T> {
  server ??= await startPostgres();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return await task(client);
  } finally {
    await client.end();
  }
}
async function freshDatabase(): Promise<{ url: string; database: string }> {
  const database = `contract_${++databases}`;
  await serverAdmin((c) => c.query(`CREATE DATABASE ${database}`));
  return { url: server!.url.replace(/\/postgres$/, `/${database}`), database };
}
// Without FORCE: the server waits for the closed stores' sessions to end rather than cutting them.
const dropDatabase = (database: string) => serverAdmin((c) => c.query(`DROP DATABASE ${database}`));
afterAll(async () => {
  await server?.stop();
});

describe.each(stores)('ledger store contract: $name', ({ create }) => {
  let storage: Storage;
  let signer: Signer;
  let ledger: LedgerStore;
  const opened: LedgerStore[] = [];
  const open = () => {
    const store = storage.open(signer);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    storage = await create();
    signer = generateSigner().signer;
    ledger = open();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await storage.dispose();
  });

  const decision = (seq: number) => decisionEntry(signer.keyId, seq);

  it('returns the record already written to a replayed append, from any writer, and refuses other content', async () => {
    const first = await ledger.appendDecision(decision(0));
    expect(await ledger.appendDecision(decision(0))).toEqual(first);
    expect(await open().appendDecision(decision(0))).toEqual(first);
    await expect(
      open().appendDecision(decisionEntry(signer.keyId, 0, { transition: 'Council_Eject' })),
    ).rejects.toBeInstanceOf(LedgerConflictError);
    expect((await readLedger(ledger, 'm-1')).records).toEqual([first]);
  });

  it('writes each record once when two writers race the same appends on one mission', async () => {
    const other = open();
    const seqs = [0, 1, 2, 3, 4, 5];
    await Promise.all(
      seqs.flatMap((seq) => [ledger.appendDecision(decision(seq)), other.appendDecision(decision(seq))]),
    );
    const { records } = await readLedger(ledger, 'm-1');
    expect(records.map((r) => r.id).sort()).toEqual(
      seqs.map((seq) => recordId('decision', ['mission-m-1', seq])).sort(),
    );
    expect(records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await verifyLedger(ledger, 'm-1', [signer.keyId])).toMatchObject({ ok: true, verified: 6 });
  });

  it('pages records oldest first, by kind, each cursor leading to the next page', async () => {
    for (let seq = 0; seq < 5; seq++) {
      await ledger.appendDecision(decision(seq));
      if (seq % 2 === 0) await ledger.appendAgentDeployment(deploymentEntry(seq));
    }
    const pages: number[][] = [];
    let cursor: string | undefined;
    do {
      const page = await ledger.page('m-1', { limit: 2, kind: 'decision', ...(cursor && { cursor }) });
      pages.push(page.records.map((r) => ('seq' in r ? r.seq : -1)));
      expect(page.records.every((r) => r.kind === 'decision')).toBe(true);
      cursor = page.next;
    } while (cursor);
    expect(pages).toEqual([[0, 1], [2, 3], [4]]);

    const all = await ledger.page('m-1', { limit: 100 });
    expect(all.records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(all.next).toBeUndefined();
    expect(await ledger.page('m-2', { limit: 10 })).toEqual({ records: [] });
  });

  it('archives closed timers in a shard ledger that verifies, once each, and names an edited one', async () => {
    const first = await ledger.appendTimerClosed(timerClosedEntry(0));
    expect(await open().appendTimerClosed(timerClosedEntry(0))).toEqual(first);
    await expect(
      ledger.appendTimerClosed(timerClosedEntry(0, { outcome: 'Cancelled' })),
    ).rejects.toBeInstanceOf(LedgerConflictError);
    // The same timer id closed again after retention forgot it is another record.
    await ledger.appendTimerClosed(timerClosedEntry(1));
    await ledger.appendTimerClosed(timerClosedEntry(1, { closed_at: '2026-12-03T14:00:00.000Z' }));
    expect(first).toMatchObject({ kind: 'timer-closed', index: 0, timer_id: 'job-0' });
    expect(await verifyLedger(ledger, 'timer-shard-0', [signer.keyId])).toMatchObject({
      ok: true,
      verified: 3,
    });

    await storage.tamper('timer-shard-0', 1, (record) => {
      record.timer = String(record.timer).replace('Settled', 'Cancelled');
    });
    expect(await verifyLedger(ledger, 'timer-shard-0', [signer.keyId])).toMatchObject({
      ok: false,
      firstBad: { index: 1, reason: 'content does not match its hash (edited)' },
    });
  });

  it('archives closed timers in a batch as one by one would: in order, once each, all or none', async () => {
    const first = await ledger.appendTimerClosed(timerClosedEntry(0));
    // A retried batch holds what its first attempt wrote; within a batch, a repeat is that record.
    const batch = [0, 1, 2, 1].map((n) => timerClosedEntry(n));
    const written = await ledger.appendTimersClosed(batch);
    expect(written.map((r) => [r.index, r.timer_id])).toEqual([
      [0, 'job-0'],
      [1, 'job-1'],
      [2, 'job-2'],
      [1, 'job-1'],
    ]);
    expect(written[0]).toEqual(first);
    expect(await open().appendTimersClosed(batch)).toEqual(written);
    expect(
      await ledger.appendTimersClosed([timerClosedEntry(4, { mission: 'timer-shard-1' })]),
    ).toMatchObject([{ mission: 'timer-shard-1', index: 0 }]);

    // A conflict anywhere refuses the batch, and nothing of it is written.
    await expect(
      ledger.appendTimersClosed([timerClosedEntry(3), timerClosedEntry(2, { outcome: 'Cancelled' })]),
    ).rejects.toBeInstanceOf(LedgerConflictError);
    expect(
      (await readLedger(ledger, 'timer-shard-0')).records.map((r) => ('timer_id' in r ? r.timer_id : r.kind)),
    ).toEqual(['job-0', 'job-1', 'job-2']);
    expect(await verifyLedger(ledger, 'timer-shard-0', [signer.keyId])).toMatchObject({
      ok: true,
      verified: 3,
    });
  });

  it('refuses a cursor that no page gave, or one of another mission', async () => {
    for (let seq = 0; seq < 3; seq++) await ledger.appendDecision(decision(seq));
    await ledger.appendDecision(
      decisionEntry(signer.keyId, 0, { mission: 'm-2', workflow_id: 'mission-m-2' }),
    );
    const { next } = await ledger.page('m-1', { limit: 2 });
    expect(next).toBeDefined();
    await expect(ledger.page('m-1', { limit: 2, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(
      LedgerCursorError,
    );
    await expect(ledger.page('m-2', { limit: 2, cursor: next! })).rejects.toBeInstanceOf(LedgerCursorError);
    await expect(ledger.page('m-3', { limit: 2, cursor: next! })).rejects.toBeInstanceOf(LedgerCursorError);
  });

  it('follows a ledger, yielding each record once as writers append, from after a given index', async () => {
    const tail = ledger.tail('m-1');
    expect(await tail.next()).toEqual([]);
    for (let seq = 0; seq < 3; seq++) await ledger.appendDecision(decision(seq));
    expect((await tail.next()).map((r) => r.index)).toEqual([0, 1, 2]);
    expect(await tail.next()).toEqual([]);
    await open().appendAgentDeployment(deploymentEntry(0));
    await ledger.appendDecision(decision(3));
    expect((await tail.next()).map((r) => r.index)).toEqual([3, 4]);
    expect((await ledger.tail('m-1', 2).next()).map((r) => r.index)).toEqual([3, 4]);
  });

  it('keeps each record as the text it was written, names the mission written last, and answers a probe', async () => {
    expect(await ledger.lastWritten()).toBeUndefined();
    // Files are dated by the kernel's coarse clock (a tick of a few ms): writes a tick apart.
    const tick = () => delay(20);
    const first = await ledger.appendDecision(decision(0));
    await tick();
    await ledger.appendDecision(
      decisionEntry(signer.keyId, 0, { mission: 'm-2', workflow_id: 'mission-m-2' }),
    );
    expect(await ledger.lastWritten()).toBe('m-2');
    await tick();
    await open().appendDecision(decision(1));
    expect(await ledger.lastWritten()).toBe('m-1');
    expect((await ledger.snapshot('m-1'))?.records[0]).toBe(JSON.stringify(first));
    expect(await ledger.listMissions()).toEqual(['m-1', 'm-2']);
    expect(await ledger.probe()).toEqual(expect.any(String));
  });

  it('reads the signed head of the newest record', async () => {
    expect(await ledger.head('m-1')).toBeUndefined();
    await ledger.appendDecision(decision(0));
    const last = await ledger.appendDecision(decision(1));
    expect(await ledger.head('m-1')).toMatchObject({
      mission: 'm-1',
      index: 1,
      hash: last.hash,
      orchestrator: signer.keyId,
    });
  });

  it('never extends a ledger whose newest record was edited where it is stored', async () => {
    for (let seq = 0; seq < 3; seq++) await ledger.appendDecision(decision(seq));
    await storage.tamper('m-1', 2, (record) => {
      record.transition = 'Council_Eject';
    });
    await expect(open().appendDecision(decision(3))).rejects.toBeInstanceOf(LedgerCorruptError);
    expect((await readLedger(ledger, 'm-1')).records).toHaveLength(3);
  });

  it('lets verify name a record edited where it is stored, and reports read the same records', async () => {
    for (let seq = 0; seq < 4; seq++) await ledger.appendDecision(decision(seq));
    await ledger.appendAgentDeployment(deploymentEntry(0));
    expect(await ledger.listMissions()).toEqual(['m-1']);
    expect(await ledgerReport(ledger)).toMatchObject([
      { mission: 'm-1', records: 5, decisions: 4, deployments: 1 },
    ]);
    await storage.tamper('m-1', 2, (record) => {
      record.transition = 'Council_Eject';
    });
    const result = await verifyLedger(ledger, 'm-1', [signer.keyId]);
    expect(result).toMatchObject({ ok: false, verified: 2, firstBad: { index: 2, seq: 2 } });
    expect(result.firstBad?.reason).toMatch(/edited/);
  });
});
