/**
 * Reading a ledger file as the workers append to it, without reading it again: the event stream
 * follows one, and the health check keeps a running summary of the missions it samples.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dataPaths } from '../activities/data-dir';
import { isErrno } from '../activities/durable-fs';
import { type LedgerRecord, LedgerRecord as LedgerRecordSchema } from '../schemas/decision-record';

export function ledgerFile(dataDir: string, mission: string): string {
  return join(dataPaths(dataDir).ledgerDir, `${encodeURIComponent(mission)}.jsonl`);
}

/**
 * Follows a ledger file from a byte offset, yielding complete new lines only: a line without its
 * newline is an append in progress (or torn by a crash) and is read once it is whole.
 */
export class LedgerTail {
  #offset = 0;
  #pending = Buffer.alloc(0);
  constructor(private readonly path: string) {}

  async next(): Promise<LedgerRecord[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    if (size <= this.#offset) return [];
    const handle = await open(this.path, 'r');
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, this.#offset);
      chunk = chunk.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    this.#offset += chunk.length;
    const text = Buffer.concat([this.#pending, chunk]);
    const end = text.lastIndexOf(0x0a) + 1;
    this.#pending = Buffer.from(text.subarray(end));
    if (end === 0) return [];
    return text
      .subarray(0, end - 1)
      .toString('utf8')
      .split('\n')
      .map((line) => LedgerRecordSchema.parse(JSON.parse(line)));
  }
}
