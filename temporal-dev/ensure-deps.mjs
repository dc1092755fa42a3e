// Runs before anything else in `npm run dev` / `npm test`, so it may use only Node itself:
// on a fresh clone node_modules does not exist yet.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');

const stale = !existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs;
if (stale) {
  // `npm ci`, not `npm install`: `npm install` rewrites package-lock.json in the running npm's
  // format (npm 10, which Node 20 ships, drops the `libc` fields npm 11 writes), leaving a fresh
  // clone dirty. `npm ci` never writes the lock and installs exactly it, or fails if it no longer
  // matches package.json. Other platforms' optional binaries must be recorded in the lock (else
  // "Missing: … from lock file") but are never downloaded.
  console.log('[swoosh] installing npm dependencies (npm ci) ...');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[swoosh] npm ci failed; see the output above.');
    process.exit(result.status ?? 1);
  }
}
