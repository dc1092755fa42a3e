import { existsSync } from 'node:fs';
import {
  appendFile,
  copyFile,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { hashCanonical } from '../../host/digest';
import { canonicalJson } from '../../schemas/canonical-json';
import { acquireLock } from '../../host/file-lock';
import { generateSigner, type Signer, utf8Bytes } from '../../host/keys';
import {
  FileLedger,
  GENESIS_HASH,
  LedgerConflictError,
  LedgerCorruptError,
  ledgerReport,
  listMissions,
  readLedger,
  recordId,
  verifyLedger,
  type BadRecord,
  type LedgerVerification,
} from '../../ledger';
import type { LedgerHead } from '../../schemas/decision-record';
import { decisionEntry, deploymentEntry, lifecycleEvent } from './support/entries';
import { decisionId } from '../../schemas/decision-id';

let dir: string;
let signer: Signer;
let ledger: FileLedger;
const file = () => join(dir, 'm-1.jsonl');
const head = () => join(dir, 'm-1.head.json');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-ledger-'));
  signer = generateSigner().signer;
  ledger = new FileLedger({ dir, signer });
});

afterEach(async () => {
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
});

async function appendDecisions(count: number): Promise<void> {
  for (let seq = 0; seq < count; seq++) await ledger.appendDecision(decisionEntry(signer.keyId, seq));
}

async function lines(): Promise<string[]> {
  return (await readFile(file(), 'utf8')).trimEnd().split('\n');
}

async function writeLines(next: string[]): Promise<void> {
  await writeFile(file(), `${next.join('\n')}\n`);
}

async function editRecord(index: number, edit: (record: Record<string, unknown>) => void): Promise<void> {
  const all = await lines();
  const record = JSON.parse(all[index] ?? '') as Record<string, unknown>;
  edit(record);
  all[index] = JSON.stringify(record);
  await writeLines(all);
}

const verify = () => verifyLedger(dir, 'm-1', [signer.keyId]);

/** What a forger without the orchestrator key can do: make the hash match the edited content. */
function rehash(record: Record<string, unknown>): string {
  const unsigned = Object.fromEntries(
    Object.entries(record).filter(([k]) => k !== 'hash' && k !== 'signature'),
  );
  record.hash = hashCanonical(unsigned);
  return record.hash as string;
}

async function expectFirstBad(bad: Partial<BadRecord>, reason: RegExp): Promise<LedgerVerification> {
  const result = await verify();
  expect(result.ok).toBe(false);
  expect(result.firstBad).toMatchObject(bad);
  expect(result.firstBad?.reason).toMatch(reason);
  return result;
}

describe('decision ledger: append and verify', () => {
  it('chains, signs and verifies what it appends', async () => {
    await appendDecisions(5);
    await ledger.appendAgentDeployment(deploymentEntry(5));

    const { records, tornTail } = await readLedger(dir, 'm-1');
    expect(tornTail).toBe(false);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records[0]?.prev_hash).toBe(GENESIS_HASH);
    expect(records[1]?.prev_hash).toBe(records[0]?.hash);
    expect(records[0]?.orchestrator).toBe(signer.keyId);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 6, notes: [] });
  });

  it('writes every field the design names into a decision record (docs/design.md#the-decision-ledger)', async () => {
    const entry = decisionEntry(signer.keyId, 3);
    const record = await ledger.appendDecision(entry);
    expect(record).toMatchObject({
      ...entry,
      kind: 'decision',
      index: 0,
      id: recordId('decision', ['mission-m-1', 3]),
    });
    expect(record.ucxl).toBe('ucxl://swoosh:m-1@council/Council_QuorumCert/3');
    expect(record.ucxl).toBe(decisionId(entry));
    expect(record.hash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(Date.parse(record.timestamp)).not.toBeNaN();
  });

  it('derives deployment duration from start and finish', async () => {
    const record = await ledger.appendAgentDeployment(deploymentEntry(0));
    expect(record.duration_ms).toBe(10_000);
  });

  it('refuses a deployment that finished before it started', async () => {
    await expect(
      ledger.appendAgentDeployment(deploymentEntry(0, { finished_at: '2025-10-19T00:59:00.000Z' })),
    ).rejects.toThrow(/finished_at/);
  });

  it('lists missions by their original ids, including ids that are not file-safe', async () => {
    await appendDecisions(1);
    await ledger.appendDecision(
      decisionEntry(signer.keyId, 0, { mission: 'team:alpha', workflow_id: 'w-a' }),
    );
    expect(await listMissions(dir)).toEqual(['m-1', 'team:alpha']);
  });

  it('keeps an encoding that hashes identically however keys were ordered', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1, y: undefined } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"z":1}}',
    );
    expect(hashCanonical({ b: 1, a: 2 })).toBe(hashCanonical({ a: 2, b: 1 }));
    expect(() => canonicalJson({ when: new Date() })).toThrow(/non-plain object/);
  });
});

describe('decision ledger: tampering is detected and the first bad record named', () => {
  beforeEach(async () => {
    await appendDecisions(5);
  });

  it('an edited field', async () => {
    await editRecord(2, (r) => (r.transition = 'Council_Eject'));
    const result = await expectFirstBad({ index: 2, seq: 2 }, /does not match its hash/);
    expect(result.verified).toBe(2);
  });

  it('an edit whose hash was recomputed without the orchestrator key', async () => {
    await editRecord(1, (r) => {
      r.guards = [{ guard: 'quorum', ok: false, reasons: ['forged'] }];
      rehash(r);
    });
    await expectFirstBad({ index: 1 }, /signature does not verify/);
  });

  it('a record re-signed with a key the verifier does not trust', async () => {
    const forger = generateSigner().signer;
    await editRecord(3, (r) => {
      r.orchestrator = forger.keyId;
      r.signature = forger.sign(utf8Bytes(rehash(r)));
    });
    await expectFirstBad({ index: 3 }, /untrusted key/);
  });

  it('a field added to a record', async () => {
    await editRecord(0, (r) => (r.approved_by = 'mallory'));
    await expectFirstBad({ index: 0 }, /approved_by/);
  });

  it('a deleted record in the middle', async () => {
    const all = await lines();
    all.splice(2, 1);
    await writeLines(all);
    await expectFirstBad({ index: 2, seq: 3 }, /records before it were deleted/);
  });

  it('a deleted last record', async () => {
    await writeLines((await lines()).slice(0, -1));
    const result = await expectFirstBad({ index: 4 }, /deleted from the end/);
    expect(result.verified).toBe(4);
  });

  it('a deleted head file', async () => {
    await rm(head());
    await expectFirstBad({ index: 5 }, /head is missing/);
  });

  it('a copy of a record inserted', async () => {
    const all = await lines();
    all.splice(2, 0, all[1] ?? '');
    await writeLines(all);
    await expectFirstBad({ index: 2, seq: 1 }, /inserted/);
  });

  it('a genuine record from another mission inserted', async () => {
    const other = await ledger.appendDecision(
      decisionEntry(signer.keyId, 0, { mission: 'm-2', workflow_id: 'w-2' }),
    );
    const all = await lines();
    all.splice(4, 0, JSON.stringify(other));
    await writeLines(all);
    await expectFirstBad({ index: 4 }, /belongs to mission m-2/);
  });

  it('two records swapped', async () => {
    const all = await lines();
    [all[1], all[2]] = [all[2] ?? '', all[1] ?? ''];
    await writeLines(all);
    await expectFirstBad({ index: 1, seq: 2 }, /carries index 2 at position 1/);
  });

  it('a line that is not JSON', async () => {
    const all = await lines();
    all[3] = '{"v":1,';
    await writeLines(all);
    await expectFirstBad({ index: 3 }, /not valid JSON/);
  });

  it('and a writer refuses to extend a tampered chain', async () => {
    await editRecord(4, (r) => (r.transition = 'Council_Eject'));
    const fresh = new FileLedger({ dir, signer });
    await expect(fresh.appendDecision(decisionEntry(signer.keyId, 5))).rejects.toBeInstanceOf(
      LedgerCorruptError,
    );
  });

  it('and a writer refuses to extend a ledger cut short of its head', async () => {
    await writeLines((await lines()).slice(0, -2));
    const fresh = new FileLedger({ dir, signer });
    await expect(fresh.appendDecision(decisionEntry(signer.keyId, 5))).rejects.toThrow(
      /past the last record/,
    );
  });
});

describe('decision ledger: idempotent emission', () => {
  it('returns the existing record for a replayed append', async () => {
    const first = await ledger.appendDecision(decisionEntry(signer.keyId, 0));
    const again = await ledger.appendDecision(decisionEntry(signer.keyId, 0));
    const fromAnotherWorker = await new FileLedger({ dir, signer }).appendDecision(
      decisionEntry(signer.keyId, 0),
    );
    expect(again).toEqual(first);
    expect(fromAnotherWorker).toEqual(first);
    expect(await lines()).toHaveLength(1);
  });

  it('writes no duplicate when retries of the same appends race in one process', async () => {
    const entries = [0, 1, 2, 3].flatMap((seq) =>
      Array.from({ length: 5 }, () => decisionEntry(signer.keyId, seq)),
    );
    const records = await Promise.all(entries.map((e) => ledger.appendDecision(e)));
    expect(new Set(records.map((r) => r.id)).size).toBe(4);
    expect(await lines()).toHaveLength(4);
    expect((await verify()).ok).toBe(true);
  });

  it('writes no duplicate when two ledger instances (two workers) race on the same mission', async () => {
    const other = new FileLedger({ dir, signer });
    await Promise.all(
      [0, 1, 2, 3, 4, 5].flatMap((seq) => [
        ledger.appendDecision(decisionEntry(signer.keyId, seq)),
        other.appendDecision(decisionEntry(signer.keyId, seq)),
      ]),
    );
    const { records } = await readLedger(dir, 'm-1');
    expect(new Set(records.map((r) => r.id))).toEqual(
      new Set([0, 1, 2, 3, 4, 5].map((seq) => recordId('decision', ['mission-m-1', seq]))),
    );
    expect(records).toHaveLength(6);
    expect((await verify()).ok).toBe(true);
    // Each kept its lock while it appended; closed, neither leaves a lock or a request behind.
    await Promise.all([ledger.close(), other.close()]);
    expect((await readdir(dir)).filter((n) => n.includes('.lock'))).toEqual([]);
  });

  it('refuses a replay whose content differs from the record it would repeat', async () => {
    await ledger.appendDecision(decisionEntry(signer.keyId, 0));
    await expect(
      ledger.appendDecision(decisionEntry(signer.keyId, 0, { transition: 'Council_Eject' })),
    ).rejects.toBeInstanceOf(LedgerConflictError);
  });

  it('keeps decision and deployment sequences apart', async () => {
    await ledger.appendDecision(decisionEntry(signer.keyId, 0));
    await ledger.appendAgentDeployment(deploymentEntry(0));
    expect(await lines()).toHaveLength(2);
  });
});

describe('decision ledger: torn writes', () => {
  it('ignores a torn final line when reading and truncates it on the next append', async () => {
    await appendDecisions(3);
    await appendFile(file(), '{"v":1,"kind":"decision","id":"rec-');

    const torn = await verify();
    expect(torn.ok).toBe(true);
    expect(torn.notes.join()).toMatch(/incomplete final line/);
    expect((await readLedger(dir, 'm-1')).tornTail).toBe(true);

    await new FileLedger({ dir, signer }).appendDecision(decisionEntry(signer.keyId, 3));
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 4, notes: [] });
  });

  it('accepts a head one record behind, as a crash between record and head leaves it', async () => {
    await appendDecisions(2);
    const saved = `${head()}.saved`;
    await copyFile(head(), saved);
    await appendDecisions(3);
    await copyFile(saved, head());
    const result = await verify();
    expect(result.ok).toBe(true);
    expect(result.notes.join()).toMatch(/head covers records up to #1/);
  });
});

describe('decision ledger: one lock per burst of appends', () => {
  const lockFile = () => join(dir, 'm-1.lock');

  it('keeps one lock file across appends, then lets it go once idle', async () => {
    const holding = new FileLedger({ dir, signer, lockHoldMs: 150 });
    await holding.appendDecision(decisionEntry(signer.keyId, 0));
    // A lock file holds its taker's pid and a fresh uuid: the same content is the same taking.
    const taken = await readFile(lockFile(), 'utf8');
    for (let seq = 1; seq < 5; seq++) await holding.appendDecision(decisionEntry(signer.keyId, seq));
    expect(await readFile(lockFile(), 'utf8')).toBe(taken);
    await vi.waitFor(() => expect(existsSync(lockFile())).toBe(false), { timeout: 3_000, interval: 20 });
    expect((await verify()).ok).toBe(true);
  });

  it('hands its lock to another writer that asks, and resumes after it', async () => {
    const first = new FileLedger({ dir, signer, lockHoldMs: 600_000 });
    await first.appendDecision(decisionEntry(signer.keyId, 0));
    await first.appendDecision(decisionEntry(signer.keyId, 1));
    // Far shorter than the first writer's hold: only a hand-over lets it in.
    const second = new FileLedger({ dir, signer, lockTimeoutMs: 2_000 });
    expect((await second.appendDecision(decisionEntry(signer.keyId, 2))).index).toBe(2);
    expect((await first.appendDecision(decisionEntry(signer.keyId, 3))).index).toBe(3);
    await Promise.all([first.close(), second.close()]);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 4, notes: [] });
  });

  it('waits for its turn when its lock was broken and taken by another process while it held it', async () => {
    const stalled = new FileLedger({ dir, signer, lockHoldMs: 600_000 });
    await stalled.appendDecision(decisionEntry(signer.keyId, 0));
    await stalled.appendDecision(decisionEntry(signer.keyId, 1));
    await rm(lockFile());
    const foreign = await acquireLock(lockFile(), 1_000);
    const pending = stalled.appendDecision(decisionEntry(signer.keyId, 2));
    await delay(300);
    expect(await lines()).toHaveLength(2);
    await foreign.release();
    expect((await pending).index).toBe(2);
    await stalled.close();
  });

  it('notices its lock was broken while it held it, and re-reads the file before appending', async () => {
    const stalled = new FileLedger({ dir, signer, lockHoldMs: 600_000 });
    await stalled.appendDecision(decisionEntry(signer.keyId, 0));
    await stalled.appendDecision(decisionEntry(signer.keyId, 1));
    // What a process that judged the lock stale does: remove it and append.
    await rm(lockFile());
    const other = new FileLedger({ dir, signer });
    await other.appendDecision(decisionEntry(signer.keyId, 2));
    expect((await stalled.appendDecision(decisionEntry(signer.keyId, 3))).index).toBe(3);
    await Promise.all([stalled.close(), other.close()]);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 4, notes: [] });
  });

  it('neither waits for nor leaves behind a request of a waiter that died', async () => {
    const request = `${lockFile()}.wanted`;
    await writeFile(request, '999999 gone');
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(request, longAgo, longAgo);
    await appendDecisions(1);
    expect(existsSync(request)).toBe(false);
  });

  it('appends to the file at the ledger path even if it was replaced under the writer', async () => {
    await appendDecisions(3);
    const copy = `${file()}.copy`;
    await copyFile(file(), copy);
    await rename(copy, file());
    await ledger.appendDecision(decisionEntry(signer.keyId, 3));
    expect((await readLedger(dir, 'm-1')).records).toHaveLength(4);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 4, notes: [] });
  });
});

describe('decision ledger: the head after a crash', () => {
  /** The head file's two slots, as the writer lays them out. */
  async function slots(): Promise<{ size: number; heads: (LedgerHead | undefined)[] }> {
    const bytes = await readFile(head());
    const size = bytes.length / 2;
    const heads = [0, 1].map((i) => {
      try {
        return JSON.parse(bytes.subarray(i * size, (i + 1) * size).toString('utf8')) as LedgerHead;
      } catch {
        return undefined;
      }
    });
    return { size, heads };
  }

  /** Overwrites part of a slot, as a write torn by a power loss leaves it. */
  async function tear(slot: number): Promise<void> {
    const { size } = await slots();
    const handle = await open(head(), 'r+');
    await handle.write(Buffer.alloc(40, 0), 0, 40, slot * size + 20);
    await handle.close();
  }

  const newestSlot = async () => {
    const { heads } = await slots();
    return (heads[0]?.index ?? -1) > (heads[1]?.index ?? -1) ? 0 : 1;
  };

  it('writes two sector-sized slots holding the newest head and the one before', async () => {
    await appendDecisions(5);
    const { size, heads } = await slots();
    expect(size % 512).toBe(0);
    expect(heads.map((h) => h?.index).sort()).toEqual([3, 4]);
  });

  it('accepts one torn head slot, and the next append writes over that slot', async () => {
    await appendDecisions(5);
    await tear(await newestSlot());
    const torn = await verify();
    expect(torn.ok).toBe(true);
    expect(torn.notes.join()).toMatch(/one head slot is unreadable/);
    expect(torn.notes.join()).toMatch(/head covers records up to #3/);

    await new FileLedger({ dir, signer }).appendDecision(decisionEntry(signer.keyId, 5));
    expect((await slots()).heads.map((h) => h?.index).sort()).toEqual([3, 5]);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 6, notes: [] });
  });

  it('still detects the newest record cut when both slots are intact', async () => {
    await appendDecisions(5);
    await writeLines((await lines()).slice(0, -1));
    await expectFirstBad({ index: 4 }, /deleted from the end/);
  });

  it('refuses a head file with no intact slot, in verify and in the writer', async () => {
    await appendDecisions(5);
    await tear(0);
    await tear(1);
    await expectFirstBad({ index: 5 }, /no intact head/);
    await expect(
      new FileLedger({ dir, signer }).appendDecision(decisionEntry(signer.keyId, 5)),
    ).rejects.toThrow(/no intact signed head/);
  });

  it('refuses a head slot validly signed for another mission: put there, not torn', async () => {
    await appendDecisions(2);
    await ledger.appendDecision(decisionEntry(signer.keyId, 0, { mission: 'm-2', workflow_id: 'w-2' }));
    await copyFile(join(dir, 'm-2.head.json'), head());
    await expectFirstBad({ index: 2 }, /belongs to mission m-2/);
  });

  it('takes an empty head file for a missing one: fine before the second record only', async () => {
    await appendDecisions(1);
    await truncate(head(), 0);
    expect((await verify()).ok).toBe(true);
    await appendDecisions(3);
    await truncate(head(), 0);
    await expectFirstBad({ index: 3 }, /head is missing/);
    await expect(
      new FileLedger({ dir, signer }).appendDecision(decisionEntry(signer.keyId, 3)),
    ).rejects.toThrow(/head file is missing or empty/);
  });

  it('reads a one-line head written before slots, and rewrites it as slots on the next append', async () => {
    await appendDecisions(3);
    const { records } = await readLedger(dir, 'm-1');
    const last = records[2]!;
    const oneLine: LedgerHead = {
      mission: 'm-1',
      index: 2,
      hash: last.hash,
      orchestrator: signer.keyId,
      signature: signer.sign(utf8Bytes(canonicalJson({ mission: 'm-1', index: 2, hash: last.hash }))),
    };
    await ledger.close();
    await writeFile(head(), `${JSON.stringify(oneLine)}\n`);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 3, notes: [] });
    await writeLines((await lines()).slice(0, -1));
    await expectFirstBad({ index: 2 }, /deleted from the end/);
    await writeLines(records.map((r) => JSON.stringify(r)));

    await ledger.appendDecision(decisionEntry(signer.keyId, 3));
    expect((await slots()).heads.map((h) => h?.index)).toEqual([3, 3]);
    expect(await verify()).toEqual({ mission: 'm-1', ok: true, verified: 4, notes: [] });
  });
});

describe('decision ledger: cost and efficiency report', () => {
  it('sums agent deployments, execution time and outcomes per mission', async () => {
    await appendDecisions(2);
    await ledger.appendAgentDeployment(deploymentEntry(0));
    await ledger.appendAgentDeployment(
      deploymentEntry(1, { outcome: 'failed', finished_at: '2025-10-19T01:00:30.000Z' }),
    );
    await ledger.appendAgentDeployment(
      deploymentEntry(0, { mission: 'm-2', workflow_id: 'w-2', outcome: 'timed-out' }),
    );
    await ledger.appendAgentLifecycle(lifecycleEvent('escalated', { missionId: 'm-2' }));
    await ledger.appendAgentLifecycle(lifecycleEvent('retired', { missionId: 'm-2' }));

    const [m1, m2] = await ledgerReport(dir);
    expect(m1).toMatchObject({
      mission: 'm-1',
      records: 4,
      decisions: 2,
      deployments: 2,
      outcomes: { succeeded: 1, failed: 1, 'timed-out': 0, cancelled: 0 },
      agentTimeMs: 40_000,
      meanAgentTimeMs: 20_000,
      maxAgentTimeMs: 30_000,
      successRate: 0.5,
      escalations: 0,
    });
    expect(m2).toMatchObject({
      mission: 'm-2',
      records: 3,
      decisions: 0,
      deployments: 1,
      outcomes: { 'timed-out': 1 },
      successRate: 0,
      escalations: 1,
    });
  });
});
