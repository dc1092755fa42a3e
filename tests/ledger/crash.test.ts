/**
 * The ledger across real processes, in each store: a writer killed with SIGKILL mid-run (in the
 * database, mid-transaction) loses no record it acknowledged and leaves none partly written,
 * writers in separate processes racing on the same entries write each once, and writers appending
 * their own records take turns (files: with the lock each keeps while it appends; the database:
 * on the mission's head row).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyFile, loadSigner, type Signer } from '../../host/keys';
import {
  FileLedger,
  FileLedgerReader,
  type LedgerReader,
  type LedgerStore,
  PostgresLedger,
  PostgresLedgerReader,
  readLedger,
  verifyLedger,
} from '../../ledger';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { decisionEntry } from './support/entries';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const writerScript = fileURLToPath(new URL('./support/writer.ts', import.meta.url));

let dir: string;
let keyFile: string;
let keyId: string;
const children: ChildProcess[] = [];

/** Where the writers write: a ledger folder, or a database of the file's server. */
interface Target {
  /** The writer script's first argument. */
  arg: string;
  reader: LedgerReader;
  open(signer: Signer): LedgerStore;
  dispose(): Promise<void>;
}

/** One server for the file, started when a PostgreSQL case first runs; a database per case. */
let server: TestPostgres | undefined;
let databases = 0;
async function admin(sql: string): Promise<void> {
  server ??= await startPostgres();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const targets: { name: string; create: () => Promise<Target> }[] = [
  {
    name: 'files',
    create: () => {
      const ledgerDir = join(dir, 'ledger');
      return Promise.resolve({
        arg: ledgerDir,
        reader: new FileLedgerReader(ledgerDir),
        open: (signer) => new FileLedger({ dir: ledgerDir, signer, lockTimeoutMs: 5_000 }),
        dispose: async () => {},
      });
    },
  },
  {
    name: 'postgres',
    create: async () => {
      const database = `crash_${++databases}`;
      await admin(`CREATE DATABASE ${database}`);
      const url = server!.url.replace(/\/postgres$/, `/${database}`);
      const reader = new PostgresLedgerReader({ url });
      return {
        arg: url,
        reader,
        open: (signer) => new PostgresLedger({ url, signer }),
        async dispose() {
          await reader.close();
          await admin(`DROP DATABASE ${database}`);
        },
      };
    },
  },
];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-ledger-crash-'));
  keyFile = join(dir, 'orchestrator.key.json');
  keyId = (await ensureKeyFile(keyFile, 'orchestrator')).keyId;
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await server?.stop();
});

interface Writer {
  exited: Promise<NodeJS.Signals | number>;
  /** Resolves once a writer started with `waitForGo` waits for its go. */
  ready: Promise<void>;
  go(): void;
}

/** Runs the writer as one Node process (tsx as a loader, not a wrapper), so a kill hits the writer. */
function spawnWriter(
  target: string,
  count: number,
  pauseMs: number,
  onAck: (id: string, acked: number) => void,
  { workflowId, waitForGo = false }: { workflowId?: string; waitForGo?: boolean } = {},
): Writer {
  const args = [target, keyFile, String(count), String(pauseMs)];
  if (workflowId) args.push(workflowId);
  if (waitForGo) args.push('--wait-for-go');
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, ...args], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  let acked = 0;
  let signalReady = () => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [word, id] = line.split(' ');
    if (word === 'ready') signalReady();
    if (word === 'ack' && id) onAck(id, ++acked);
  });
  const exited = new Promise<NodeJS.Signals | number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
  return { exited, ready, go: () => child.stdin.write('go\n') };
}

describe.each(targets)('decision ledger across processes: $name', ({ name, create }) => {
  let target: Target;
  let stores: LedgerStore[];

  beforeEach(async () => {
    target = await create();
    stores = [];
  });

  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await target.dispose();
  });

  it('loses no acknowledged record, and leaves none partly written, when the writer is killed mid-append', async () => {
    const acknowledged: string[] = [];
    const { exited } = spawnWriter(target.arg, 100_000, 0, (id, acked) => {
      acknowledged.push(id);
      if (acked === 40) children.at(-1)?.kill('SIGKILL');
    });
    const child = children.at(-1);
    expect(await exited).toBe('SIGKILL');
    expect(child?.signalCode).toBe('SIGKILL');

    const { records } = await readLedger(target.reader, 'm-1');
    const written = new Set(records.map((r) => r.id));
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);
    expect(acknowledged.filter((id) => !written.has(id))).toEqual([]);
    expect((await verifyLedger(target.reader, 'm-1', [keyId])).ok).toBe(true);

    // The next writer takes the dead writer's turn (its lock broken, or its transaction rolled
    // back by the server) and continues the chain.
    const next = target.open(await loadSigner(keyFile, 'orchestrator'));
    stores.push(next);
    const record = await next.appendDecision(decisionEntry(keyId, records.length));
    expect(record.index).toBe(records.length);
    expect((await verifyLedger(target.reader, 'm-1', [keyId])).verified).toBe(records.length + 1);
  });

  it('writes each record once when processes replay the same appends concurrently', async () => {
    const acks: string[][] = [[], []];
    const exits = await Promise.all(
      acks.map((list) => spawnWriter(target.arg, 30, 20, (id) => list.push(id)).exited),
    );
    expect(exits).toEqual([0, 0]);
    expect(acks[0]).toEqual(acks[1]);

    const { records } = await readLedger(target.reader, 'm-1');
    expect(records.map((r) => r.id)).toEqual(acks[0]);
    expect((await verifyLedger(target.reader, 'm-1', [keyId])).ok).toBe(true);
  });

  it('lets processes appending their own records to one mission take turns', async () => {
    const workflows = ['w-a', 'w-b'];
    const acks = new Map(workflows.map((w) => [w, [] as string[]]));
    const writers = workflows.map((workflowId) =>
      spawnWriter(target.arg, 30, 0, (id) => acks.get(workflowId)?.push(id), {
        workflowId,
        waitForGo: true,
      }),
    );
    await Promise.all(writers.map((w) => w.ready));
    for (const writer of writers) writer.go();
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0]);

    const { records } = await readLedger(target.reader, 'm-1');
    const workflowOf = (r: (typeof records)[number]) => ('workflow_id' in r ? r.workflow_id : undefined);
    expect(records).toHaveLength(60);
    for (const workflow of workflows) {
      expect(records.filter((r) => workflowOf(r) === workflow).map((r) => r.id)).toEqual(acks.get(workflow));
    }
    expect(await verifyLedger(target.reader, 'm-1', [keyId])).toMatchObject({ ok: true, verified: 60 });
    if (name !== 'files') return;
    // Started together, each gave the lock up whenever the other asked: it changed hands repeatedly.
    const turns = records.filter((r, i) => i > 0 && workflowOf(r) !== workflowOf(records[i - 1]!)).length;
    expect(turns).toBeGreaterThanOrEqual(4);
    // Both closed their ledger on exit: no lock and no request is left behind.
    expect((await readdir(join(dir, 'ledger'))).filter((n) => n.includes('.lock'))).toEqual([]);
  });
});
