/**
 * Where a mission's ledger lives and how its files are read (docs/ledger.md, "Files"): the files
 * of a mission, complete lines apart from a torn tail, and the missions of a folder, for readers
 * that run while writers append.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../host/durable-fs';

/** The file holding `mission`'s records in the ledger folder `dir`. */
export function ledgerRecordsFile(dir: string, mission: string): string {
  return missionFiles(dir, mission).records;
}

/** The three files of `mission` in the ledger folder `dir`: records, head and lock. */
export const missionFiles = (dir: string, mission: string) => {
  // encodeURIComponent keeps `.` and `..`, which would name a file outside the ledger folder.
  if (mission === '.' || mission === '..') throw new Error(`invalid mission id ${JSON.stringify(mission)}`);
  const base = join(dir, encodeURIComponent(mission));
  return { records: `${base}.jsonl`, head: `${base}.head.json`, lock: `${base}.lock` };
};

/** Complete lines of a ledger file and the length of any torn tail after them. */
export function splitLines(bytes: Buffer): { lines: string[]; completeBytes: number; tornBytes: number } {
  const end = bytes.lastIndexOf(0x0a) + 1;
  const text = bytes.subarray(0, end).toString('utf8');
  return {
    lines: end === 0 ? [] : text.slice(0, -1).split('\n'),
    completeBytes: end,
    tornBytes: bytes.length - end,
  };
}

/** A file's bytes, or undefined if there is no such file. */
export async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** The file's bytes from `offset` on (only what is new to a writer); undefined if it is shorter. */
export async function readFrom(path: string, offset: number): Promise<Buffer | undefined> {
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

/** Cuts a torn tail off a records file and syncs, so that no reader finds it again. */
export async function truncateDurably(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The missions with a ledger in `dir`, by their original ids, sorted. */
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
