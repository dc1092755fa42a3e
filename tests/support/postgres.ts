/**
 * A real PostgreSQL for tests, of their own: `initdb` into a temporary folder, the server on a
 * free loopback port with trust authentication for the `swoosh` role, ready once it accepts
 * connections, and stopped by its pid (never by name), its folder removed. As root, the server
 * runs as an account PostgreSQL accepts (temporal-dev/postgres.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chown, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensurePostgres, type PostgresBinaries, serverAccount } from '../../temporal-dev/postgres';
import { freePort } from '../../temporal-dev/processes';

export interface TestPostgres {
  /** `postgres://swoosh@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** The server's (postmaster's) pid. */
  pid: number;
  binaries: PostgresBinaries;
  /** Stops the server by its pid, waits until it is gone, and removes its folder. */
  stop(): Promise<void>;
}

const ROLE = 'swoosh';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 30_000;
/** A port taken between `freePort` and the server's bind is tried again with another. */
const START_ATTEMPTS = 3;

/** Runs a program to its end; rejects with what it printed when it fails. */
function run(command: string, args: string[], account: { uid: number; gid: number } | undefined) {
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(command, args, { ...account, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      // A program that could not be started has no exit to wait for.
      child.once('error', () => resolve());
    }
  });
}

async function stopByPid(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitOf(child);
  // SIGINT is PostgreSQL's fast shutdown: sessions ended, transactions rolled back, then exit.
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

export async function startPostgres(): Promise<TestPostgres> {
  const binaries = await ensurePostgres();
  const account = serverAccount();
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-postgres-'));
  try {
    if (account) await chown(dir, account.uid, account.gid);
    const data = join(dir, 'data');
    const init = await run(
      binaries.initdb,
      ['-D', data, '-U', ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      account,
    );
    if (init.code !== 0) throw new Error(`initdb exited with ${init.code}:\n${init.output}`);
    for (let attempt = 1; ; attempt++) {
      const started = await startServer(binaries, dir, data, account);
      if (started.ok) return { ...started.server, binaries, stop: () => started.stop() };
      if (!started.portTaken || attempt === START_ATTEMPTS) throw new Error(started.reason);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type Started =
  | { ok: true; server: { url: string; port: number; pid: number }; stop: () => Promise<void> }
  | { ok: false; portTaken: boolean; reason: string };

async function startServer(
  binaries: PostgresBinaries,
  dir: string,
  data: string,
  account: { uid: number; gid: number } | undefined,
): Promise<Started> {
  const port = await freePort();
  const logPath = join(dir, `postgres-${port}.log`);
  const logFile = await open(logPath, 'w');
  let child: ChildProcess;
  try {
    // Loopback only, and the socket in the server's own folder rather than a shared /run path.
    child = spawn(binaries.postgres, ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir], {
      ...account,
      stdio: ['ignore', logFile.fd, logFile.fd],
    });
  } finally {
    await logFile.close();
  }
  const exited = exitOf(child);
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    await stopByPid(child);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) {
      const log = await readFile(logPath, 'utf8');
      return {
        ok: false,
        portTaken: /could not bind|already in use/i.test(log),
        reason: `postgres exited before accepting connections:\n${log}`,
      };
    }
    const ready = await run(
      binaries.pg_isready,
      ['-h', '127.0.0.1', '-p', String(port), '-U', ROLE, '-d', 'postgres', '-t', '1'],
      undefined,
    );
    if (ready.code === 0) {
      const url = `postgres://${ROLE}@127.0.0.1:${port}/postgres`;
      return { ok: true, server: { url, port, pid: child.pid! }, stop };
    }
    if (Date.now() > deadline) {
      await stopByPid(child);
      return { ok: false, portTaken: false, reason: `postgres did not accept connections within 60 s` };
    }
    await delay(100);
  }
}
