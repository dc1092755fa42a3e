/**
 * The worker issues itself a development licence only when told to (SWOOSH_DEV_LICENCE=true, as
 * `npm run dev` does); `npm run worker` without licence settings refuses to start.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { pathExists } from '../../host/durable-fs';
import { dataPaths } from '../../host/data-dir';
import { initDevLicence, workerLicence } from '../../host/licence/setup';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'swoosh-dev-licence-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

/** This process's environment without any licence setting or opt-in. */
function bareEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('SWOOSH_LICENCE_') && k !== 'SWOOSH_DEV_LICENCE',
    ),
  );
}

test('the worker entry without licence settings or SWOOSH_DEV_LICENCE refuses to start and issues nothing', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...bareEnv(),
      SWOOSH_DATA_DIR: dataDir,
      SWOOSH_METRICS_ADDRESS: 'off',
      // Nothing listens here: a worker that got past its licence would fail differently.
      SWOOSH_TEMPORAL_ADDRESS: '127.0.0.1:9',
    },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).not.toBe(0);
  expect(output).toContain('no licence settings');
  expect(output).toContain('SWOOSH_DEV_LICENCE=true');
  expect(output).not.toContain('polling task queue');
  const paths = dataPaths(dataDir);
  expect(await pathExists(paths.licenceToken)).toBe(false);
  expect(await pathExists(paths.licenceIssuerKey)).toBe(false);
}, 60_000);

test('SWOOSH_DEV_LICENCE=true issues a development licence once and says so', async () => {
  const first = await workerLicence({ SWOOSH_DEV_LICENCE: 'true' }, dataDir);
  expect(first.note).toMatch(/^development licence \(SWOOSH_DEV_LICENCE=true\) issued now at /);
  expect(await first.checker.check()).toMatchObject({
    status: 'LICENSED',
    licence: { licensee: 'development' },
  });
  const again = await workerLicence({ SWOOSH_DEV_LICENCE: 'true' }, dataDir);
  expect(again.note).toMatch(/\) kept at /);
});

test('without the opt-in, a development issuer made by licence init is used, and nothing is issued', async () => {
  await expect(workerLicence({ SWOOSH_DEV_LICENCE: 'false' }, dataDir)).rejects.toThrow(
    /no licence settings/,
  );
  await expect(workerLicence({ SWOOSH_DEV_LICENCE: 'yes' }, dataDir)).rejects.toThrow(
    /SWOOSH_DEV_LICENCE: expected true or false/,
  );
  await initDevLicence(dataDir);
  const made = await workerLicence({}, dataDir);
  expect(made.note).toContain('from the development issuer');
  expect((await made.checker.check()).status).toBe('LICENSED');
});
