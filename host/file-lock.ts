/**
 * A cross-process mutex made of a lock file, for the embedded ledger, that a holder may keep for
 * a whole burst of work instead of taking it per operation. Node has no flock, and
 * `open(path, 'wx')` is atomic on local file systems, which is all mutual exclusion needs.
 * Invariant: at most one live holder at a time. A holder learns with one stat whether the lock is
 * still the file it created and whether another process waits for it, so a lock held across many
 * appends still changes hands promptly; a waiter announces itself in `<path>.wanted`.
 */
import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, link, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { isErrno, statIfPresent } from './durable-fs';

export interface HeldLock {
  /**
   * Whether the lock file is still the one this holder created (another process may have broken
   * it as stale). Refreshes its age now and then, so a lock held for long never looks abandoned.
   */
  renew(): Promise<boolean>;
  /** Whether another process waits for this lock: a fresh request beside it. */
  wanted(): Promise<boolean>;
  /** Removes the lock file if it is still this holder's. */
  release(): Promise<void>;
}

/** A lock not renewed for this long lost its holder (a holder renews at least every quarter). */
const STALE_LOCK_MS = 60_000;
/** A lock file is created, then written; one still empty after this long lost its writer. */
const EMPTY_LOCK_MS = 2_000;
/** A waiter rewrites its request on every attempt (at most ~75 ms apart); an older one is gone. */
const REQUEST_FRESH_MS = 1_000;

/**
 * Takes the lock file at `path`, waiting up to `timeoutMs`. A lock whose holder died (its pid is
 * gone) or that was not renewed for a minute is stale and broken: it is renamed aside and
 * checked, so a lock taken afresh in the meantime is put back, not destroyed. Holders on other
 * hosts are not seen; the embedded ledger is a single-host store. While it waits, the caller
 * asks for the lock (`<path>.wanted`), and defers to a request made by someone else, so a holder
 * that lets go for a waiter does not take the lock straight back.
 */
export async function acquireLock(path: string, timeoutMs: number): Promise<HeldLock> {
  const token = `${process.pid} ${randomUUID()}`;
  const requestPath = `${path}.wanted`;
  const deadline = Date.now() + timeoutMs;
  try {
    for (let attempt = 0; ; attempt++) {
      const request = await readRequest(requestPath);
      if (!request?.fresh || request.token === token) {
        const lock = await tryCreate(path, token, requestPath);
        if (lock) return lock;
        await breakIfStale(path);
        // Asks (or asks again), so that the holder lets go after its current append.
        await writeFile(requestPath, token, { mode: 0o600 });
      }
      if (Date.now() > deadline) throw new Error(`lock ${path} is still held after ${timeoutMs} ms`);
      await delay(Math.min(50, 2 ** attempt) * (0.5 + Math.random()));
    }
  } finally {
    // Served or given up, it withdraws its request, or one left by a waiter that died; not a
    // fresh one of another waiter.
    const request = await readRequest(requestPath);
    if (request && (request.token === token || !request.fresh)) await rm(requestPath, { force: true });
  }
}

async function tryCreate(path: string, token: string, requestPath: string): Promise<HeldLock | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return undefined;
    throw error;
  }
  let identity: Stats;
  try {
    await handle.writeFile(token);
    identity = await handle.stat();
  } catch (error) {
    await handle.close();
    await rm(path, { force: true });
    throw error;
  }
  let renewedAt = Date.now();
  return {
    // The handle stays open while the lock is held: it pins the inode, so its number cannot be
    // reused by a lock file made after ours was removed, and one stat tells the two apart.
    async renew() {
      const now = await statIfPresent(path);
      if (now?.ino !== identity.ino || now.dev !== identity.dev) return false;
      if (Date.now() - renewedAt > STALE_LOCK_MS / 4) {
        renewedAt = Date.now();
        await handle.utimes(new Date(renewedAt), new Date(renewedAt));
      }
      return true;
    },
    async wanted() {
      const request = await statIfPresent(requestPath);
      return request !== undefined && Date.now() - request.mtimeMs < REQUEST_FRESH_MS;
    },
    async release() {
      try {
        // Release only our own lock, never one that replaced it after ours was judged stale
        // (a lock already gone reads as '', which is not ours either).
        if ((await readFile(path, 'utf8').catch(() => '')) === token) await rm(path, { force: true });
      } finally {
        await handle.close();
      }
    },
  };
}

/** A waiter's request for the lock, if there is one; only a fresh one is a waiter waiting. */
async function readRequest(requestPath: string): Promise<{ token: string; fresh: boolean } | undefined> {
  try {
    const [token, info] = await Promise.all([readFile(requestPath, 'utf8'), stat(requestPath)]);
    return { token, fresh: Date.now() - info.mtimeMs < REQUEST_FRESH_MS };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

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
