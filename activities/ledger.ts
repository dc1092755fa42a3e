/**
 * The decision ledger: per mission, an append-only, hash-chained, orchestrator-signed JSON-lines
 * file in the data folder. Usable outside Temporal: the CLI verifies and reports from it while
 * workers write. Invariants: no acknowledged record is lost, and an edit, deletion, reordering or
 * cut from the end of a well-formed ledger is reported by `verifyLedger`.
 *
 * Files, per mission (name = encodeURIComponent(mission)):
 * - `<m>.jsonl`     one record per line; each record's `hash` covers its canonical JSON (minus
 *                   `hash` and `signature`) including `prev_hash`, so the records form a chain;
 *                   `signature` is the orchestrator's ed25519 signature over `hash`.
 * - `<m>.head.json` the signed (index, hash) of the newest record, in two fixed-size slots written
 *                   in turn. The chain alone cannot reveal records cut from its end; the head can.
 * - `<m>.lock`      held by the process appending to the mission, for as long as it keeps
 *                   appending, so writers in several processes take turns (activities/file-lock.ts).
 *
 * Records: decisions (one per accepted transition), agent deployments (one per agent run, for
 * cost and efficiency reports) and agent lifecycle events (spawned, escalated, retired).
 *
 * Durability (docs/lifecycle.md, "The ledger append"): an append returns only after its line is
 * written and fdatasynced (and the folder synced, for a new file): one durable write per record.
 * The head is then overwritten in place, in the slot not holding the newest head, with no sync of
 * its own: every head names a record already durable, so a crash leaves the head behind the
 * records, never ahead. A process crash leaves it at most one record behind; a power loss may
 * leave an older head, or tear the slot being written while the other keeps an intact one. The
 * head file is created (or converted from the one-line format of before) atomically and durably,
 * once, so it is never absent or empty once two records exist. Hence verify and the writer accept
 * an older head, no head (or an empty file) while at most one record exists, and one unreadable
 * slot; they refuse a head naming a missing or different record, no head beyond the first record,
 * and a head file without an intact slot. The price of tolerating a torn slot: the previous head
 * is always at hand, so whoever can write the folder can garble the newest slot and cut the newest
 * record unseen (before, that took a copy of the head made before the last append).
 *
 * Locking: the lock is taken once and kept while the mission keeps appending. Each append
 * re-validates it with three stats (the lock file still ours; the records file still the one at
 * its path, as long as this process left it) and hands it over at once if another process waits;
 * an idle lock is kept `lockHoldMs`, watching for waiters, then released.
 *
 * Idempotency: a record's id derives from its kind and what identifies its emission — (workflow
 * id, seq) for decisions and deployments, (agent, job, event) for lifecycle events — so an
 * activity retried by Temporal finds its record and gets it back instead of writing another.
 *
 * Torn-tail rule: a final line without its newline is a write that never completed (a crash) or
 * one in progress. Readers ignore it; the next writer, holding the lock, truncates it. No
 * acknowledged record can be torn, because acknowledgement follows the sync of a whole line.
 */
import { type FileHandle, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import {
  AgentDeploymentEntry,
  type AgentDeploymentRecord,
  type AgentLifecycleRecord,
  type AgentOutcome,
  DecisionEntry,
  type DecisionReceipt,
  type DecisionRecord,
  LedgerHead,
  LedgerRecord,
  type LedgerRecordKind,
} from '../schemas/decision-record';
import { AgentLifecycleEvent, Evidence } from '../schemas/evidence';
import type { DecisionDraft, OwnerControlDraft } from '../schemas/decision-record';
import { hashCanonical, sha256Hex } from '../host/digest';
import { canonicalJson } from '../schemas/canonical-json';
import { fsyncDir, isErrno, statIfPresent, writeFileAtomic } from '../host/durable-fs';
import { acquireLock, type HeldLock } from '../host/file-lock';
import type { ContentStore } from './evidence-store';
import { type Signer, utf8Bytes, verifySignature } from '../host/keys';

/** `prev_hash` of a mission's first record. */
export const GENESIS_HASH = `sha256-${'0'.repeat(64)}`;

type Entry = DecisionEntry | AgentDeploymentEntry | AgentLifecycleEvent;
type Identity = readonly (string | number | null)[];

/** What identifies an emission of an entry (or of the record made from it). */
export function identityOf(entry: Entry): Identity {
  return 'event' in entry
    ? [entry.mission, entry.agentId, entry.jobId ?? null, entry.event]
    : [entry.workflow_id, entry.seq];
}

export function recordId(kind: LedgerRecordKind, identity: Identity): string {
  return `rec-${sha256Hex(canonicalJson([kind, ...identity])).slice(0, 32)}`;
}

export function ucxlBacklink(mission: string, region: string, transition: string, seq: number): string {
  return `ucxl://swoosh:${mission}@${region}/${transition}/${seq}`;
}

/** A replayed append whose content differs from the record already written under its id. */
export class LedgerConflictError extends Error {
  constructor(readonly existing: LedgerRecord) {
    super(
      `ledger already holds ${existing.id} (${existing.kind} ${canonicalJson(identityOf(existing))}) ` +
        'with different content; a retried emission must be identical',
    );
    this.name = 'LedgerConflictError';
  }
}

/** The file on disk is not a chain this orchestrator wrote; nothing is appended to it. */
export class LedgerCorruptError extends Error {
  constructor(
    readonly mission: string,
    detail: string,
  ) {
    super(`ledger of mission ${mission} is corrupt: ${detail}; run "swoosh ledger verify ${mission}"`);
    this.name = 'LedgerCorruptError';
  }
}

/** The file holding `mission`'s records in the ledger folder `dir`. */
export function ledgerRecordsFile(dir: string, mission: string): string {
  return paths(dir, mission).records;
}

const paths = (dir: string, mission: string) => {
  // encodeURIComponent keeps `.` and `..`, which would name a file outside the ledger folder.
  if (mission === '.' || mission === '..') throw new Error(`invalid mission id ${JSON.stringify(mission)}`);
  const base = join(dir, encodeURIComponent(mission));
  return { records: `${base}.jsonl`, head: `${base}.head.json`, lock: `${base}.lock` };
};

/** Complete lines of a ledger file and the length of any torn tail after them. */
function splitLines(bytes: Buffer): { lines: string[]; completeBytes: number; tornBytes: number } {
  const end = bytes.lastIndexOf(0x0a) + 1;
  const text = bytes.subarray(0, end).toString('utf8');
  return {
    lines: end === 0 ? [] : text.slice(0, -1).split('\n'),
    completeBytes: end,
    tornBytes: bytes.length - end,
  };
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** The file's bytes from `offset` on (only what is new to a writer); undefined if it is shorter. */
async function readFrom(path: string, offset: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return offset === 0 ? Buffer.alloc(0) : undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size < offset) return undefined;
    const buffer = Buffer.alloc(size - offset);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, offset + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

function unsignedPart(record: LedgerRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => key !== 'hash' && key !== 'signature'));
}

const headMessage = (mission: string, index: number, hash: string) =>
  utf8Bytes(canonicalJson({ mission, index, hash }));

/** The head file holds two slots, written in turn, so a torn write spares the other one. */
const HEAD_SLOTS = 2;
/** Slots are whole sectors, so writing one rewrites no sector of the other, even if torn. */
const SECTOR_BYTES = 512;

/** The size of one head slot of `mission`: its longest possible head line, in whole sectors. */
function headSlotSize(mission: string): number {
  const longest: LedgerHead = {
    mission,
    index: Number.MAX_SAFE_INTEGER,
    hash: GENESIS_HASH,
    orchestrator: `ed25519:${'A'.repeat(43)}=`,
    signature: `${'A'.repeat(86)}==`,
  };
  return SECTOR_BYTES * Math.ceil((Buffer.byteLength(JSON.stringify(longest)) + 1) / SECTOR_BYTES);
}

/** One slot's bytes: the head's JSON padded with spaces to the slot size, ending in a newline. */
function headSlot(head: LedgerHead, size: number): Buffer {
  const slot = Buffer.alloc(size, ' ');
  slot.write(JSON.stringify(head));
  slot[size - 1] = 0x0a;
  return slot;
}

/**
 * The texts of a head file's slots: two of the mission's slot size, or else the whole file as
 * one, which is how heads were written before slots (one JSON line, replaced by rename). A
 * one-line head can never have the two-slot size, which is more than twice its longest line.
 */
function headSlotTexts(bytes: Buffer, mission: string): string[] {
  const size = headSlotSize(mission);
  if (bytes.length !== HEAD_SLOTS * size) return [bytes.toString('utf8')];
  return Array.from({ length: HEAD_SLOTS }, (_, i) =>
    bytes.subarray(i * size, (i + 1) * size).toString('utf8'),
  );
}

type SlotReading =
  { state: 'intact'; head: LedgerHead } | { state: 'foreign'; reason: string } | { state: 'unreadable' };

/**
 * One head slot judged. A slot whose signature verifies was written whole, so one that names
 * another mission or an untrusted key is foreign: put there, not torn. Anything else that fails
 * (bad JSON, bad fields, a signature that does not verify) is unreadable, as a torn write or a
 * read racing a write leaves a slot; the other slot then stands for the head.
 */
function readHeadSlot(text: string, mission: string, trustedKeys?: readonly string[]): SlotReading {
  let head: LedgerHead;
  try {
    head = LedgerHead.parse(JSON.parse(text));
  } catch {
    return { state: 'unreadable' };
  }
  if (!verifySignature(head.orchestrator, headMessage(head.mission, head.index, head.hash), head.signature)) {
    return { state: 'unreadable' };
  }
  if (head.mission !== mission)
    return { state: 'foreign', reason: `the head belongs to mission ${head.mission}` };
  if (trustedKeys && !trustedKeys.includes(head.orchestrator)) {
    return { state: 'foreign', reason: `the head is signed by untrusted key ${head.orchestrator}` };
  }
  return { state: 'intact', head };
}

interface Cursor {
  /** Bytes of complete lines already read. */
  bytes: number;
  count: number;
  lastHash: string;
  byId: Map<string, LedgerRecord>;
}

/** The head file open for in-place slot writes. */
interface HeadWriter {
  handle: FileHandle;
  slotSize: number;
  /** The slot to write next: never the one holding the newest head. */
  next: number;
}

/** What a process holds while it owns a mission's ledger: the lock, open files, its view. */
interface Session {
  lock: HeldLock;
  records: FileHandle;
  /** Undefined until the first head write creates (or converts) the two-slot head file. */
  head: HeadWriter | undefined;
  cursor: Cursor;
  /** Watches for idleness and waiters between appends. */
  idle: NodeJS.Timeout | undefined;
}

export interface FileLedgerOptions {
  /** The ledger folder, `dataPaths(dataDir).ledgerDir`. */
  dir: string;
  /** The orchestrator's key: signs every record and head. */
  signer: Signer;
  clock?: () => Date;
  /** How long to wait for another process's turn; default 10 s. */
  lockTimeoutMs?: number;
  /** How long an idle mission's lock is kept for the next append; default 1 s. */
  lockHoldMs?: number;
}

/**
 * How often a held, idle lock looks for a waiting process: soon after the last append, then less
 * and less often, since every look is a stat on the worker's event loop for every idle mission.
 */
const IDLE_CHECK_FIRST_MS = 25;
const IDLE_CHECK_MAX_MS = 200;

export class FileLedger {
  readonly #dir: string;
  readonly #signer: Signer;
  readonly #clock: () => Date;
  readonly #lockTimeoutMs: number;
  readonly #lockHoldMs: number;
  readonly #cursors = new Map<string, Cursor>();
  readonly #sessions = new Map<string, Session>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: FileLedgerOptions) {
    this.#dir = options.dir;
    this.#signer = options.signer;
    this.#clock = options.clock ?? (() => new Date());
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#lockHoldMs = options.lockHoldMs ?? 1_000;
  }

  /** Appends a decision record, or returns the one already written for this (workflow, seq). */
  async appendDecision(entry: DecisionEntry): Promise<DecisionRecord> {
    const parsed = DecisionEntry.parse(entry);
    const record = await this.#append('decision', parsed, Object.keys(DecisionEntry.shape), {
      ucxl: ucxlBacklink(parsed.mission, parsed.region, parsed.transition, parsed.seq),
    });
    return record as DecisionRecord;
  }

  /** Appends an agent deployment (one Job or local run) for cost and efficiency reports. */
  async appendAgentDeployment(entry: AgentDeploymentEntry): Promise<AgentDeploymentRecord> {
    const parsed = AgentDeploymentEntry.parse(entry);
    const record = await this.#append('agent-deployment', parsed, Object.keys(AgentDeploymentEntry.shape), {
      duration_ms: Date.parse(parsed.finished_at) - Date.parse(parsed.started_at),
    });
    return record as AgentDeploymentRecord;
  }

  /** Appends an agent's spawn, escalation or retirement. */
  async appendAgentLifecycle(event: AgentLifecycleEvent): Promise<AgentLifecycleRecord> {
    const parsed = AgentLifecycleEvent.parse(event);
    const record = await this.#append('agent-lifecycle', parsed, Object.keys(AgentLifecycleEvent.shape), {});
    return record as AgentLifecycleRecord;
  }

  /**
   * Lets go of every mission this ledger holds: locks released, files closed. A worker calls it
   * when it shuts down; a later append takes its mission again.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#sessions.keys()].map((m) => this.#serially(m, () => this.#close(m))));
  }

  async #append(
    kind: LedgerRecordKind,
    entry: Entry,
    entryKeys: string[],
    derived: Record<string, unknown>,
  ): Promise<LedgerRecord> {
    const { mission } = entry;
    const id = recordId(kind, identityOf(entry));
    const same = (existing: LedgerRecord): LedgerRecord => {
      const picked = Object.fromEntries(entryKeys.map((k) => [k, (existing as Record<string, unknown>)[k]]));
      if (canonicalJson(picked) !== canonicalJson(entry)) throw new LedgerConflictError(existing);
      return existing;
    };
    return this.#serially(mission, async () => {
      // Ids never leave a ledger, so a record this process has seen can be returned unlocked.
      const seen = this.#cursors.get(mission)?.byId.get(id);
      if (seen) return same(seen);
      let session: Session;
      let record: LedgerRecord;
      try {
        session = await this.#session(mission);
        const existing = session.cursor.byId.get(id);
        record = existing ? same(existing) : await this.#write(mission, session, id, kind, entry, derived);
      } catch (error) {
        // Whatever failed, re-read from disk next time rather than trust this process's view.
        this.#cursors.delete(mission);
        await this.#close(mission).catch((closing: unknown) => warn(mission, closing));
        throw error;
      }
      // The record is durable: a failure to hand the lock over is reported, not the append's.
      await this.#handOver(mission, session).catch((error: unknown) => warn(mission, error));
      return record;
    });
  }

  /**
   * The hot path: one append and one fdatasync of the records file make the record durable; the
   * head is then rewritten in place without a sync of its own (the file header says why).
   */
  async #write(
    mission: string,
    session: Session,
    id: string,
    kind: LedgerRecordKind,
    entry: Entry,
    derived: Record<string, unknown>,
  ): Promise<LedgerRecord> {
    const { cursor } = session;
    const unsigned = {
      ...entry,
      ...derived,
      v: 1,
      kind,
      id,
      index: cursor.count,
      timestamp: this.#clock().toISOString(),
      prev_hash: cursor.lastHash,
      orchestrator: this.#signer.keyId,
    };
    const hash = hashCanonical(unsigned);
    // Parsed before writing: never write a line that verify would reject.
    const record = LedgerRecord.parse({ ...unsigned, hash, signature: this.#signer.sign(utf8Bytes(hash)) });
    const line = `${JSON.stringify(record)}\n`;
    const created = cursor.bytes === 0;
    await session.records.appendFile(line);
    await session.records.datasync();
    // A new file's name is durable only once its folder is synced.
    if (created) await fsyncDir(this.#dir);
    cursor.bytes += Buffer.byteLength(line);
    cursor.count += 1;
    cursor.lastHash = hash;
    cursor.byId.set(record.id, record);
    await this.#writeHead(mission, session, record.index, hash);
    return record;
  }

  /** Runs appends to one mission one at a time in this process; the lock file orders processes. */
  async #serially<T>(mission: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(mission) ?? Promise.resolve();
    const run = previous.then(task);
    // The queue holds a promise that never rejects, so one failed append does not fail the next.
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(mission, settled);
    try {
      return await run;
    } finally {
      if (this.#queues.get(mission) === settled) this.#queues.delete(mission);
    }
  }

  /**
   * The mission's session, kept from the last append when it still holds: the lock file is still
   * ours, and the records file is still the file at its path and as long as this process left
   * it (three stats, no disk writes). Anything else (the lock broken while this process stalled,
   * the file replaced or grown by another writer) closes it and opens a new one from the disk.
   */
  async #session(mission: string): Promise<Session> {
    const held = this.#sessions.get(mission);
    if (held) {
      clearTimeout(held.idle);
      held.idle = undefined;
      const [ours, opened, named] = await Promise.all([
        held.lock.renew(),
        held.records.stat(),
        statIfPresent(paths(this.#dir, mission).records),
      ]);
      const sameFile = named?.ino === opened.ino && named.dev === opened.dev;
      if (ours && sameFile && opened.size === held.cursor.bytes) return held;
      await this.#close(mission);
    }
    return this.#open(mission);
  }

  async #open(mission: string): Promise<Session> {
    const file = paths(this.#dir, mission);
    await mkdir(this.#dir, { recursive: true });
    const lock = await acquireLock(file.lock, this.#lockTimeoutMs);
    let head: HeadWriter | undefined;
    try {
      const cursor = await this.#sync(mission);
      head = await this.#openHead(mission, cursor.count);
      const records = await open(file.records, 'a', 0o600);
      const session: Session = { lock, records, head, cursor, idle: undefined };
      this.#sessions.set(mission, session);
      return session;
    } catch (error) {
      try {
        await head?.handle.close();
      } finally {
        await lock.release();
      }
      throw error;
    }
  }

  /** Closes the mission's session, if any: files closed, then the lock released. */
  async #close(mission: string): Promise<void> {
    const session = this.#sessions.get(mission);
    if (!session) return;
    this.#sessions.delete(mission);
    clearTimeout(session.idle);
    session.idle = undefined;
    try {
      await Promise.all([session.records.close(), session.head?.handle.close()]);
    } finally {
      await session.lock.release();
    }
  }

  /** After an append: another process waiting gets its turn now, else the lock is kept a while. */
  async #handOver(mission: string, session: Session): Promise<void> {
    if (await session.lock.wanted()) await this.#close(mission);
    else this.#watchIdle(mission, session, Date.now());
  }

  /**
   * Keeps an idle session's lock for `lockHoldMs` after its last append, looking for a process
   * waiting for it after IDLE_CHECK_FIRST_MS, then at doubling intervals up to IDLE_CHECK_MAX_MS.
   * The timer does not keep the process alive; a process that exits holding a lock leaves it to be
   * broken as its holder's pid is gone.
   */
  #watchIdle(mission: string, session: Session, since: number, delayMs = IDLE_CHECK_FIRST_MS): void {
    const timer = setTimeout(() => {
      this.#serially(mission, async () => {
        // An append or a close since then decided the session's next step.
        if (session.idle !== timer || this.#sessions.get(mission) !== session) return;
        if (Date.now() - since >= this.#lockHoldMs || (await session.lock.wanted()))
          await this.#close(mission);
        else this.#watchIdle(mission, session, since, Math.min(delayMs * 2, IDLE_CHECK_MAX_MS));
      }).catch((error: unknown) => warn(mission, error));
    }, delayMs);
    timer.unref();
    session.idle = timer;
  }

  /**
   * Brings this process's view up to date with the file (other processes may have appended),
   * checking each new record's link and hash, and truncates a torn tail. Call under the lock.
   */
  async #sync(mission: string): Promise<Cursor> {
    const file = paths(this.#dir, mission);
    const cursor: Cursor = this.#cursors.get(mission) ?? {
      bytes: 0,
      count: 0,
      lastHash: GENESIS_HASH,
      byId: new Map(),
    };
    const bytes = await readFrom(file.records, cursor.bytes);
    if (bytes === undefined) throw new LedgerCorruptError(mission, 'the file shrank under the writer');
    const { lines, completeBytes, tornBytes } = splitLines(bytes);
    for (const line of lines) {
      const record = parseRecordLine(line);
      const problem = record ? continuationProblem(record, mission, cursor) : 'is not a ledger record';
      if (problem !== undefined || !record)
        throw new LedgerCorruptError(mission, `record #${cursor.count} ${problem}`);
      cursor.count += 1;
      cursor.lastHash = record.hash;
      cursor.byId.set(record.id, record);
    }
    cursor.bytes += completeBytes;
    if (tornBytes > 0) await truncateDurably(file.records, cursor.bytes);
    this.#cursors.set(mission, cursor);
    return cursor;
  }

  /**
   * Checks the head against the records as verify would (a writer never extends a ledger that
   * verify refuses at its end) and opens a two-slot head file for in-place writes. A head file
   * that is absent, or in the one-line format of before, is (re)created by the first write.
   */
  async #openHead(mission: string, count: number): Promise<HeadWriter | undefined> {
    const path = paths(this.#dir, mission).head;
    const bytes = await readIfPresent(path);
    if (bytes === undefined || bytes.length === 0) {
      // Only the first append can crash before its head is written.
      if (count > 1) throw new LedgerCorruptError(mission, 'its head file is missing or empty');
      return undefined;
    }
    const readings = headSlotTexts(bytes, mission).map((text) => readHeadSlot(text, mission));
    const foreign = readings.find((r) => r.state === 'foreign');
    if (foreign) throw new LedgerCorruptError(mission, foreign.reason);
    const intact = readings.flatMap((r, slot) =>
      r.state === 'intact' ? [{ slot, index: r.head.index }] : [],
    );
    const newest = intact.sort((a, b) => b.index - a.index)[0];
    if (!newest) throw new LedgerCorruptError(mission, 'its head file holds no intact signed head');
    if (newest.index >= count) {
      throw new LedgerCorruptError(mission, `its head names record #${newest.index}, past the last record`);
    }
    if (readings.length !== HEAD_SLOTS) return undefined;
    return { handle: await open(path, 'r+'), slotSize: headSlotSize(mission), next: 1 - newest.slot };
  }

  /**
   * Writes the signed head of record `index` over the slot not holding the newest head, with no
   * fsync: the records are already durable, and a head lost to a crash is an older head. The
   * first write creates the two-slot file atomically and durably, both slots alike, so after it
   * the file is never absent, empty or shorter.
   */
  async #writeHead(mission: string, session: Session, index: number, hash: string): Promise<void> {
    const head: LedgerHead = {
      mission,
      index,
      hash,
      orchestrator: this.#signer.keyId,
      signature: this.#signer.sign(headMessage(mission, index, hash)),
    };
    if (session.head) {
      const { handle, slotSize, next } = session.head;
      const { bytesWritten } = await handle.write(headSlot(head, slotSize), 0, slotSize, next * slotSize);
      if (bytesWritten !== slotSize) throw new Error(`short write of the head of mission ${mission}`);
      session.head.next = 1 - next;
      return;
    }
    const path = paths(this.#dir, mission).head;
    const slotSize = headSlotSize(mission);
    const slot = headSlot(head, slotSize);
    await writeFileAtomic(path, Buffer.concat([slot, slot]));
    session.head = { handle: await open(path, 'r+'), slotSize, next: 1 };
  }
}

/** A failure with no caller to hear it (an idle lock's release): reported, not swallowed. */
function warn(mission: string, error: unknown): void {
  process.emitWarning(
    `ledger of mission ${mission}: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/** The writer's cheap check of a record it did not write: same mission, next link, hash intact. */
function continuationProblem(record: LedgerRecord, mission: string, cursor: Cursor): string | undefined {
  if (record.mission !== mission) return `belongs to mission ${record.mission}`;
  if (record.index !== cursor.count || record.prev_hash !== cursor.lastHash)
    return 'does not continue the chain';
  if (hashCanonical(unsignedPart(record)) !== record.hash) return 'does not match its hash';
  return undefined;
}

/** One line of a ledger file as a record, or undefined if it is not one. */
export function parseRecordLine(line: string): LedgerRecord | undefined {
  try {
    const parsed = LedgerRecord.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function truncateDurably(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Every complete record of a mission, in order, for reading while writers append. */
export async function readLedger(
  dir: string,
  mission: string,
): Promise<{ records: LedgerRecord[]; tornTail: boolean }> {
  const bytes = await readIfPresent(paths(dir, mission).records);
  if (bytes === undefined) throw new Error(`no ledger for mission ${mission} in ${dir}`);
  const { lines, tornBytes } = splitLines(bytes);
  const records = lines.map((line, index) => {
    const record = parseRecordLine(line);
    if (!record) throw new LedgerCorruptError(mission, `line ${index + 1} is not a ledger record`);
    return record;
  });
  return { records, tornTail: tornBytes > 0 };
}

export async function listMissions(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
  return names
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => decodeURIComponent(n.slice(0, -'.jsonl'.length)))
    .sort();
}

export interface BadRecord {
  /** Position in the file (0-based); for a record missing from the end, the first missing index. */
  index: number;
  id?: string;
  seq?: number;
  transition?: string;
  reason: string;
}

export interface LedgerVerification {
  mission: string;
  ok: boolean;
  /** Records that passed every check before the first bad one. */
  verified: number;
  firstBad?: BadRecord;
  notes: string[];
}

/**
 * Checks a mission's ledger: every line a well-formed record, its hash recomputed, its
 * signature by a trusted orchestrator key, its id derived from (workflow, kind, seq), its index
 * and link continuing the chain, no id repeated, and the signed head agreeing with the end.
 * Stops at, and names, the first bad record.
 */
export async function verifyLedger(
  dir: string,
  mission: string,
  trustedKeys: readonly string[],
): Promise<LedgerVerification> {
  if (trustedKeys.length === 0)
    throw new Error('verifying a ledger needs at least one trusted orchestrator key');
  const file = paths(dir, mission);
  // Head first: a writer appends the record, then the head, so a head read first never runs ahead.
  const headBytes = await readIfPresent(file.head);
  const bytes = await readIfPresent(file.records);
  if (bytes === undefined) throw new Error(`no ledger for mission ${mission} in ${dir}`);
  const { lines, tornBytes } = splitLines(bytes);
  const notes: string[] = [];
  if (tornBytes > 0) {
    notes.push(
      `ignored an incomplete final line (${tornBytes} bytes): a write in progress or torn by a crash`,
    );
  }
  const fail = (bad: BadRecord, verified: number): LedgerVerification => ({
    mission,
    ok: false,
    verified,
    firstBad: bad,
    notes,
  });

  const records: LedgerRecord[] = [];
  const seen = new Set<string>();
  let prevHash = GENESIS_HASH;
  for (const [index, line] of lines.entries()) {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return fail({ index, reason: 'line is not valid JSON' }, index);
    }
    const parsed = LedgerRecord.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
        .join('; ');
      return fail({ index, reason: `not a valid record (${where})` }, index);
    }
    const record = parsed.data;
    const named = {
      index,
      id: record.id,
      ...('seq' in record && { seq: record.seq }),
      ...(record.kind === 'decision' && { transition: record.transition }),
    };
    const problem = recordProblem(record, { index, mission, prevHash, seen, trustedKeys });
    if (problem) return fail({ ...named, reason: problem }, index);
    records.push(record);
    seen.add(record.id);
    prevHash = record.hash;
  }

  const headProblem = checkHead(headBytes, records, mission, trustedKeys, notes);
  if (headProblem) return fail(headProblem, records.length);
  return { mission, ok: true, verified: records.length, notes };
}

function recordProblem(
  record: LedgerRecord,
  at: { index: number; mission: string; prevHash: string; seen: Set<string>; trustedKeys: readonly string[] },
): string | undefined {
  if (record.mission !== at.mission) return `belongs to mission ${record.mission}`;
  if (hashCanonical(unsignedPart(record)) !== record.hash) return 'content does not match its hash (edited)';
  if (!at.trustedKeys.includes(record.orchestrator)) return `signed by untrusted key ${record.orchestrator}`;
  if (!verifySignature(record.orchestrator, utf8Bytes(record.hash), record.signature)) {
    return 'orchestrator signature does not verify (edited)';
  }
  if (record.id !== recordId(record.kind, identityOf(record))) {
    return 'id does not derive from the identity of its emission (edited)';
  }
  if (at.seen.has(record.id)) return 'repeats an earlier record id (inserted copy)';
  if (record.index > at.index) {
    return `carries index ${record.index} at position ${at.index}: records before it were deleted or moved`;
  }
  if (record.index < at.index) {
    return `carries index ${record.index} at position ${at.index}: a record was inserted or moved before it`;
  }
  if (record.prev_hash !== at.prevHash) {
    return 'does not link to the record before it (deleted, inserted or reordered records)';
  }
  return undefined;
}

function checkHead(
  headBytes: Buffer | undefined,
  records: LedgerRecord[],
  mission: string,
  trustedKeys: readonly string[],
  notes: string[],
): BadRecord | undefined {
  const count = records.length;
  // Empty is absent: the head file is created whole, and in-place writes never shorten it.
  if (headBytes === undefined || headBytes.length === 0) {
    // Only the first append can crash before any head exists.
    if (count <= 1) {
      if (count === 1) notes.push('no head yet: the first append was interrupted before writing it');
      return undefined;
    }
    return {
      index: count,
      reason: 'the signed head is missing, so records cut from the end would go unseen',
    };
  }
  const readings = headSlotTexts(headBytes, mission).map((text) => readHeadSlot(text, mission, trustedKeys));
  const foreign = readings.find((r) => r.state === 'foreign');
  if (foreign) return { index: count, reason: foreign.reason };
  const heads = readings
    .flatMap((r) => (r.state === 'intact' ? [r.head] : []))
    .sort((a, b) => b.index - a.index);
  if (heads.length === 0) {
    return {
      index: count,
      reason: 'the head file holds no intact head signed by a trusted orchestrator key',
    };
  }
  if (heads.length < readings.length) {
    notes.push(
      'one head slot is unreadable (a write in progress or torn by a crash); the other stands for the head',
    );
  }
  for (const head of heads) {
    const headed = records[head.index];
    if (!headed) {
      return {
        index: count,
        reason: `the head names record #${head.index} but the ledger ends at #${count - 1}: records were deleted from the end`,
      };
    }
    if (headed.hash !== head.hash) {
      return { index: head.index, id: headed.id, reason: 'is not the record the head signed (replaced)' };
    }
  }
  const newest = heads[0]!.index;
  if (newest < count - 1) {
    notes.push(`the head covers records up to #${newest}; a crash can leave it behind the records`);
  }
  return undefined;
}

export interface MissionReport {
  mission: string;
  records: number;
  decisions: number;
  deployments: number;
  outcomes: Record<AgentOutcome, number>;
  /** Agents whose failure or timeout handed their work back to the orchestrator. */
  escalations: number;
  /** Sum of agent execution time: what the mission's agents cost in run time. */
  agentTimeMs: number;
  meanAgentTimeMs: number | null;
  maxAgentTimeMs: number | null;
  /** Share of deployments that succeeded: the mission's efficiency. */
  successRate: number | null;
  firstAt: string | null;
  lastAt: string | null;
  /** Elapsed time from the first to the last record. */
  wallClockMs: number;
}

/** Cost and efficiency per mission, from the agent deployments and decisions in the ledger. */
export async function ledgerReport(dir: string, missions?: string[]): Promise<MissionReport[]> {
  const names = missions ?? (await listMissions(dir));
  return Promise.all(
    names.map(async (mission) => {
      const { records } = await readLedger(dir, mission);
      const deployments = records.filter((r): r is AgentDeploymentRecord => r.kind === 'agent-deployment');
      const outcomes: Record<AgentOutcome, number> = {
        succeeded: 0,
        failed: 0,
        'timed-out': 0,
        cancelled: 0,
      };
      for (const d of deployments) outcomes[d.outcome] += 1;
      const times = deployments.map((d) => d.duration_ms);
      const agentTimeMs = times.reduce((a, b) => a + b, 0);
      const firstAt = records[0]?.timestamp ?? null;
      const lastAt = records.at(-1)?.timestamp ?? null;
      return {
        mission,
        records: records.length,
        decisions: records.filter((r) => r.kind === 'decision').length,
        deployments: deployments.length,
        outcomes,
        escalations: records.filter((r) => r.kind === 'agent-lifecycle' && r.event === 'escalated').length,
        agentTimeMs,
        meanAgentTimeMs: times.length ? Math.round(agentTimeMs / times.length) : null,
        maxAgentTimeMs: times.length ? Math.max(...times) : null,
        successRate: times.length ? outcomes.succeeded / times.length : null,
        firstAt,
        lastAt,
        wallClockMs: firstAt && lastAt ? Date.parse(lastAt) - Date.parse(firstAt) : 0,
      };
    }),
  );
}

export interface LedgerActivityDeps {
  ledger: FileLedger;
  evidence: ContentStore;
}

/** A decision draft as a ledger entry; the emitting workflow's id makes it idempotent. */
export function decisionEntryFromDraft(
  draft: DecisionDraft | OwnerControlDraft,
  workflowId: string,
): DecisionEntry {
  return {
    mission: draft.mission_id,
    workflow_id: workflowId,
    seq: draft.seq,
    region: draft.region,
    transition: draft.transition,
    guards: draft.guards.map((g) => ({ guard: g.guard, ok: g.ok, reasons: [...g.reasons] })),
    signer: draft.signer,
    proposal_signature: draft.signature,
    signature_verified: draft.signature_verified,
    pre_state_hash: draft.pre_hash,
    post_state_hash: draft.post_hash,
    inputs_hash: draft.inputs_hash,
    idem_key: draft.idem_key,
    hlc: draft.hlc,
    window_id: draft.window_id,
    evidence: [...draft.evidence],
    decided_at: new Date(draft.at_ms).toISOString(),
  };
}

export function createLedgerActivities({ ledger, evidence }: LedgerActivityDeps) {
  return {
    /**
     * Records an accepted transition's decision (docs/lifecycle.md); safe to retry. The record id
     * derives from the calling workflow's id and the decision's seq, taken from the activity
     * context. Answers a receipt, not the record, to keep the mission's history small.
     */
    recordDecision: (draft: DecisionDraft | OwnerControlDraft): Promise<DecisionReceipt> =>
      asActivityFailure(async () => {
        const workflowId = Context.current().info.workflowExecution?.workflowId;
        if (workflowId === undefined) {
          throw ApplicationFailure.nonRetryable(
            'recordDecision runs only on behalf of a workflow',
            'NoWorkflow',
          );
        }
        const { id, index, hash } = await ledger.appendDecision(decisionEntryFromDraft(draft, workflowId));
        return { id, index, hash };
      }),

    /** Records one agent run's execution time and outcome; safe to retry. */
    recordAgentDeployment: (entry: AgentDeploymentEntry): Promise<AgentDeploymentRecord> =>
      asActivityFailure(() => ledger.appendAgentDeployment(entry)),

    /** Records an agent's spawn, escalation or retirement; safe to retry. */
    recordAgentLifecycle: (event: AgentLifecycleEvent): Promise<AgentLifecycleRecord> =>
      asActivityFailure(() => ledger.appendAgentLifecycle(event)),

    /** Stores an ArtifactEvidence or ValidationReport; records reference it by the checksum. */
    storeEvidence: async (item: Evidence): Promise<{ checksum: string }> => ({
      checksum: await asActivityFailure(() => evidence.putJson(Evidence.parse(item))),
    }),
  };
}

/** Failures retrying cannot fix become non-retryable, typed for the workflow to branch on. */
async function asActivityFailure<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ZodError) {
      throw ApplicationFailure.nonRetryable(`invalid ledger input: ${error.message}`, 'InvalidLedgerEntry');
    }
    if (error instanceof LedgerConflictError)
      throw ApplicationFailure.nonRetryable(error.message, 'LedgerConflict');
    if (error instanceof LedgerCorruptError)
      throw ApplicationFailure.nonRetryable(error.message, 'LedgerCorrupt');
    throw error;
  }
}
