/**
 * Chromium for the approvals page's browser test (tests/console/): the test drives a real headless
 * browser. `SWOOSH_CHROMIUM` names one; otherwise Debian's `chromium` on PATH; otherwise, on a
 * Debian machine where we are root (a CI container), `apt-get install chromium`, keeping the
 * downloaded packages in the toolchain cache so a later install does not fetch them again.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cacheDir } from './toolchain';

const NAMES = ['chromium', 'chromium-browser'];

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

/** The Chromium executable the tests launch, or undefined when none is installed. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.SWOOSH_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of NAMES) {
      const candidate = join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

function apt(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('apt-get', args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', (err) => reject(new Error(`could not start apt-get: ${err.message}`)));
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`apt-get ${args.join(' ')} exited with ${code ?? signal}`)),
    );
  });
}

/** Chromium's path, installing Debian's package when it is missing and this process may. */
export async function ensureChromium(): Promise<string> {
  const found = findChromium();
  if (found) return found;
  if (process.env.SWOOSH_CHROMIUM)
    throw new Error(`SWOOSH_CHROMIUM=${process.env.SWOOSH_CHROMIUM} does not exist.`);
  if (!existsSync('/usr/bin/apt-get') || process.getuid?.() !== 0) {
    throw new Error(
      "Chromium is not installed; the approvals page's browser test needs it. " +
        'Install it (Debian: apt-get install chromium) or set SWOOSH_CHROMIUM to its executable.',
    );
  }
  // Downloaded packages stay in the cache, which outlives a fresh container's /var/cache.
  const archives = join(cacheDir(), 'apt-archives');
  mkdirSync(join(archives, 'partial'), { recursive: true });
  const cache = [`-o`, `Dir::Cache::archives=${archives}`];
  const started = Date.now();
  // A container's package lists are often missing or stale (their packages gone from the mirror).
  log('Chromium: reading the package lists (apt-get update)…');
  await apt(['update']);
  log(`Chromium: installing Debian's chromium (packages cached in ${archives})…`);
  await apt([...cache, 'install', '-y', 'chromium']);
  const installed = findChromium();
  if (!installed) throw new Error('apt-get installed chromium, but no chromium executable is on PATH.');
  log(`Chromium: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return installed;
}
