import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { freePort, isPortFree, waitForPort } from '../../temporal-dev/processes';
import { SwooshClient } from '../../api/client';
import { defaultTokensFile } from '../../api/auth';
import { TokensFile } from '../../schemas/auth';
import { eventually } from '../support/temporal';
import { FAST_SCHEDULE } from '../lifecycle/support/missions';

/** The `npm run dev` supervisor, started as a user would, with its own ports and data folder. */
let dataDir: string;
let ports: { temporal: number; ui: number; gateway: number; metrics: number };
/** Every `npm run dev` a test started, so one that a failed test left running is stopped. */
const started: ChildProcess[] = [];

function startDev(): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'temporal-dev/dev.ts'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      SWOOSH_DATA_DIR: dataDir,
      SWOOSH_TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      SWOOSH_UI_PORT: String(ports.ui),
      SWOOSH_GATEWAY_PORT: String(ports.gateway),
      SWOOSH_METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
    },
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  started.push(child);
  return { child, exited, output: () => output };
}

/** What a terminal's Ctrl-C does: SIGINT to the whole foreground process group. */
function ctrlC(child: ChildProcess): void {
  if (child.pid) process.kill(-child.pid, 'SIGINT');
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'swoosh-dev-'));
  ports = {
    temporal: await freePort(),
    ui: await freePort(),
    gateway: await freePort(),
    metrics: await freePort(),
  };
});

/** Ctrl-C first, so the supervisor stops the children it started in their own process groups. */
async function stopDev(dev: ChildProcess): Promise<void> {
  if (!dev.pid || dev.exitCode !== null || dev.signalCode !== null) return;
  const exited = new Promise((resolve) => dev.once('exit', resolve));
  ctrlC(dev);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))]);
  if (dev.exitCode === null && dev.signalCode === null) process.kill(-dev.pid, 'SIGKILL');
}

afterEach(async () => {
  for (const dev of started.splice(0)) await stopDev(dev);
}, 90_000);

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

/** The operator token `npm run dev` generated into the data folder. */
function devClient(): SwooshClient {
  const file = TokensFile.parse(JSON.parse(readFileSync(defaultTokensFile(dataDir), 'utf8')));
  const operator = file.tokens.find((t) => t.role === 'operator');
  if (!operator || !('token' in operator)) throw new Error('no operator token');
  return new SwooshClient(`http://127.0.0.1:${ports.gateway}`, operator.token);
}

test('npm run dev serves missions, stops everything on Ctrl-C, and keeps them across a restart', async () => {
  const mission = {
    id: randomUUID(),
    objective: 'Survive a restart',
    priority: 'P2' as const,
    originatingSpec: 'https://specs.example.org/restart',
    createdAt: '2026-11-23T09:00:00.000Z',
  };

  const first = startDev();
  await waitForPort(ports.gateway, 90_000);
  expect(first.output()).toContain(`http://127.0.0.1:${ports.ui}`);
  // Dev tokens: created at first run, owner-only, their path printed and the tokens never.
  const tokensFile = defaultTokensFile(dataDir);
  expect(statSync(tokensFile).mode & 0o777).toBe(0o600);
  expect(first.output()).toContain(tokensFile);
  const tokens = TokensFile.parse(JSON.parse(readFileSync(tokensFile, 'utf8'))).tokens;
  for (const t of tokens) if ('token' in t) expect(first.output()).not.toContain(t.token);
  const client = devClient();
  expect((await client.as(undefined).startMission(mission)).status).toBe(401);
  expect((await client.startMission(mission)).status).toBe(201);
  const before = await eventually(
    () => client.getMission(mission.id),
    (v) => v.ok && (v.body.phase === 'PROJECT_LIFECYCLE' || v.body.phase === 'EXECUTION'),
    90_000,
  );
  expect(before.ok && before.body.phase).toMatch(/^(PROJECT_LIFECYCLE|EXECUTION)$/);
  // Development mode, and only it, lets the worker issue itself a licence, and it says so.
  expect(first.output()).toContain('development licence (SWOOSH_DEV_LICENCE=true) issued now');
  // The worker serves its Prometheus metrics, and the mission's licence transition is counted
  // (once its ledger append has completed, which may trail the phase the mission reports).
  const counted = /^swoosh_transition_total\{[^}]*transition="Boot_Licensed"[^}]*\} [1-9]/m;
  const metrics = await eventually(
    async () => (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text(),
    (text) => counted.test(text),
    30_000,
  );
  expect(metrics).toMatch(counted);

  ctrlC(first.child);
  expect(await first.exited).toBe(0);
  expect(first.output()).toContain('stopped.');
  for (const port of Object.values(ports)) expect(await isPortFree(port)).toBe(true);

  const second = startDev();
  await waitForPort(ports.gateway, 90_000);
  // The tokens of the first run still work: a restart never replaces them.
  const after = await eventually(
    () => devClient().getMission(mission.id),
    (res) => res.status === 200,
    30_000,
  );
  if (!after.ok) throw new Error(`mission not read back: ${after.status}`);
  expect(after.body.missionId).toBe(mission.id);
  expect(['PROJECT_LIFECYCLE', 'EXECUTION']).toContain(after.body.phase);

  ctrlC(second.child);
  expect(await second.exited).toBe(0);
}, 240_000);

/** The pid `npm run dev` printed for the last start of `name` ("worker started (pid N)"). */
function lastPid(output: string, name: string): number {
  const pids = [...output.matchAll(new RegExp(`\\] ${name} (?:re)?started \\(pid (\\d+)\\)`, 'g'))];
  const last = pids.at(-1);
  if (!last) throw new Error(`no ${name} pid in the output:\n${output}`);
  return Number(last[1]);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm run dev restarts a SIGKILLed worker and its mission keeps progressing', async () => {
  const dev = startDev();
  await waitForPort(ports.gateway, 90_000);
  const client = devClient();
  const id = randomUUID();
  const started = await client.startMission({
    id,
    objective: 'Survive a crashed worker',
    priority: 'P2',
    originatingSpec: 'https://specs.example.org/crash',
    createdAt: '2026-12-02T09:00:00.000Z',
    // 4-second bars and the orchestrator's own approval: beats follow each other without a person.
    config: { autoApprove: true, schedule: FAST_SCHEDULE },
  });
  expect(started.status).toBe(201);
  const beatOf = async (): Promise<number> => {
    const res = await client.getMission(id);
    const execution = res.ok ? (res.body.state?.execution as { beat?: number } | undefined) : undefined;
    return execution?.beat ?? -1;
  };
  const beatAtKill = await eventually(beatOf, (beat) => beat >= 1, 90_000);
  expect(beatAtKill).toBeGreaterThanOrEqual(1);

  const workerPid = lastPid(dev.output(), 'worker');
  const gatewayPid = lastPid(dev.output(), 'gateway');
  process.kill(workerPid, 'SIGKILL');
  // The supervisor says what happened and starts a new worker, with no one asking it to.
  const restarted = await eventually(
    () => Promise.resolve(dev.output()),
    (out) => /worker restarted \(pid \d+\)/.test(out),
    30_000,
  );
  expect(restarted).toContain(`worker (pid ${workerPid}) crashed with signal SIGKILL; restarting it`);
  const newWorkerPid = lastPid(restarted, 'worker');
  expect(newWorkerPid).not.toBe(workerPid);

  // The mission goes on under the new worker: later beats are taken.
  const beatAfter = await eventually(beatOf, (beat) => beat >= beatAtKill + 2, 120_000);
  expect(beatAfter).toBeGreaterThanOrEqual(beatAtKill + 2);
  // Temporal and the gateway stayed up all along: the same gateway process answered throughout.
  expect(lastPid(dev.output(), 'gateway')).toBe(gatewayPid);
  expect(dev.output()).not.toContain('gateway (pid');
  expect(running(gatewayPid)).toBe(true);

  ctrlC(dev.child);
  expect(await dev.exited).toBe(0);
  expect(running(newWorkerPid)).toBe(false);
  for (const port of Object.values(ports)) expect(await isPortFree(port)).toBe(true);
}, 360_000);
