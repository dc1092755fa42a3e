import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { freePort, isPortFree, waitForPort } from '../../temporal-dev/processes';
import { eventually } from '../support/temporal';

/**
 * `npm run temporal` (the dev server alone) and `npm run temporal:cli` (the project's Temporal CLI
 * pointed at it), run as README.md shows them, with their own ports and data folder.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'swoosh-temporal-'));
let serverPid: number | undefined;

afterAll(() => {
  if (serverPid !== undefined && isRunning(serverPid)) process.kill(-serverPid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { pid: number; exited: Promise<number | null>; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { pid: child.pid!, exited, output: () => output };
}

test('npm run temporal serves the dev server alone and npm run temporal:cli lists its missions', async () => {
  const port = await freePort();
  const uiPort = await freePort();
  const env = {
    SWOOSH_DATA_DIR: dataDir,
    SWOOSH_TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    SWOOSH_UI_PORT: String(uiPort),
  };
  const server = run('temporal-dev/start-dev-server.ts', [], env);
  serverPid = server.pid;
  await waitForPort(port, 90_000);
  // The Web UI listens after the frontend; on a loaded machine that can take a while.
  await waitForPort(uiPort, 90_000);
  // The port opens before the search attributes are registered; the script says when it is ready.
  await eventually(
    () => Promise.resolve(server.output()),
    (out) => out.includes('npm run worker'),
    60_000,
  );
  expect(server.output()).toContain(`http://127.0.0.1:${uiPort}/namespaces/default/workflows`);

  // The search attributes are registered as under npm run dev, and the README's query runs.
  const attributes = run('temporal-dev/temporal-cli.ts', ['operator', 'search-attribute', 'list'], env);
  expect(await attributes.exited).toBe(0);
  expect(attributes.output()).toContain('SwooshPhase');
  const list = run(
    'temporal-dev/temporal-cli.ts',
    ['workflow', 'list', '--query', "WorkflowType = 'missionWorkflow' AND SwooshPhase = 'EXECUTION'"],
    env,
  );
  expect(await list.exited).toBe(0);
  // A query the server refuses fails the command: the exit code is the CLI's own.
  const refused = run(
    'temporal-dev/temporal-cli.ts',
    ['workflow', 'list', '--query', 'NoSuchAttribute = 1'],
    env,
  );
  expect(await refused.exited).not.toBe(0);

  process.kill(server.pid, 'SIGINT');
  expect(await server.exited).toBe(0);
  expect(server.output()).toContain('stopped.');
  expect(await isPortFree(port)).toBe(true);
}, 180_000);
