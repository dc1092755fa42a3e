import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where SWOOSH keeps its local state: SWOOSH_DATA_DIR, else `.swoosh/` in the clone (git-ignored). */
export function dataDir(): string {
  const dir = process.env.SWOOSH_DATA_DIR
    ? resolve(process.env.SWOOSH_DATA_DIR)
    : join(dirname(fileURLToPath(import.meta.url)), '..', '.swoosh');
  mkdirSync(dir, { recursive: true });
  return dir;
}
