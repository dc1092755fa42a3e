/**
 * The timer event log (docs/timers.md#timer-events): one JSON-lines file per shard under
 * `<data dir>/timers/events/`, each line a timer event signed with the orchestrator key. The
 * worker appends (the shards' bookkeeping activities); the gateway follows the files for
 * GET /timers/events. One module owns the format, so writer and reader agree on it.
 *
 * A shard numbers its events and hands them over one batch at a time, in order. An activity
 * retried after a crash may bring events already written: the writer skips any whose number is
 * not past the file's last, and a reader skips them too, so each event is read once per shard.
 */
import { open, mkdir, readFile, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalJson } from '../schemas/canonical-json';
import { SignedTimerEvent, type TimerEvent } from '../schemas/timer-events';
import { isErrno } from './durable-fs';
import { type Signer, utf8Bytes, verifySignature } from './keys';

export function timerEventsDir(dataDir: string): string {
  return join(dataDir, 'timers', 'events');
}

export function timerEventFile(dir: string, shard: number): string {
  return join(dir, `shard-${shard}.jsonl`);
}

/** The bytes a timer event's signature covers: the event without `keyId` and `signature`. */
export function timerEventContent(event: TimerEvent): Uint8Array {
  return utf8Bytes(canonicalJson(event));
}

/** Whether a logged or streamed event is signed by `keyId` (the orchestrator's key id). */
export function verifyTimerEvent(event: SignedTimerEvent, keyId: string): boolean {
  const { keyId: signedBy, signature, ...unsigned } = event;
  return signedBy === keyId && verifySignature(signedBy, timerEventContent(unsigned), signature);
}

export interface TimerEventLog {
  append(shard: number, events: readonly TimerEvent[]): Promise<void>;
}

/** Bytes read from a file's end to find its last event: far more than one line. */
const TAIL_BYTES = 64 * 1024;

export function createTimerEventLog(dir: string, signer: Signer): TimerEventLog {
  /** Per shard: the last number written, once known, and the write under way. */
  const shards = new Map<number, { last: Promise<number> }>();
  return {
    append(shard, events) {
      const path = timerEventFile(dir, shard);
      const previous = shards.get(shard)?.last ?? repairAndReadLast(path);
      const last = previous.then(async (lastSeq) => {
        const fresh = events.filter((event) => event.seq > lastSeq);
        if (fresh.length === 0) return lastSeq;
        const lines = fresh.map((event) => {
          const signature = signer.sign(timerEventContent(event));
          return `${JSON.stringify(SignedTimerEvent.parse({ ...event, keyId: signer.keyId, signature }))}\n`;
        });
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        const handle = await open(path, 'a', 0o600);
        try {
          await handle.writeFile(lines.join(''));
          await handle.sync();
        } finally {
          await handle.close();
        }
        return fresh.at(-1)!.seq;
      });
      // A failed write is looked up again from the file next time, not trusted from memory.
      shards.set(shard, { last: last.catch(() => repairAndReadLast(path)) });
      return last.then(() => undefined);
    },
  };
}

/**
 * The number of the file's last event (0 for no file). A line without its newline is a write a
 * crash cut short: it is cut off, and the shard's retried activity writes it again.
 */
async function repairAndReadLast(path: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 0;
    throw error;
  }
  const { text, start } = await readTail(path, size);
  const end = text.lastIndexOf('\n') + 1;
  if (start + Buffer.byteLength(text.slice(0, end)) < size) {
    await truncate(path, start + Buffer.byteLength(text.slice(0, end)));
  }
  const lines = text.slice(0, end).split('\n').filter(Boolean);
  const last = lines.at(-1);
  return last === undefined ? 0 : SignedTimerEvent.parse(JSON.parse(last)).seq;
}

async function readTail(path: string, size: number): Promise<{ text: string; start: number }> {
  const start = Math.max(0, size - TAIL_BYTES);
  if (start === 0) return { text: await readFile(path, 'utf8'), start };
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    const chunk = buffer.subarray(0, bytesRead);
    // Start at the first whole line: the chunk may begin inside one.
    const first = chunk.indexOf(0x0a) + 1;
    return { text: chunk.subarray(first).toString('utf8'), start: start + first };
  } finally {
    await handle.close();
  }
}

/**
 * Follows one shard's event file, yielding each event once, in the file's order, after `afterSeq`.
 * Like the ledger's tail (ledger/file-reader.ts): a line without its newline is read once whole.
 */
export class TimerEventTail {
  #offset: number;
  #lastSeq: number;
  constructor(
    private readonly path: string,
    afterSeq: number,
    offset = 0,
  ) {
    this.#lastSeq = afterSeq;
    this.#offset = offset;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** A tail that starts at the file's end: only events written from now on. */
  static async atEnd(path: string): Promise<TimerEventTail> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return new TimerEventTail(path, 0);
      throw error;
    }
    const { text, start } = await readTail(path, size);
    const end = text.lastIndexOf('\n') + 1;
    const last = text.slice(0, end).split('\n').filter(Boolean).at(-1);
    const lastSeq = last === undefined ? 0 : SignedTimerEvent.parse(JSON.parse(last)).seq;
    return new TimerEventTail(path, lastSeq, start + Buffer.byteLength(text.slice(0, end)));
  }

  async next(): Promise<SignedTimerEvent[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    // Shorter than what was read: a torn line was cut; read on from the cut.
    if (size < this.#offset) this.#offset = size;
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
    const events = chunk
      .subarray(0, end - 1)
      .toString('utf8')
      .split('\n')
      .map((line) => SignedTimerEvent.parse(JSON.parse(line)));
    this.#offset += end;
    const fresh: SignedTimerEvent[] = [];
    for (const event of events) {
      if (event.seq <= this.#lastSeq) continue;
      fresh.push(event);
      this.#lastSeq = event.seq;
    }
    return fresh;
  }
}
