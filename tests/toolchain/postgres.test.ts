/**
 * The PostgreSQL the stores' tests run (tests/support/postgres.ts): a server of the test's own
 * that answers queries as the `swoosh` role, and is gone, port and folder, once stopped by its
 * pid. And which programs it runs: SWOOSH_POSTGRES_BIN when set, never a silent install of others.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, expect, test } from 'vitest';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { ensurePostgres, findPostgres } from '../../temporal-dev/postgres';
import { isPortFree } from '../../temporal-dev/processes';

let server: TestPostgres | undefined;
const saved = process.env.SWOOSH_POSTGRES_BIN;
afterEach(async () => {
  if (saved === undefined) delete process.env.SWOOSH_POSTGRES_BIN;
  else process.env.SWOOSH_POSTGRES_BIN = saved;
  await server?.stop();
  server = undefined;
});

function psql(pg: TestPostgres, sql: string): string {
  const result = spawnSync(pg.binaries.psql, [pg.url, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
  return result.stdout.trim();
}

test('starts a server of its own that accepts connections, then stops it by pid and leaves nothing', async () => {
  server = await startPostgres();
  const { pid, port } = server;
  expect(psql(server, 'SELECT current_user')).toBe('swoosh');
  expect(Number(psql(server, 'SHOW server_version_num'))).toBeGreaterThanOrEqual(150000);
  psql(server, 'CREATE TABLE t (n int PRIMARY KEY); INSERT INTO t VALUES (1), (2)');
  expect(psql(server, 'SELECT sum(n) FROM t')).toBe('3');
  const folder = psql(server, 'SHOW data_directory');
  expect(folder.startsWith(tmpdir())).toBe(true);

  await server.stop();
  server = undefined;
  expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  expect(await isPortFree(port)).toBe(true);
  expect(existsSync(folder)).toBe(false);
});

test('SWOOSH_POSTGRES_BIN names the programs, and a folder without them is refused by name', async () => {
  const found = findPostgres();
  expect(found).toBeDefined();
  process.env.SWOOSH_POSTGRES_BIN = tmpdir();
  expect(findPostgres()).toBeUndefined();
  await expect(ensurePostgres()).rejects.toThrow(`SWOOSH_POSTGRES_BIN=${tmpdir()} does not hold initdb`);
  process.env.SWOOSH_POSTGRES_BIN = found!.initdb.slice(0, -'/initdb'.length);
  expect(await ensurePostgres()).toEqual(found);
});
