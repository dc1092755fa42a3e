/**
 * PostgreSQL's server programs, for the tests that run the stores against a real server
 * (tests/support/postgres.ts starts one of its own per test file). `SWOOSH_POSTGRES_BIN` names the
 * folder holding them; otherwise the newest of Debian's /usr/lib/postgresql/<major>/bin; otherwise
 * a folder on PATH that holds them all; otherwise, on a Debian machine where we are root (a CI
 * container), Debian's `postgresql` package is installed (apt.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { aptInstall, canAptInstall } from './apt';

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
