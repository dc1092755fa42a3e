/**
 * Durable file writes. "Written" here means on disk: data is fsynced before a caller is told it
 * is stored, and a file's directory entry is fsynced when the file is new, so a power loss cannot
 * drop a record that was acknowledged.
 */
import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` atomically: readers see the old content or the new, never a mix. The temp
 * file lives in the same folder, since rename is atomic only within one file system.
 */
/** Files under the data folder are SWOOSH's alone: 0600 unless a caller asks for less. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${randomUUID()}.tmp`);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** A path's stat, or undefined if it does not exist; any other error propagates. */
export async function statIfPresent(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** Whether a path exists; any error but "not found" is a real failure and propagates. */
export async function pathExists(path: string): Promise<boolean> {
  return (await statIfPresent(path)) !== undefined;
}
