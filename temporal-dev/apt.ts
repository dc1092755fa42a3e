/**
 * Debian packages the toolchain installs when a tool is missing (Chromium, PostgreSQL): on a
 * Debian machine where we are root (a CI container), `apt-get install`, keeping the downloaded
 * packages in the toolchain cache so a later install does not fetch them again.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './toolchain';

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

/** Whether this process may install Debian packages. */
export function canAptInstall(): boolean {
  return existsSync('/usr/bin/apt-get') && process.getuid?.() === 0;
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

/** Installs Debian's `packages`, logging under `label`; the caller checks `canAptInstall` first. */
export async function aptInstall(label: string, packages: string[]): Promise<void> {
  // Downloaded packages stay in the cache, which outlives a fresh container's /var/cache.
  const archives = join(cacheDir(), 'apt-archives');
  mkdirSync(join(archives, 'partial'), { recursive: true });
  const cache = [`-o`, `Dir::Cache::archives=${archives}`];
  // A container's package lists are often missing or stale (their packages gone from the mirror).
  log(`${label}: reading the package lists (apt-get update)…`);
  await apt(['update']);
  log(`${label}: installing Debian's ${packages.join(' ')} (packages cached in ${archives})…`);
  await apt([...cache, 'install', '-y', ...packages]);
}
