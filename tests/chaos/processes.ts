/**
 * The processes a chaos run breaks on purpose: the Temporal dev server (SQLite in the run's folder,
 * so a restart keeps every mission), SWOOSH worker processes and gateway processes, each started
 * as `npm run worker` / `npm run gateway` start them and stopped by its own pid. Worker and gateway
 * output goes to log files in the run's folder, which the verdict reads. With `separateHosts`, each
 * worker and gateway gets a data folder of its own, as on machines that share no filesystem.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { newToken } from '../../api/auth';
import { ensureKeyFile } from '../../host/keys';
import { startDevServer } from '../../temporal-dev/dev-server';
import { freePort, stopProcess, type Supervised } from '../../temporal-dev/processes';
import { ensureTemporalCli } from '../../temporal-dev/toolchain';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A restartable child: `kill` breaks it (SIGKILL), `start` brings it back on the same settings. */
export interface ChaosProcess {
  readonly name: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
  readonly running: boolean;
  /** The pid of the running child (a worker's default Temporal identity is `<pid>@<host>`). */
  readonly pid: number | undefined;
}

interface Child {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Every child a chaos run started and has not seen exit, so an interrupted run can stop them. */
const live = new Set<ChildProcess>();

/** SIGKILLs whatever a chaos run still has running (for Ctrl-C on `npm run chaos`). */
export function killEverything(): void {
  for (const child of live) child.kill('SIGKILL');
}

function track(child: ChildProcess): void {
  live.add(child);
  child.on('exit', () => live.delete(child));
}

function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Child {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => log.end());
  return { child, exited };
}

async function stopChild(c: Child | undefined, signal: NodeJS.Signals, graceMs = 20_000): Promise<void> {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill(signal);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

/**
 * A Node process of this repository (`workers/main.ts`, `api/main.ts`), ready once its own log
 * says `marker` (a port that answers could be another process's, on a shared machine). The
 * transitions bench starts its worker processes with it too.
 */
export function nodeProcess(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  marker: string,
): ChaosProcess {
  let current: Child | undefined;
  return {
    name,
    get running() {
      return current !== undefined && current.child.exitCode === null && current.child.signalCode === null;
    },
    get pid() {
      return current?.child.pid;
    },
    async start() {
      const from = (await stat(logFile).catch(() => ({ size: 0 }))).size;
      current = spawnLogged(process.execPath, ['--import', 'tsx', script], env, logFile);
      const started = current;
      await Promise.race([
        logSays(logFile, marker, from, 120_000),
        started.exited.then((code) => {
          throw new Error(`${name} exited with code ${code} while starting; see ${logFile}`);
        }),
      ]);
    },
    kill: () => stopChild(current, 'SIGKILL'),
    stop: () => stopChild(current, 'SIGTERM'),
  };
}

export interface ChaosCluster {
  dataDir: string;
  address: string;
  taskQueue: string;
  /** The first gateway's; `gatewayUrls` has every gateway's, in order. */
  gatewayUrl: string;
  gatewayUrls: string[];
  tokens: { operator: string; agent: string; viewer: string; owner: string };
  server: ChaosProcess;
  workers: ChaosProcess[];
  /** The first gateway; `gateways` has them all. */
  gateway: ChaosProcess;
  gateways: ChaosProcess[];
  /** Each worker's and gateway's data folder, by process name (all `dataDir` unless `separateHosts`). */
  dataDirs: Map<string, string>;
  /**
   * The orchestrator key every worker was given a copy of, with `separateHosts` (the Secret a
   * cluster would mount); otherwise undefined, and the workers share the data folder's key.
   */
  orchestratorKeyFile: string | undefined;
  stop(): Promise<void>;
}

/** Waits for `marker` in a log file, past byte `from` (what earlier runs of the process wrote). */
async function logSays(file: string, marker: string, from: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.indexOf(marker, from) >= 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no "${marker}" in ${file} within ${timeoutMs / 1000} s`);
}

/** Settings beside the cluster's own: the outside services a run's faults stand in for. */
export interface ChaosEnv {
  workers?: NodeJS.ProcessEnv;
  gateway?: NodeJS.ProcessEnv;
  /** Gateway processes to start (default 1), each on a port of its own. */
  gateways?: number;
  /**
   * Each worker and gateway in a data folder of its own (`<dataDir>/hosts/<name>`), so they share
   * only what the environment points them at (Temporal, and a database with SWOOSH_STORE=postgres).
   * The workers get copies of one orchestrator key, as each host would mount one Secret
   * (README.md, "Running on more than one machine"); the gateways, copies of one tokens file.
   */
  separateHosts?: boolean;
}

export async function startChaosCluster(
  dataDir: string,
  workerCount: number,
  extra: ChaosEnv = {},
): Promise<ChaosCluster> {
  const cli = await ensureTemporalCli();
  const port = await freePort();
  const uiPort = await freePort();
  const dbFile = join(dataDir, 'temporal.sqlite');
  let server: Supervised | undefined;
  const serverProcess: ChaosProcess = {
    name: 'temporal dev server',
    get running() {
      return server !== undefined && server.child.exitCode === null && server.child.signalCode === null;
    },
    async start() {
      // A restart reuses the gRPC port the workers know; the UI port chosen at first start may
      // have been taken by another test meanwhile, so a restart that fails gets a fresh one.
      for (let attempt = 1; ; attempt++) {
        try {
          const ui = attempt === 1 ? uiPort : await freePort();
          server = await startDevServer({ cli, port, uiPort: ui, dbFile, namespace: 'default' });
          break;
        } catch (error) {
          if (attempt >= 3) throw error;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
      track(server.child);
    },
    async kill() {
      if (server) server.child.kill('SIGKILL');
      await server?.exited;
    },
    async stop() {
      if (server) await stopProcess(server);
    },
    get pid() {
      return server?.child.pid;
    },
  };
  await serverProcess.start();
  const address = `127.0.0.1:${port}`;
  const taskQueue = 'swoosh-chaos';
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    SWOOSH_TEMPORAL_ADDRESS: address,
    SWOOSH_TASK_QUEUE: taskQueue,
    SWOOSH_DATA_DIR: dataDir,
    SWOOSH_METRICS_ADDRESS: 'off',
  };
  const dataDirs = new Map<string, string>();
  const hostDir = (name: string) => {
    const dir = extra.separateHosts ? join(dataDir, 'hosts', name.replace(/ /g, '-')) : dataDir;
    mkdirSync(dir, { recursive: true });
    dataDirs.set(name, dir);
    return dir;
  };
  let orchestratorKeyFile: string | undefined;
  if (extra.separateHosts) {
    orchestratorKeyFile = join(dataDir, 'secrets', 'orchestrator.key.json');
    await ensureKeyFile(orchestratorKeyFile, 'orchestrator');
  }
  const workers: ChaosProcess[] = [];
  for (let i = 1; i <= workerCount; i++) {
    const name = `worker ${i}`;
    const dir = hostDir(name);
    const env: NodeJS.ProcessEnv = { ...common, ...extra.workers, SWOOSH_DATA_DIR: dir };
    if (orchestratorKeyFile) {
      // The host's own copy of the one key (copyFile keeps its mode 0600).
      const copy = join(dir, 'secret', 'orchestrator.key.json');
      mkdirSync(join(dir, 'secret'), { recursive: true, mode: 0o700 });
      await copyFile(orchestratorKeyFile, copy);
      env.SWOOSH_ORCHESTRATOR_KEY_FILE = copy;
    }
    workers.push(
      nodeProcess(name, 'workers/main.ts', env, join(dataDir, `worker-${i}.log`), '[swoosh worker] polling'),
    );
  }
  const tokens = { operator: newToken(), agent: newToken(), viewer: newToken(), owner: newToken() };
  const tokensText = JSON.stringify({
    tokens: Object.entries(tokens).map(([role, token]) => ({ name: `chaos-${role}`, role, token })),
  });
  const gatewayCount = extra.gateways ?? 1;
  const gateways: ChaosProcess[] = [];
  const gatewayUrls: string[] = [];
  for (let i = 1; i <= gatewayCount; i++) {
    // The first keeps the names a one-gateway run always had.
    const name = i === 1 ? 'gateway' : `gateway ${i}`;
    const dir = hostDir(name);
    const tokensFile = join(dir, 'chaos-tokens.json');
    writeFileSync(tokensFile, tokensText, { mode: 0o600 });
    const port = await freePort();
    gatewayUrls.push(`http://127.0.0.1:${port}`);
    gateways.push(
      nodeProcess(
        name,
        'api/main.ts',
        {
          ...common,
          ...extra.gateway,
          SWOOSH_DATA_DIR: dir,
          SWOOSH_GATEWAY_TOKENS_FILE: tokensFile,
          SWOOSH_GATEWAY_HOST: '127.0.0.1',
          SWOOSH_GATEWAY_PORT: String(port),
        },
        join(dataDir, `${name.replace(/ /g, '-')}.log`),
        '[swoosh gateway] listening on',
      ),
    );
  }
  const all = [...gateways, ...workers];
  try {
    for (const w of workers) await w.start();
    for (const g of gateways) await g.start();
  } catch (error) {
    for (const p of all) await p.kill();
    await serverProcess.stop();
    throw error;
  }
  return {
    dataDir,
    address,
    taskQueue,
    gatewayUrl: gatewayUrls[0]!,
    gatewayUrls,
    tokens,
    server: serverProcess,
    workers,
    gateway: gateways[0]!,
    gateways,
    dataDirs,
    orchestratorKeyFile,
    async stop() {
      for (const p of all) await p.stop();
      await serverProcess.stop();
    },
  };
}
