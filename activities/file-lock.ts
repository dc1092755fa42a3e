/**
 * A cross-process mutex made of a lock file, for the embedded ledger. Node has no flock, and
 * `open(path, 'wx')` is atomic on local file systems, which is all this needs.
 */
import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { isErrno } from './durable-fs';

/**
 * An exclusive lock file (`wx` create). A lock whose holder died (its pid is gone) or that is
 * older than any append could take is stale and broken: it is renamed aside and checked, so a
 * lock taken afresh in the meantime is put back, not destroyed. Holders on other hosts are not
 * seen; the embedded ledger is a single-host store.
 */
export async function acquireLock(path: string, timeoutMs: number): Promise<() => Promise<void>> {
  const token = `${process.pid} ${randomUUID()}`;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return async () => {
        // Release only our own lock, never one that replaced it after ours was judged stale
        // (a lock already gone reads as '', which is not ours either).
        if ((await readFile(path, 'utf8').catch(() => '')) === token) await rm(path, { force: true });
      };
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    await breakIfStale(path);
    if (Date.now() > deadline) throw new Error(`lock ${path} is still held after ${timeoutMs} ms`);
    await delay(Math.min(50, 2 ** attempt) * (0.5 + Math.random()));
  }
}

const STALE_LOCK_MS = 60_000;
/** A lock file is created, then written; one still empty after this long lost its writer. */
const EMPTY_LOCK_MS = 2_000;

async function breakIfStale(path: string): Promise<void> {
  let content: string;
  let ageMs: number;
  try {
    content = await readFile(path, 'utf8');
    ageMs = Date.now() - (await stat(path)).mtimeMs;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  const pid = Number(content.split(' ')[0]);
  const stale =
    ageMs > STALE_LOCK_MS || (content === '' ? ageMs > EMPTY_LOCK_MS : Number.isInteger(pid) && !alive(pid));
  if (!stale) return;
  const aside = `${path}.${randomUUID()}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  if ((await readFile(aside, 'utf8')) !== content) {
    // We moved a fresh lock, not the stale one: restore it unless someone holds a newer one.
    await link(aside, path).catch((error: unknown) => {
      if (!isErrno(error, 'EEXIST')) throw error;
    });
  }
  await rm(aside, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrno(error, 'EPERM');
  }
}
