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
  // Not `npm ci`: the registries reachable here omit other platforms' optional binaries
  // (e.g. @swc/core-darwin-arm64), which `npm ci` treats as a lock mismatch. `npm install`
  // skips unavailable optional packages and still installs the locked versions.
  console.log('[swoosh] installing npm dependencies ...');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[swoosh] npm install failed; see the output above.');
    process.exit(result.status ?? 1);
  }
}
