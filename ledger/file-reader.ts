/**
 * The files store's reading side (docs/ledger.md, "Stores"): the ledger folder read as the
 * contract's `LedgerReader`, while writers in any process append. `FileLedger` (append.ts) is the
 * writing side and reads through this.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../host/durable-fs';
import type { LedgerHead, LedgerRecord } from '../schemas/decision-record';
import { LedgerCorruptError, LedgerCursorError } from './errors';
import { listMissions, missionFiles, readIfPresent, splitLines } from './files';
import { headSlotTexts, readHeadSlot } from './head';
import { parseRecordLine } from './records';
import type { LedgerFollower, LedgerPageRead, LedgerReader, LedgerSnapshot, PageRequest } from './store';

/** Where a page starts: the index of its first record and that record's byte offset in the file. */
interface PagePosition {
  index: number;
  offset: number;
}

// The form the gateway's page tokens had before the contract, so tokens given then still read.
const encodePosition = ({ index, offset }: PagePosition): string =>
  Buffer.from(`i${index}@${offset}`).toString('base64url');
function decodePosition(cursor: string): PagePosition | undefined {
  const match = /^i(0|[1-9][0-9]{0,14})@(0|[1-9][0-9]{0,14})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  return match ? { index: Number(match[1]), offset: Number(match[2]) } : undefined;
}

/** Bytes read at a time while paging: a page costs about its own size, not the whole ledger's. */
const PAGE_CHUNK = 64 * 1024;

export class FileLedgerReader implements LedgerReader {
  /** The ledger folder, `dataPaths(dataDir).ledgerDir`. */
  readonly location: string;

  constructor(dir: string) {
    this.location = dir;
  }

  listMissions(): Promise<string[]> {
    return listMissions(this.location);
  }

  async lastWritten(): Promise<string | undefined> {
    let names: string[];
    try {
      names = (await readdir(this.location)).filter((n) => n.endsWith('.jsonl'));
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    const dated = await Promise.all(
      names.map(async (n) => ({
        n,
        at: (await stat(join(this.location, n)).catch(() => undefined))?.mtimeMs ?? 0,
      })),
    );
    const newest = dated.sort((a, b) => b.at - a.at)[0];
    return newest && decodeURIComponent(newest.n.slice(0, -'.jsonl'.length));
  }

  /** Writable means a file can be created, synced and removed there, as an append would. */
  async probe(): Promise<string> {
    const probe = join(this.location, `.health-${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(this.location, { recursive: true, mode: 0o700 });
    const handle = await open(probe, 'wx', 0o600);
    try {
      await handle.writeFile('probe\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(probe);
    return 'writable';
  }

  async head(mission: string): Promise<LedgerHead | undefined> {
    const bytes = await readIfPresent(missionFiles(this.location, mission).head);
    if (bytes === undefined || bytes.length === 0) return undefined;
    const readings = headSlotTexts(bytes, mission).map((text) => readHeadSlot(text, mission));
    const foreign = readings.find((r) => r.state === 'foreign');
    if (foreign) throw new LedgerCorruptError(mission, foreign.reason);
    return readings
      .flatMap((r) => (r.state === 'intact' ? [r.head] : []))
      .sort((a, b) => b.index - a.index)[0];
  }

  /**
   * Reads from the start or from the cursor's position, one record past the page to tell whether
   * there is a next. A cursor's position must start the record it names, so a forged or foreign
   * one is refused rather than read from the middle of a line.
   */
  async page(mission: string, { cursor, limit, kind }: PageRequest): Promise<LedgerPageRead> {
    const from = cursor === undefined ? undefined : decodePosition(cursor);
    if (cursor !== undefined && from === undefined) throw new LedgerCursorError(mission);
    const path = missionFiles(this.location, mission).records;
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      if (from) throw new LedgerCursorError(mission);
      return { records: [] };
    }
    const found: { record: LedgerRecord; end: number }[] = [];
    try {
      let carry = Buffer.alloc(0);
      let position = from?.offset ?? 0;
      let first = true;
      while (found.length <= limit) {
        const chunk = Buffer.alloc(PAGE_CHUNK);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const text = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
        const textStart = position - text.length;
        let start = 0;
        for (
          let nl = text.indexOf(0x0a);
          nl !== -1 && found.length <= limit;
          nl = text.indexOf(0x0a, start)
        ) {
          const record = parseRecordLine(text.subarray(start, nl).toString('utf8'));
          if (first && from && record?.index !== from.index) throw new LedgerCursorError(mission);
          if (!record)
            throw new Error(`ledger file ${path}: the line at byte ${textStart + start} is not a record`);
          first = false;
          if (kind === undefined || record.kind === kind) found.push({ record, end: textStart + nl + 1 });
          start = nl + 1;
        }
        carry = Buffer.from(text.subarray(start));
      }
      if (first && from) throw new LedgerCursorError(mission);
    } finally {
      await handle.close();
    }
    const page = found.slice(0, limit);
    const last = page.at(-1);
    const next =
      found.length > page.length &&
      last &&
      encodePosition({ index: last.record.index + 1, offset: last.end });
    return { records: page.map((f) => f.record), ...(next && { next }) };
  }

  tail(mission: string, afterIndex = -1): LedgerFollower {
    return new FileTail(missionFiles(this.location, mission).records, afterIndex + 1);
  }

  async snapshot(mission: string): Promise<LedgerSnapshot | undefined> {
    const file = missionFiles(this.location, mission);
    // Head first: a writer appends the record, then the head, so a head read first never runs ahead.
    const headBytes = await readIfPresent(file.head);
    const bytes = await readIfPresent(file.records);
    if (bytes === undefined) return undefined;
    const { lines, tornBytes } = splitLines(bytes);
    // Empty is absent: the head file is created whole, and in-place writes never shorten it.
    const headSlots =
      headBytes === undefined || headBytes.length === 0 ? undefined : headSlotTexts(headBytes, mission);
    return { records: lines, tornBytes, headSlots };
  }

  /** A reader holds no file open between calls. */
  async close(): Promise<void> {}
}

/**
 * Follows a ledger file, yielding each complete record once. A line without its newline is an
 * append in progress, or a torn tail the writer will cut and write again; it is read once whole.
 */
class FileTail implements LedgerFollower {
  /** The end of the last complete line read. */
  #offset = 0;
  /** The index the next new record has; a file read again from the start skips what was yielded. */
  #nextIndex: number;

  constructor(
    private readonly path: string,
    firstIndex: number,
  ) {
    this.#nextIndex = firstIndex;
  }

  async next(): Promise<LedgerRecord[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    // Shorter than what was read: the file was replaced, so read it again from the start.
    if (size < this.#offset) this.#offset = 0;
    if (size === this.#offset) return [];
    const handle = await open(this.path, 'r');
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, this.#offset);
      chunk = chunk.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const end = chunk.lastIndexOf(0x0a) + 1;
    if (end === 0) return [];
    const records = chunk
      .subarray(0, end - 1)
      .toString('utf8')
      .split('\n')
      .map((line) => {
        const record = parseRecordLine(line);
        if (!record) throw new Error(`ledger file ${this.path} holds a line that is not a record`);
        return record;
      });
    // Only now: a read that failed part way is read again rather than skipped.
    this.#offset += end;
    const fresh = records.filter((r) => r.index >= this.#nextIndex);
    if (fresh.length > 0) this.#nextIndex = fresh.at(-1)!.index + 1;
    return fresh;
  }
}
