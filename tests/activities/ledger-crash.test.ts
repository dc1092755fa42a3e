/**
 * The ledger across real processes: a writer killed with SIGKILL mid-run loses no record it
 * acknowledged, and writers in separate processes racing on the same entries write each once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyFile, loadSigner } from '../../activities/keys';
import { FileLedger, readLedger, verifyLedger } from '../../activities/ledger';
import { decisionEntry } from './support/ledger-entries';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const writerScript = fileURLToPath(new URL('./support/ledger-writer.ts', import.meta.url));

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

/** Runs the writer as one Node process (tsx as a loader, not a wrapper), so a kill hits the writer. */
function startWriter(
  count: number,
  pauseMs: number,
  onAck: (id: string, acked: number) => void,
): Promise<NodeJS.Signals | number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', writerScript, join(dir, 'ledger'), keyFile, String(count), String(pauseMs)],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  let acked = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [word, id] = line.split(' ');
    if (word === 'ack' && id) onAck(id, ++acked);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
}

describe('decision ledger across processes', () => {
  it('loses no acknowledged record when the writer is killed mid-append', async () => {
    const acknowledged: string[] = [];
    const exited = startWriter(100_000, 0, (id, acked) => {
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
    const exits = await Promise.all(acks.map((list) => startWriter(30, 20, (id) => list.push(id))));
    expect(exits).toEqual([0, 0]);
    expect(acks[0]).toEqual(acks[1]);

    const { records } = await readLedger(join(dir, 'ledger'), 'm-1');
    expect(records.map((r) => r.id)).toEqual(acks[0]);
    expect((await verifyLedger(join(dir, 'ledger'), 'm-1', [keyId])).ok).toBe(true);
  });
});
