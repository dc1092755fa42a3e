/**
 * The parked-timer store in the data folder (docs/timers.md#parked-timers): one JSON-lines file
 * per shard under `<data dir>/timers/parked/`. The worker writes it (the shard's parking
 * activities, which its workflow runs one at a time); the gateway reads it to answer for timers
 * no shard holds yet. One module owns the format, so writer and reader agree on it.
 *
 * A line is a parked timer (`p`), a cancel of one (`c`), how far the shard has taken them back
 * (`w`, its watermark), or the digest of a closed timer the shard retired (`d`), answered for
 * until its retention ends. Each process keeps an index (id → due time, where the line is) and reads
 * a timer's line when it needs it, so a million parked timers cost their index, not their specs.
 * Writes happen under a lock file, after reading what others appended, and are fsynced before
 * they return; a torn last line (a crash mid-append) is cut by the next writer. A file that is
 * mostly timers already taken back or digests forgotten is rewritten, and a reader that finds another file at the
 * path reads it afresh.
 */
import type { Stats } from 'node:fs';
import { type FileHandle, mkdir, open, rename, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../schemas/canonical-json';
import { sha256Text } from '../schemas/hash';
import {
  AFTER_EVERY_ID,
  compareParkKeys,
  isParked,
  PAGE_MAX_BYTES,
  PAGE_MAX_TIMERS,
  type PageInRequest,
  type PageInResult,
  type ParkAnswer,
  type ParkedCancelRequest,
  type ParkedCancelResult,
  type ParkedTimer,
  type ParkKey,
  type ParkRequest,
  type ParkResult,
  type RetiredDigest,
  type RetireRequest,
} from '../schemas/timer-parking';
import { TIMER_ENTRY_OVERHEAD_BYTES } from '../schemas/timer-shard';
import { mayChangeTimer } from '../schemas/timer-targets';
import { fsyncDir, statIfPresent } from './durable-fs';
import { acquireLock } from './file-lock';

export interface ParkedTimerStore {
  /** Where the timers are, for messages. */
  readonly location: string;
  park(request: ParkRequest): Promise<ParkResult>;
  pageIn(request: PageInRequest): Promise<PageInResult>;
  cancel(request: ParkedCancelRequest): Promise<ParkedCancelResult>;
  /** Takes over digests of closed timers from their shard (docs/timers.md#retired-digests). */
  retire(request: RetireRequest): Promise<void>;
  /** A timer `shard` has parked and not taken back (cancelled ones too); for reads. */
  get(shard: number, id: string): Promise<ParkedTimer | undefined>;
  /** `shard`'s parked timers by key, after `after`, cancelled ones or the others if asked; for listings. */
  list(shard: number, options: ParkedListOptions): Promise<ParkedTimer[]>;
  /** The digest `shard` retired for a closed timer, if retention has not forgotten it by `at`; for reads. */
  closed(shard: number, id: string, at: number): Promise<RetiredDigest | undefined>;
  close(): Promise<void>;
}

export interface ParkedListOptions {
  after?: ParkKey;
  limit: number;
  cancelled?: boolean;
}

export function parkedTimersDir(dataDir: string): string {
  return join(dataDir, 'timers', 'parked');
}

/** How long a write waits for another process's lock on the same shard's file. */
const LOCK_TIMEOUT_MS = 10_000;
/** Read at most this much at once; a line is far shorter. */
const READ_SLICE_BYTES = 8 * 1024 * 1024;
/** A file at least this large, over half of it timers taken back or digests forgotten, is rewritten. */
const COMPACT_FROM_BYTES = 32 * 1024 * 1024;

type Line =
  | { p: ParkedTimer }
  | { c: { id: string; at: number; reason: string } }
  /** The shard holds everything up to here: the store may let go of it. */
  | { w: ParkKey }
  /** A page-in gave the shard everything up to here; reads no longer find it parked. */
  | { t: ParkKey }
  | { d: RetiredDigest };

interface Slot {
  dueAt: number;
  offset: number;
  length: number;
  cancelledAt?: number;
  cancelReason?: string;
}

interface RetiredSlot {
  forgetAt: number;
  offset: number;
  length: number;
}

export function createFileParkedTimerStore(dir: string): ParkedTimerStore {
  const logs = new Map<number, ShardLog>();
  const logOf = (shard: number): ShardLog => {
    let log = logs.get(shard);
    if (!log) logs.set(shard, (log = new ShardLog(join(dir, `shard-${shard}.jsonl`))));
    return log;
  };
  return {
    location: dir,
    park: (request) => logOf(request.shard).park(request),
    pageIn: (request) => logOf(request.shard).pageIn(request),
    cancel: (request) => logOf(request.shard).cancel(request),
    retire: (request) => logOf(request.shard).retire(request),
    get: (shard, id) => logOf(shard).get(id),
    list: (shard, options) => logOf(shard).list(options),
    closed: (shard, id, at) => logOf(shard).closed(id, at),
    async close() {
      await Promise.all([...logs.values()].map((log) => log.close()));
      logs.clear();
    },
  };
}

class ShardLog {
  private index = new Map<string, Slot>();
  /** Retired digests by id; one retention has forgotten is dropped when next met. */
  private retired = new Map<string, RetiredSlot>();
  private watermark: ParkKey | undefined;
  /**
   * How far page-ins have given timers to the shard. The index keeps them until the shard says it
   * holds them (`watermark`), so that a page-in retried after a crash gets the same page; reads
   * go by this, so they do not answer for a timer its shard has had since.
   */
  private taken: ParkKey | undefined;
  /** Bytes read and indexed: every complete line before this offset. */
  private readOffset = 0;
  private file: { handle: FileHandle; identity: Stats } | undefined;
  /** This process's operations on the file, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  park(request: ParkRequest): Promise<ParkResult> {
    return this.write(request.watermark, async (append) => {
      const answers: ParkAnswer[] = [];
      const lines: Line[] = [];
      const batch = new Map<string, ParkedTimer>();
      for (const { timer, park } of request.timers) {
        const id = timer.spec.id;
        const held = batch.get(id) ?? (await this.parkedTimer(id, request.watermark));
        const closed = held ? undefined : await this.retiredDigest(id, timer.createdAt);
        if (held) {
          if (canonicalJson(held.spec) !== canonicalJson(timer.spec)) return { ok: false, conflict: id };
          answers.push({ id, outcome: 'parkedBefore', timer: held });
        } else if (closed) {
          if (sha256Text(canonicalJson(timer.spec)) !== closed.digest.specHash)
            return { ok: false, conflict: id };
          answers.push({ id, outcome: 'closed', retired: closed });
        } else if (park && isParked({ dueAt: timer.dueAt, id }, request.watermark)) {
          batch.set(id, timer);
          lines.push({ p: timer });
          answers.push({ id, outcome: 'parked' });
        } else answers.push({ id, outcome: 'absent' });
      }
      await append(lines);
      const nextDueAt = this.earliestDue(request.watermark);
      return { ok: true, answers, ...(nextDueAt !== undefined && { nextDueAt }) };
    });
  }

  pageIn(request: PageInRequest): Promise<PageInResult> {
    return this.write(request.watermark, async () => {
      const due = this.keys(request.watermark).filter((key) => key.dueAt <= request.upTo);
      const timers: ParkedTimer[] = [];
      let bytes = 0;
      let room = request.roomBytes;
      for (const key of due) {
        const slot = this.index.get(key.id)!;
        if (timers.length >= Math.min(request.limit, PAGE_MAX_TIMERS)) break;
        if (bytes + slot.length > PAGE_MAX_BYTES || slot.length + TIMER_ENTRY_OVERHEAD_BYTES > room) break;
        bytes += slot.length;
        room -= slot.length + TIMER_ENTRY_OVERHEAD_BYTES;
        timers.push(await this.read(key.id, slot));
      }
      const last = timers.at(-1);
      const watermark =
        timers.length === due.length
          ? { dueAt: request.upTo, id: AFTER_EVERY_ID }
          : last
            ? { dueAt: last.dueAt, id: last.spec.id }
            : request.watermark;
      const nextDueAt = this.earliestDue(watermark);
      if (watermark !== undefined && (this.taken === undefined || compareParkKeys(watermark, this.taken) > 0))
        await this.appendLines([{ t: watermark }]);
      await this.compactIfMostlyDead();
      return {
        timers,
        ...(watermark !== undefined && { watermark }),
        ...(nextDueAt !== undefined && { nextDueAt }),
      };
    });
  }

  cancel(request: ParkedCancelRequest): Promise<ParkedCancelResult> {
    return this.write(request.watermark, async (append) => {
      const timer = await this.parkedTimer(request.id, request.watermark);
      if (!timer) return { outcome: 'notFound' };
      if (request.caller && !mayChangeTimer(request.caller, timer.createdBy)) return { outcome: 'forbidden' };
      if (timer.cancelledAt !== undefined) return { outcome: 'cancelled', timer };
      await append([{ c: { id: request.id, at: request.at, reason: request.reason } }]);
      return {
        outcome: 'cancelled',
        timer: { ...timer, cancelledAt: request.at, cancelReason: request.reason },
      };
    });
  }

  retire(request: RetireRequest): Promise<void> {
    return this.write(request.watermark, async (append) => {
      await append(request.digests.map((d) => ({ d })));
      await this.compactIfMostlyDead();
    });
  }

  closed(id: string, at: number): Promise<RetiredDigest | undefined> {
    return this.serially(async () => {
      await this.refresh();
      return await this.retiredDigest(id, at);
    });
  }

  get(id: string): Promise<ParkedTimer | undefined> {
    return this.serially(async () => {
      await this.refresh();
      return await this.parkedTimer(id, this.readWatermark());
    });
  }

  list(options: ParkedListOptions): Promise<ParkedTimer[]> {
    return this.serially(async () => {
      await this.refresh();
      const keys = this.keys(this.readWatermark()).filter(
        (key) =>
          isParked(key, options.after) &&
          (options.cancelled === undefined ||
            options.cancelled === (this.index.get(key.id)!.cancelledAt !== undefined)),
      );
      const timers: ParkedTimer[] = [];
      for (const key of keys.slice(0, options.limit))
        timers.push(await this.read(key.id, this.index.get(key.id)!));
      return timers;
    });
  }

  close(): Promise<void> {
    return this.serially(async () => {
      await this.file?.handle.close();
      this.file = undefined;
      this.reset();
    });
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────────

  /** What reads take as given to the shard: whatever a page-in gave it, or it said it holds. */
  private readWatermark(): ParkKey | undefined {
    if (this.taken === undefined) return this.watermark;
    if (this.watermark === undefined) return this.taken;
    return compareParkKeys(this.taken, this.watermark) > 0 ? this.taken : this.watermark;
  }

  /** A timer still parked past `watermark`, with its cancel if it has one. */
  private async parkedTimer(id: string, watermark: ParkKey | undefined): Promise<ParkedTimer | undefined> {
    const slot = this.index.get(id);
    if (!slot || !isParked({ dueAt: slot.dueAt, id }, watermark)) return undefined;
    return await this.read(id, slot);
  }

  /** A retired digest retention has not forgotten by `at`. */
  private async retiredDigest(id: string, at: number): Promise<RetiredDigest | undefined> {
    const slot = this.retired.get(id);
    if (!slot) return undefined;
    if (slot.forgetAt <= at) {
      this.retired.delete(id);
      return undefined;
    }
    const line = await this.readLine(slot);
    if (!('d' in line) || line.d.digest.id !== id)
      throw new Error(`${this.path}: the line at ${slot.offset} is not the digest of ${id}`);
    return line.d;
  }

  /** Keys of the timers parked past `watermark`, in order. */
  private keys(watermark: ParkKey | undefined): ParkKey[] {
    const keys: ParkKey[] = [];
    for (const [id, slot] of this.index) {
      const key = { dueAt: slot.dueAt, id };
      if (isParked(key, watermark)) keys.push(key);
    }
    return keys.sort(compareParkKeys);
  }

  private earliestDue(watermark: ParkKey | undefined): number | undefined {
    let earliest: number | undefined;
    for (const [id, slot] of this.index) {
      if (isParked({ dueAt: slot.dueAt, id }, watermark) && (earliest === undefined || slot.dueAt < earliest))
        earliest = slot.dueAt;
    }
    return earliest;
  }

  private async read(id: string, slot: Slot): Promise<ParkedTimer> {
    const line = await this.readLine(slot);
    if (!('p' in line) || line.p.spec.id !== id)
      throw new Error(`${this.path}: the line at ${slot.offset} is not timer ${id}`);
    return {
      ...line.p,
      ...(slot.cancelledAt !== undefined && { cancelledAt: slot.cancelledAt }),
      ...(slot.cancelReason !== undefined && { cancelReason: slot.cancelReason }),
    };
  }

  private async readLine(slot: { offset: number; length: number }): Promise<Line> {
    const buffer = Buffer.alloc(slot.length);
    const { bytesRead } = await this.file!.handle.read(buffer, 0, slot.length, slot.offset);
    return JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as Line;
  }

  /** Indexes what was appended since the last read; a file replaced at the path is read afresh. */
  private async refresh(): Promise<void> {
    const now = await statIfPresent(this.path);
    if (!now) {
      await this.file?.handle.close();
      this.file = undefined;
      this.reset();
      return;
    }
    if (!this.file || this.file.identity.ino !== now.ino || this.file.identity.dev !== now.dev) {
      await this.file?.handle.close();
      const handle = await open(this.path, 'r');
      this.file = { handle, identity: await handle.stat() };
      this.reset();
    }
    const size = (await this.file.handle.stat()).size;
    // In slices: a reader that opens a large file does not hold all of it at once.
    while (this.readOffset < size) {
      const buffer = Buffer.alloc(Math.min(READ_SLICE_BYTES, size - this.readOffset));
      const { bytesRead } = await this.file.handle.read(buffer, 0, buffer.length, this.readOffset);
      let start = 0;
      for (let end = buffer.indexOf(10); end !== -1 && end < bytesRead; end = buffer.indexOf(10, start)) {
        const line = JSON.parse(buffer.subarray(start, end).toString('utf8')) as Line;
        this.apply(line, this.readOffset + start, end - start);
        start = end + 1;
      }
      // No complete line in the slice: a torn tail, or a line longer than the slice.
      if (start === 0) {
        if (buffer.length < READ_SLICE_BYTES) return;
        throw new Error(
          `${this.path}: a line at ${this.readOffset} is longer than ${READ_SLICE_BYTES} bytes`,
        );
      }
      this.readOffset += start;
    }
  }

  private apply(line: Line, offset: number, length: number): void {
    if ('p' in line) {
      this.index.set(line.p.spec.id, { dueAt: line.p.dueAt, offset, length });
    } else if ('c' in line) {
      const slot = this.index.get(line.c.id);
      if (slot) {
        slot.cancelledAt = line.c.at;
        slot.cancelReason = line.c.reason;
      }
    } else if ('d' in line) {
      this.retired.set(line.d.digest.id, { forgetAt: line.d.forgetAt, offset, length });
    } else if ('w' in line) this.advance(line.w);
    else if (this.taken === undefined || compareParkKeys(line.t, this.taken) > 0) this.taken = line.t;
  }

  /** The shard has taken everything up to `watermark`: the index lets go of it. */
  private advance(watermark: ParkKey): void {
    if (this.watermark !== undefined && compareParkKeys(watermark, this.watermark) <= 0) return;
    this.watermark = watermark;
    for (const [id, slot] of this.index) {
      if (!isParked({ dueAt: slot.dueAt, id }, watermark)) this.index.delete(id);
    }
  }

  private reset(): void {
    this.index = new Map();
    this.retired = new Map();
    this.watermark = undefined;
    this.taken = undefined;
    this.readOffset = 0;
  }

  // ── writing ───────────────────────────────────────────────────────────────────────────────

  /**
   * Runs `work` holding the file's lock, on an index brought up to date, after recording the
   * watermark the shard sent (what it has taken back, so the store may let go of it).
   */
  private write<T>(
    watermark: ParkKey | undefined,
    work: (append: (lines: Line[]) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    return this.serially(async () => {
      await mkdir(join(this.path, '..'), { recursive: true, mode: 0o700 });
      const lock = await acquireLock(`${this.path}.lock`, LOCK_TIMEOUT_MS);
      try {
        await this.refresh();
        // Whatever follows the last complete line was torn by a writer that crashed.
        if (this.file && (await this.file.handle.stat()).size > this.readOffset) {
          await truncate(this.path, this.readOffset);
        }
        const append = (lines: Line[]): Promise<void> => this.appendLines(lines);
        if (
          watermark !== undefined &&
          (this.watermark === undefined || compareParkKeys(watermark, this.watermark) > 0)
        )
          await append([{ w: watermark }]);
        return await work(append);
      } finally {
        await lock.release();
      }
    });
  }

  /** Appends lines, fsynced, and indexes them; under the lock. */
  private async appendLines(lines: Line[]): Promise<void> {
    if (lines.length === 0) return;
    const handle = await open(this.path, 'a', 0o600);
    try {
      await handle.writeFile(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.refresh();
  }

  /** Rewrites a large file holding mostly timers already taken back or digests forgotten; under the lock. */
  private async compactIfMostlyDead(): Promise<void> {
    const now = Date.now();
    let live = 0;
    for (const slot of this.index.values()) live += slot.length;
    for (const slot of this.retired.values()) if (slot.forgetAt > now) live += slot.length;
    if (this.readOffset < COMPACT_FROM_BYTES || live * 2 > this.readOffset) return;
    const lines: Line[] = [
      ...(this.watermark ? [{ w: this.watermark }] : []),
      ...(this.taken ? [{ t: this.taken }] : []),
    ];
    for (const [id, slot] of this.index) {
      const timer = await this.read(id, slot);
      const { cancelledAt, cancelReason, ...parked } = timer;
      lines.push({ p: parked });
      if (cancelledAt !== undefined) lines.push({ c: { id, at: cancelledAt, reason: cancelReason ?? '' } });
    }
    for (const [id, slot] of this.retired) {
      const retired = slot.forgetAt > now ? await this.retiredDigest(id, now) : undefined;
      if (retired) lines.push({ d: retired });
    }
    const temporary = `${this.path}.compacting`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
    await fsyncDir(join(this.path, '..'));
    await this.refresh();
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
