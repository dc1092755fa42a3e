/**
 * The ledger's writer: appends decisions, agent deployments and lifecycle events to a mission's
 * ledger (docs/ledger.md). Invariants: no acknowledged record is lost, every record continues the
 * chain it was appended to, and a retried emission gets its first record back rather than a second.
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
 * Locking: the lock (host/file-lock.ts) is taken once and kept while the mission keeps appending,
 * so writers in several processes take turns. Each append re-validates it with three stats (the
 * lock file still ours; the records file still the one at its path, as long as this process left
 * it) and hands it over at once if another process waits; an idle lock is kept `lockHoldMs`,
 * watching for waiters, then released.
 *
 * Idempotency: a record's id derives from its kind and what identifies its emission (records.ts),
 * so an activity retried by Temporal finds its record and gets it back instead of writing another.
 *
 * Torn-tail rule: a final line without its newline is a write that never completed (a crash) or
 * one in progress. Readers ignore it; the next writer, holding the lock, truncates it. No
 * acknowledged record can be torn, because acknowledgement follows the sync of a whole line.
 */
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { hashCanonical } from '../host/digest';
import { fsyncDir, statIfPresent, writeFileAtomic } from '../host/durable-fs';
import { acquireLock, type HeldLock } from '../host/file-lock';
import type { Signer } from '../host/keys';
import { decisionId } from '../schemas/decision-id';
import {
  AgentDeploymentEntry,
  type AgentDeploymentRecord,
  AgentLifecycleEntry,
  type AgentLifecycleRecord,
  TimerClosedEntry,
  type TimerClosedRecord,
  DecisionEntry,
  type DecisionRecord,
  type LedgerHead,
  type LedgerRecord,
  type LedgerRecordKind,
  lifecycleEntryOf,
} from '../schemas/decision-record';
import { AgentLifecycleEvent } from '../schemas/evidence';
import { LedgerCorruptError } from './errors';
import { byMission, type ChainEnd, sameEmission, signedRecord } from './chain';
import { FileLedgerReader } from './file-reader';
import { missionFiles, readFrom, readIfPresent, splitLines, truncateDurably } from './files';
import { HEAD_SLOTS, headMessage, headSlot, headSlotSize, headSlotTexts, readHeadSlot } from './head';
import { type Entry, GENESIS_HASH, identityOf, parseRecordLine, recordId, unsignedPart } from './records';
import type { LedgerStore } from './store';

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

/** The files store (store.ts): appends here, reads through `FileLedgerReader` on the same folder. */
export class FileLedger extends FileLedgerReader implements LedgerStore {
  readonly #dir: string;
  readonly #signer: Signer;
  readonly #clock: () => Date;
  readonly #lockTimeoutMs: number;
  readonly #lockHoldMs: number;
  readonly #cursors = new Map<string, Cursor>();
  readonly #sessions = new Map<string, Session>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: FileLedgerOptions) {
    super(options.dir);
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
      ucxl: decisionId(parsed),
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
    const entry = lifecycleEntryOf(AgentLifecycleEvent.parse(event));
    const record = await this.#append('agent-lifecycle', entry, Object.keys(AgentLifecycleEntry.shape), {});
    return record as AgentLifecycleRecord;
  }

  async appendTimerClosed(entry: TimerClosedEntry): Promise<TimerClosedRecord> {
    const parsed = TimerClosedEntry.parse(entry);
    const record = await this.#append('timer-closed', parsed, Object.keys(TimerClosedEntry.shape), {});
    return record as TimerClosedRecord;
  }

  /**
   * Appends closed timers in order, each its own record as `appendTimerClosed` makes it, with one
   * durable write per mission rather than per timer: a busy shard closes hundreds a minute.
   */
  async appendTimersClosed(entries: readonly TimerClosedEntry[]): Promise<TimerClosedRecord[]> {
    const parsed = entries.map((entry) => TimerClosedEntry.parse(entry));
    const records = await byMission(parsed, (mission, group) =>
      this.#appendAll(
        mission,
        'timer-closed',
        group.map((entry) => ({ entry, derived: {} })),
        Object.keys(TimerClosedEntry.shape),
      ),
    );
    return records as TimerClosedRecord[];
  }

  /**
   * Lets go of every mission this ledger holds: locks released, files closed. A worker calls it
   * when it shuts down; a later append takes its mission again.
   */
  override async close(): Promise<void> {
    await Promise.all([...this.#sessions.keys()].map((m) => this.#serially(m, () => this.#close(m))));
  }

  async #append(
    kind: LedgerRecordKind,
    entry: Entry,
    entryKeys: string[],
    derived: Record<string, unknown>,
  ): Promise<LedgerRecord> {
    const [record] = await this.#appendAll(entry.mission, kind, [{ entry, derived }], entryKeys);
    return record!;
  }

  /**
   * Appends entries of one mission in order, each as its own record (or the one already written
   * for its id): one lock check, one write and one fdatasync for all of them, and one head.
   */
  async #appendAll(
    mission: string,
    kind: LedgerRecordKind,
    items: readonly { entry: Entry; derived: Record<string, unknown> }[],
    entryKeys: string[],
  ): Promise<LedgerRecord[]> {
    const ids = items.map(({ entry }) => recordId(kind, identityOf(entry)));
    return this.#serially(mission, async () => {
      // Ids never leave a ledger, so records this process has seen can be returned unlocked.
      const known = this.#cursors.get(mission)?.byId;
      if (known && ids.every((id) => known.has(id)))
        return ids.map((id, i) => sameEmission(known.get(id)!, items[i]!.entry, entryKeys));
      let session: Session;
      const records: LedgerRecord[] = [];
      try {
        session = await this.#session(mission);
        const { cursor } = session;
        const fresh = new Map<string, LedgerRecord>();
        let chain: ChainEnd = { index: cursor.count, lastHash: cursor.lastHash };
        for (const [i, { entry, derived }] of items.entries()) {
          const id = ids[i]!;
          const existing = cursor.byId.get(id) ?? fresh.get(id);
          if (existing) {
            records.push(sameEmission(existing, entry, entryKeys));
            continue;
          }
          const record = signedRecord(chain, { id, kind, entry, derived }, this.#signer, this.#clock());
          fresh.set(id, record);
          chain = { index: chain.index + 1, lastHash: record.hash };
          records.push(record);
        }
        await this.#write(mission, session, [...fresh.values()]);
      } catch (error) {
        // Whatever failed, re-read from disk next time rather than trust this process's view.
        this.#cursors.delete(mission);
        await this.#close(mission).catch((closing: unknown) => warn(mission, closing));
        throw error;
      }
      // The records are durable: a failure to hand the lock over is reported, not the append's.
      await this.#handOver(mission, session).catch((error: unknown) => warn(mission, error));
      return records;
    });
  }

  /**
   * The hot path: one append and one fdatasync of the records file make the records durable; the
   * head is then rewritten in place without a sync of its own (the file header says why).
   */
  async #write(mission: string, session: Session, records: readonly LedgerRecord[]): Promise<void> {
    const last = records.at(-1);
    if (!last) return;
    const { cursor } = session;
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    const created = cursor.bytes === 0;
    await session.records.appendFile(text);
    await session.records.datasync();
    // A new file's name is durable only once its folder is synced.
    if (created) await fsyncDir(this.#dir);
    cursor.bytes += Buffer.byteLength(text);
    cursor.count += records.length;
    cursor.lastHash = last.hash;
    for (const record of records) cursor.byId.set(record.id, record);
    await this.#writeHead(mission, session, last.index, last.hash);
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
        statIfPresent(missionFiles(this.#dir, mission).records),
      ]);
      const sameFile = named?.ino === opened.ino && named.dev === opened.dev;
      if (ours && sameFile && opened.size === held.cursor.bytes) return held;
      await this.#close(mission);
    }
    return this.#open(mission);
  }

  async #open(mission: string): Promise<Session> {
    const file = missionFiles(this.#dir, mission);
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
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
    const file = missionFiles(this.#dir, mission);
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
    const path = missionFiles(this.#dir, mission).head;
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
    const path = missionFiles(this.#dir, mission).head;
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
