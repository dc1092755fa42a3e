/**
 * Reading a ledger file as the workers append to it, without reading it again: the event stream
 * follows one, and the health check keeps a running summary of the missions it samples.
 */
import { open, stat } from 'node:fs/promises';
import { dataPaths } from '../host/data-dir';
import { isErrno } from '../host/durable-fs';
import { ledgerRecordsFile, parseRecordLine } from '../ledger';
import type { LedgerRecord } from '../schemas/decision-record';

export function ledgerFile(dataDir: string, mission: string): string {
  return ledgerRecordsFile(dataPaths(dataDir).ledgerDir, mission);
}

/**
 * Follows a ledger file, yielding each complete record once. A line without its newline is an
 * append in progress, or a torn tail the writer will cut and write again; it is read once whole.
 */
export class LedgerTail {
  /** The end of the last complete line read. */
  #offset = 0;
  /** The index the next new record has; a file read again from the start skips what was yielded. */
  #nextIndex = 0;
  constructor(private readonly path: string) {}

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
