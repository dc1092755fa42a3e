/**
 * PostgreSQL's server programs, and a server of SWOOSH's own run with them: for the tests that run
 * the stores against a real server (tests/support/postgres.ts starts one per test file in a
 * temporary folder) and for the Temporal cluster of `npm run dev -- --cluster`
 * (temporal-cluster.ts, its folder under the data folder). `SWOOSH_POSTGRES_BIN` names the folder
 * holding the programs; otherwise the newest of Debian's /usr/lib/postgresql/<major>/bin;
 * otherwise a folder on PATH that holds them all; otherwise, on a Debian machine where we are root
 * (a CI container), Debian's `postgresql` package is installed (apt.ts).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, open, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { aptInstall, canAptInstall } from './apt';
import { freePort } from './processes';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const TOOLS = ['initdb', 'postgres', 'pg_isready', 'psql'] as const;

export type PostgresBinaries = Record<(typeof TOOLS)[number], string>;

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

function inFolder(dir: string): PostgresBinaries | undefined {
  const paths = TOOLS.map((tool) => join(dir, tool));
  if (!paths.every((path) => existsSync(path))) return undefined;
  return Object.fromEntries(TOOLS.map((tool, i) => [tool, paths[i]!])) as PostgresBinaries;
}

/** The server programs the tests run, or undefined when none are installed. */
export function findPostgres(): PostgresBinaries | undefined {
  const fromEnv = process.env.SWOOSH_POSTGRES_BIN;
  if (fromEnv) return inFolder(fromEnv);
  // Debian keeps each major version's programs off PATH, in a folder of its own.
  const majors = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((name) => /^[0-9]+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const major of majors) {
    const found = inFolder(join(DEBIAN_ROOT, major, 'bin'));
    if (found) return found;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const found = dir ? inFolder(dir) : undefined;
    if (found) return found;
  }
  return undefined;
}

/** PostgreSQL's programs, installing Debian's package when they are missing and this process may. */
export async function ensurePostgres(): Promise<PostgresBinaries> {
  const found = findPostgres();
  if (found) return found;
  if (process.env.SWOOSH_POSTGRES_BIN) {
    throw new Error(
      `SWOOSH_POSTGRES_BIN=${process.env.SWOOSH_POSTGRES_BIN} does not hold ${TOOLS.join(', ')}.`,
    );
  }
  if (!canAptInstall()) {
    throw new Error(
      "PostgreSQL is not installed; the stores' tests run a server of their own. " +
        'Install it (Debian: apt-get install postgresql) or set SWOOSH_POSTGRES_BIN to the folder of initdb.',
    );
  }
  const started = Date.now();
  await aptInstall('PostgreSQL', ['postgresql']);
  const installed = findPostgres();
  if (!installed)
    throw new Error(`apt-get installed postgresql, but ${DEBIAN_ROOT} holds no server programs.`);
  log(`PostgreSQL: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return installed;
}

/**
 * Who runs a server started by root, which PostgreSQL refuses to be: the `postgres` account
 * Debian's package makes, else `nobody`. Undefined when this process is not root.
 */
export function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  throw new Error(
    'running as root, and there is neither a postgres nor a nobody account to run PostgreSQL as',
  );
}

export interface PostgresServer {
  /** `postgres://swoosh@127.0.0.1:<port>/postgres` */
  url: string;
  host: string;
  port: number;
  /** The superuser role `initdb` made, with trust authentication on loopback. */
  role: string;
  /** The server's (postmaster's) pid. */
  pid: number;
  binaries: PostgresBinaries;
  /** Settles when the server has exited, for whatever reason. */
  exited: Promise<void>;
  /** Stops the server by its pid (fast shutdown, SIGKILL after a grace period) and waits until it is gone. */
  stop(): Promise<void>;
}

const ROLE = 'swoosh';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 30_000;
/** A port taken between `freePort` and the server's bind is tried again with another. */
const START_ATTEMPTS = 3;

/** Runs a program to its end and returns its exit code and what it printed. */
export function runCaptured(
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
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

/**
 * Starts PostgreSQL on a free loopback port with its files in `folder`: the cluster in
 * `<folder>/data`, made by `initdb` on first use (kept, with its databases, for the next start),
 * its socket and log beside it. Resolves once it accepts connections. As root, the server runs as
 * an account PostgreSQL accepts (`serverAccount`), which must be able to reach `folder`.
 */
export async function startPostgresServer(folder: string): Promise<PostgresServer> {
  const binaries = await ensurePostgres();
  const account = serverAccount();
  await mkdir(folder, { recursive: true });
  if (account) {
    await chown(folder, account.uid, account.gid);
    if (spawnSync('test', ['-w', folder], { ...account }).status !== 0) {
      throw new Error(
        `PostgreSQL runs as uid ${account.uid} (we are root), which cannot reach ${folder}; ` +
          'choose a data folder it can (SWOOSH_DATA_DIR) or run as another user.',
      );
    }
  }
  const data = join(folder, 'data');
  if (!existsSync(join(data, 'PG_VERSION'))) {
    const init = await runCaptured(
      binaries.initdb,
      ['-D', data, '-U', ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      account,
    );
    if (init.code !== 0) throw new Error(`initdb exited with ${init.code}:\n${init.output}`);
  }
  for (let attempt = 1; ; attempt++) {
    const started = await startServer(binaries, folder, data, account);
    if (started.ok) return started.server;
    if (!started.portTaken || attempt === START_ATTEMPTS) throw new Error(started.reason);
  }
}

type Started = { ok: true; server: PostgresServer } | { ok: false; portTaken: boolean; reason: string };

async function startServer(
  binaries: PostgresBinaries,
  folder: string,
  data: string,
  account: { uid: number; gid: number } | undefined,
): Promise<Started> {
  const port = await freePort();
  const logPath = join(folder, 'postgres.log');
  const logFile = await open(logPath, 'w');
  let child: ChildProcess;
  try {
    // Loopback only, and the socket in the server's own folder rather than a shared /run path.
    // In a process group of its own, like every child of `npm run dev` (processes.ts): a terminal's
    // Ctrl-C reaches the supervisor, which stops the server last.
    child = spawn(binaries.postgres, ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', folder], {
      ...account,
      detached: true,
      stdio: ['ignore', logFile.fd, logFile.fd],
    });
  } finally {
    await logFile.close();
  }
  const exited = exitOf(child);
  let gone = false;
  void exited.then(() => (gone = true));
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
    const ready = await runCaptured(binaries.pg_isready, [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      ROLE,
      '-d',
      'postgres',
      '-t',
      '1',
    ]);
    if (ready.code === 0) {
      return {
        ok: true,
        server: {
          url: `postgres://${ROLE}@127.0.0.1:${port}/postgres`,
          host: '127.0.0.1',
          port,
          role: ROLE,
          pid: child.pid!,
          binaries,
          exited,
          stop: () => stopByPid(child),
        },
      };
    }
    if (Date.now() > deadline) {
      await stopByPid(child);
      return { ok: false, portTaken: false, reason: `postgres did not accept connections within 60 s` };
    }
    await delay(100);
  }
}
