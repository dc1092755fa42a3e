/**
 * The ledger across real processes: a writer killed with SIGKILL mid-run loses no record it
 * acknowledged, writers in separate processes racing on the same entries write each once, and
 * writers appending their own records take turns with the lock each keeps while it appends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyFile, loadSigner } from '../../host/keys';
import { FileLedger, readLedger, verifyLedger } from '../../ledger';
import { decisionEntry } from './support/entries';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const writerScript = fileURLToPath(new URL('./support/writer.ts', import.meta.url));

let dir: string;
let keyFile: string;
let keyId: string;
const children: ChildProcess[] = [];

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

interface Writer {
  exited: Promise<NodeJS.Signals | number>;
  /** Resolves once a writer started with `waitForGo` waits for its go. */
  ready: Promise<void>;
  go(): void;
}

/** Runs the writer as one Node process (tsx as a loader, not a wrapper), so a kill hits the writer. */
function spawnWriter(
  count: number,
  pauseMs: number,
  onAck: (id: string, acked: number) => void,
  { workflowId, waitForGo = false }: { workflowId?: string; waitForGo?: boolean } = {},
): Writer {
  const args = [join(dir, 'ledger'), keyFile, String(count), String(pauseMs)];
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

describe('decision ledger across processes', () => {
  it('loses no acknowledged record when the writer is killed mid-append', async () => {
    const acknowledged: string[] = [];
    const { exited } = spawnWriter(100_000, 0, (id, acked) => {
      acknowledged.push(id);
      if (acked === 40) children.at(-1)?.kill('SIGKILL');
    });
    const child = children.at(-1);
    expect(await exited).toBe('SIGKILL');
    expect(child?.signalCode).toBe('SIGKILL');

    const { records } = await readLedger(join(dir, 'ledger'), 'm-1');
    const written = new Set(records.map((r) => r.id));
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);
    expect(acknowledged.filter((id) => !written.has(id))).toEqual([]);
    expect((await verifyLedger(join(dir, 'ledger'), 'm-1', [keyId])).ok).toBe(true);

    // The next writer breaks the dead writer's lock and continues the chain.
    const next = new FileLedger({
      dir: join(dir, 'ledger'),
      signer: await loadSigner(keyFile, 'orchestrator'),
      lockTimeoutMs: 5_000,
    });
    const record = await next.appendDecision(decisionEntry(keyId, records.length));
    expect(record.index).toBe(records.length);
    expect((await verifyLedger(join(dir, 'ledger'), 'm-1', [keyId])).verified).toBe(records.length + 1);
  });

  it('writes each record once when processes replay the same appends concurrently', async () => {
    const acks: string[][] = [[], []];
    const exits = await Promise.all(acks.map((list) => spawnWriter(30, 20, (id) => list.push(id)).exited));
    expect(exits).toEqual([0, 0]);
    expect(acks[0]).toEqual(acks[1]);

    const { records } = await readLedger(join(dir, 'ledger'), 'm-1');
    expect(records.map((r) => r.id)).toEqual(acks[0]);
    expect((await verifyLedger(join(dir, 'ledger'), 'm-1', [keyId])).ok).toBe(true);
  });

  it('passes the held lock back and forth between processes appending their own records', async () => {
    const workflows = ['w-a', 'w-b'];
    const acks = new Map(workflows.map((w) => [w, [] as string[]]));
    const writers = workflows.map((workflowId) =>
      spawnWriter(30, 0, (id) => acks.get(workflowId)?.push(id), { workflowId, waitForGo: true }),
    );
    await Promise.all(writers.map((w) => w.ready));
    for (const writer of writers) writer.go();
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0]);

    const { records } = await readLedger(join(dir, 'ledger'), 'm-1');
    const workflowOf = (r: (typeof records)[number]) => ('workflow_id' in r ? r.workflow_id : undefined);
    expect(records).toHaveLength(60);
    for (const workflow of workflows) {
      expect(records.filter((r) => workflowOf(r) === workflow).map((r) => r.id)).toEqual(acks.get(workflow));
    }
    // Started together, each gave the lock up whenever the other asked: it changed hands repeatedly.
    const turns = records.filter((r, i) => i > 0 && workflowOf(r) !== workflowOf(records[i - 1]!)).length;
    expect(turns).toBeGreaterThanOrEqual(4);
    expect(await verifyLedger(join(dir, 'ledger'), 'm-1', [keyId])).toMatchObject({ ok: true, verified: 60 });
    // Both closed their ledger on exit: no lock and no request is left behind.
    expect((await readdir(join(dir, 'ledger'))).filter((n) => n.includes('.lock'))).toEqual([]);
  });
});
