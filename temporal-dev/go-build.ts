/**
 * Builds pinned Go programs once into the machine's cache (toolchain.ts's `cacheDir`), shared by
 * the Temporal CLI, the Temporal server and the Kubernetes control plane: each set goes to
 * `<cache>/<tool>/<version>/`, first into a staging folder that is renamed into place when
 * complete, so an interrupted build never leaves a binary a later run would trust. A lock folder
 * makes a second process wait for the first build instead of compiling it again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

/** The environment of a Go build: the caller's, with modules resolved from go.mod files as written. */
export function goEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GOFLAGS: '-mod=mod', ...extra };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readFileSyncOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Holds `<folder>.lock` while `build` runs. A lock whose owner is gone is taken over; a live
 * owner is waited for, after which the caller finds its output in place.
 */
async function withBuildLock<T>(folder: string, build: () => Promise<T>): Promise<T> {
  const lock = `${folder}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSyncOr(join(lock, 'pid'), ''));
      const young = Date.now() - statSync(lock).mtimeMs < 10_000;
      if (!young && !(owner > 0 && pidAlive(owner))) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!waited) log(`another process (pid ${owner || '?'}) is building into ${folder}; waiting for it.`);
      waited = true;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  try {
    return await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface GoBuild {
  /** `<cache>/<tool>/<version>/`. */
  folder: string;
  version: string;
  /** What is built, for the log lines. */
  describe: string;
  /** The entries `produce` must leave in the staging folder: the build is complete when all exist. */
  names: string[];
  /** How long a first build takes, for the log line before it. */
  expect: string;
  /** Writes `names` into an empty staging folder. */
  produce: (staging: string) => Promise<void>;
}

/**
 * Builds into `folder` unless every name is there, and returns each name's path. Prints what it
 * builds, where, and how long the build took.
 */
export async function ensureBuilt(build: GoBuild): Promise<Record<string, string>> {
  const { folder, version, describe, names } = build;
  const paths = Object.fromEntries(names.map((name) => [name, join(folder, name)]));
  const complete = () => names.every((name) => existsSync(paths[name]!));
  if (complete()) return paths;
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).error) {
    throw new Error(`'go' is not installed; it is needed to build ${describe} from Go modules.`);
  }
  await withBuildLock(folder, async () => {
    if (complete()) return;
    log(`${describe} ${version} not found in the cache; building it once from Go modules into ${folder}.`);
    log(`This downloads its modules through the Go module proxy and compiles; ${build.expect}.`);
    const staging = join(dirname(folder), `.build-${version}-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    const started = Date.now();
    try {
      await build.produce(staging);
      const missing = names.filter((name) => !existsSync(join(staging, name)));
      if (missing.length > 0) throw new Error(`the build of ${describe} produced no ${missing.join(', ')}`);
      rmSync(folder, { recursive: true, force: true });
      renameSync(staging, folder);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    log(`${describe} ${version} built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${folder}`);
  });
  return paths;
}
