/**
 * A fresh clone stays clean: the steps `npm test` and `npm run dev` take before anything else
 * (`npm run setup`: temporal-dev/ensure-deps.mjs, then the toolchain) and the data folder a first
 * run creates leave `git status` empty. It clones the committed HEAD, as a new checkout would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { resolveDataDir } from '../../host/data-dir';
import { defaultTokensFile, ensureDevTokens } from '../../api/auth';

const repo = fileURLToPath(new URL('../..', import.meta.url));

let dir: string;
let clone: string;

const git = (...args: string[]): string => execFileSync('git', args, { cwd: clone, encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'swoosh-clean-checkout-'));
  clone = join(dir, 'swoosh');
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  execFileSync('git', ['clone', '--quiet', '--no-checkout', repo, clone]);
  git('checkout', '--quiet', '--detach', head);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface LockEntry {
  version?: string;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

function lockPackages(file: string): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, LockEntry> }).packages;
}

const report = process.report.getReport() as { header: { glibcVersionRuntime?: string } };
const libc = report.header.glibcVersionRuntime ? 'glibc' : 'musl';

/** Whether npm installs this platform-specific optional package here (os, cpu and libc match). */
function forThisPlatform(entry: LockEntry): boolean {
  if (!entry.os && !entry.cpu) return false;
  const allows = (list: string[] | undefined, value: string): boolean => !list || list.includes(value);
  return (
    allows(entry.os, process.platform) &&
    allows(entry.cpu, process.arch) &&
    (process.platform !== 'linux' || allows(entry.libc, libc))
  );
}

test('installing, setting up and a first run leave a fresh clone clean, with exactly the locked versions', async () => {
  const lock = join(clone, 'package-lock.json');
  const lockWritten = statSync(lock).mtimeMs;
  const env = { ...process.env };
  delete env.SWOOSH_DATA_DIR; // the default data folder, inside the clone, is the one to check
  const setup = spawnSync('npm', ['run', 'setup'], { cwd: clone, env, encoding: 'utf8' });
  expect(setup.status, `${setup.stdout}\n${setup.stderr}`).toBe(0);
  expect(existsSync(join(clone, 'node_modules', '.package-lock.json'))).toBe(true);
  expect(git('status', '--porcelain', '--untracked-files=all')).toBe('');
  // Not even rewritten unchanged: whether a rewrite changes its bytes depends on npm's version.
  expect(statSync(lock).mtimeMs, 'package-lock.json was written').toBe(lockWritten);

  // Every locked package is installed at its locked version, except other platforms' binaries.
  for (const [path, entry] of Object.entries(lockPackages(lock))) {
    if (path === '') continue;
    const manifest = join(clone, path, 'package.json');
    if (!existsSync(manifest)) {
      expect(entry.optional && !forThisPlatform(entry), `${path} is not installed`).toBe(true);
      continue;
    }
    const installed = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
    expect(installed, path).toBe(entry.version);
  }

  // What `npm run dev` writes into the clone at first run: its data folder with the dev tokens.
  await ensureDevTokens(defaultTokensFile(join(clone, relative(repo, resolveDataDir({})))));

  expect(git('status', '--porcelain', '--untracked-files=all')).toBe('');
}, 600_000);
