/**
 * `npm run bench:transitions -- --store=postgres` and/or `--workers=<n>`: what the shared store
 * costs and what more worker processes gain, as numbers. Each deployment is SWOOSH worker processes
 * (`workers/main.ts`, as `npm run worker` runs them) on a task queue of their own, all on one Temporal
 * dev server this bench starts: the baseline is the files store and one worker; the candidates are
 * the PostgreSQL store (on a server the bench starts, as the store tests do), n workers, and with
 * both flags both changes together. A side's workers share its data folder, as processes on one
 * host do (with files, the ledger's lock file takes turns between them). Workers are processes,
 * not in-process workers: a Node process runs workflow code on one thread, so a second worker in
 * the same process would add no CPU.
 *
 * Workloads, as in the raw comparison: one mission through the `transition` Update, sequentially;
 * K missions in parallel, each sequentially (K from --parallel, default 20). Rounds run every side
 * in turn, the order rotated each round; the table gives each side's medians and the candidate/
 * baseline ratios (median of the per-round ratios), then each side's workflow-task trouble.
 *
 *   npm run bench:transitions -- --store=postgres --workers=2 [--rounds=3] [--n=100] [--parallel=20] [--per-entity=10]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadWorkerTuning } from '../schemas/config';
import { nodeProcess, type ChaosProcess } from '../tests/chaos/processes';
import { startPostgres, type TestPostgres } from '../tests/support/postgres';
import { startDevServerEnv } from '../tests/support/temporal';
import { tuningOptions } from '../workers/worker';
import {
  arg,
  cell,
  lanes,
  machineNote,
  ratio,
  retriesOf,
  runRounds,
  startHeldMissions,
  taskTrouble,
  viaUpdate,
  type HeldMission,
  type Workload,
} from './transition-load';

const STORE = arg('store', 'files');
const WORKERS = Number(arg('workers', '1'));
const ROUNDS = Number(arg('rounds', '3'));
const N = Number(arg('n', '100'));
const PARALLEL = arg('parallel', '20').split(',').filter(Boolean).map(Number);
const PER_ENTITY = Number(arg('per-entity', '10'));
if (STORE !== 'files' && STORE !== 'postgres')
  throw new Error(`--store must be files or postgres, not ${STORE}`);
if (!Number.isInteger(WORKERS) || WORKERS < 1 || WORKERS > 8)
  throw new Error(`--workers must be a whole number from 1 to 8, not ${arg('workers', '')}`);
if (STORE === 'files' && WORKERS === 1)
  throw new Error('nothing to compare: give --store=postgres and/or --workers=2 (or more)');
const loadAtStart = loadavg()[0]!;

interface Deployment {
  name: string;
  store: 'files' | 'postgres';
  workers: number;
}
const baseline: Deployment = { name: 'files, 1 worker', store: 'files', workers: 1 };
const workersName = (n: number) => `${n} worker${n === 1 ? '' : 's'}`;
const candidates: Deployment[] = [
  ...(STORE === 'postgres' ? [{ name: 'postgres, 1 worker', store: 'postgres' as const, workers: 1 }] : []),
  ...(WORKERS > 1
    ? [{ name: `files, ${workersName(WORKERS)}`, store: 'files' as const, workers: WORKERS }]
    : []),
  ...(STORE === 'postgres' && WORKERS > 1
    ? [{ name: `postgres, ${workersName(WORKERS)}`, store: 'postgres' as const, workers: WORKERS }]
    : []),
];
const deployments = [baseline, ...candidates];
const sides = deployments.map((d) => d.name);

// No in-process worker here; the runtime serves the dev server only, and Ctrl-C is this bench's to
// handle (stopping every process it started), not the runtime's.
Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });

const runDir = mkdtempSync(join(tmpdir(), 'swoosh-bench-deployments-'));
const tuning = loadWorkerTuning();
let env: TestWorkflowEnvironment | undefined;
let postgres: TestPostgres | undefined;
const processes: ChaosProcess[] = [];
const missions: HeldMission[] = [];
const logsOf = new Map<string, string[]>();

let stopping: Promise<void> | undefined;
/** Stops everything this bench started, each process by its own pid; once, whoever asks first. */
function stopAll(keepLogs: boolean): Promise<void> {
  stopping ??= (async () => {
    await Promise.all(missions.map((m) => m.handle.terminate('bench done').catch(() => undefined)));
    await Promise.all(processes.map((p) => p.stop()));
    await postgres?.stop();
    await env?.teardown();
    if (keepLogs) console.error(`[bench] worker logs kept in ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  })();
  return stopping;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n[bench] ${signal}: stopping the workers, PostgreSQL and the dev server ...`);
    void stopAll(false).finally(() => process.exit(130));
  });
}

/** Starts a deployment's worker processes, one after the other (each bundles the workflows). */
async function startWorkers(d: Deployment, queue: string, address: string): Promise<void> {
  const slug = d.name.replace(/[^a-z0-9]+/g, '-');
  const dataDir = join(runDir, slug);
  mkdirSync(dataDir, { recursive: true });
  const workerEnv: NodeJS.ProcessEnv = {
    ...process.env,
    SWOOSH_TEMPORAL_ADDRESS: address,
    SWOOSH_TASK_QUEUE: queue,
    SWOOSH_DATA_DIR: dataDir,
    SWOOSH_STORE: d.store,
    SWOOSH_METRICS_ADDRESS: 'off',
    // Each side issues itself a development licence in its own folder: a worker given no licence
    // settings refuses to start, and the licence is not what the benchmark measures.
    SWOOSH_DEV_LICENCE: 'true',
  };
  // Every side keeps its own key in its own folder, whatever the caller's shell points at.
  delete workerEnv.SWOOSH_ORCHESTRATOR_KEY_FILE;
  delete workerEnv.SWOOSH_DATABASE_URL;
  if (d.store === 'postgres') workerEnv.SWOOSH_DATABASE_URL = postgres!.url;
  const logs: string[] = [];
  logsOf.set(d.name, logs);
  for (let i = 1; i <= d.workers; i++) {
    const log = join(runDir, `${slug}-worker-${i}.log`);
    logs.push(log);
    const worker = nodeProcess(
      `${d.name} worker ${i}`,
      'workers/main.ts',
      workerEnv,
      log,
      '[swoosh worker] polling',
    );
    processes.push(worker);
    const t0 = performance.now();
    console.log(`[bench] starting worker ${i}/${d.workers} of "${d.name}" ...`);
    await worker.start();
    console.log(
      `[bench]   polling after ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${worker.pid})`,
    );
  }
}

/** How far each worker log had got when the rounds began. */
const logOffsets = new Map<string, number>();
const markLogs = () => {
  for (const file of [...logsOf.values()].flat()) logOffsets.set(file, statSync(file).size);
};

/**
 * Core's warnings about slow workflow tasks in a deployment's worker logs, written during the
 * rounds: the first worker to start also starts the timer shards every later one configures, which
 * on a loaded machine may warn before any round.
 */
function exceededWarnings(name: string): number {
  return (logsOf.get(name) ?? [])
    .map(
      (file) =>
        readFileSync(file)
          .subarray(logOffsets.get(file) ?? 0)
          .toString('utf8')
          .match(/duration exceeded/gi)?.length ?? 0,
    )
    .reduce((a, b) => a + b, 0);
}

let failed = true;
try {
  console.log('[bench] starting the Temporal dev server ...');
  env = await startDevServerEnv();
  const client = env.client;
  if (deployments.some((d) => d.store === 'postgres')) {
    console.log('[bench] starting PostgreSQL (initdb into a temporary folder) ...');
    postgres = await startPostgres();
    console.log(`[bench]   PostgreSQL on port ${postgres.port} (pid ${postgres.pid})`);
  }
  const queues = new Map(deployments.map((d) => [d.name, `bench-${randomUUID().slice(0, 8)}`]));
  for (const d of deployments) await startWorkers(d, queues.get(d.name)!, env.address);

  const largest = Math.max(1, ...PARALLEL);
  const held = new Map<string, HeldMission[]>();
  for (const d of deployments) {
    console.log(`[bench] starting ${largest} missions on "${d.name}" ...`);
    held.set(d.name, await startHeldMissions(client, queues.get(d.name)!, largest, missions, `${d.name}: `));
  }
  const on = (side: string) => held.get(side)!;
  const each = <T>(f: (side: string) => T) => Object.fromEntries(sides.map((s) => [s, f(s)]));

  const workloads: Workload<string>[] = [
    {
      label: 'one mission, sequential',
      run: each((s) => () => lanes(N, 1, () => on(s)[0]!.step(viaUpdate(on(s)[0]!)))),
      rounds: each(() => []),
    },
    ...PARALLEL.map((k): Workload<string> => ({
      label: `${k} missions in parallel, each sequential`,
      run: each((s) => () => lanes(PER_ENTITY, k, (lane) => on(s)[lane]!.step(viaUpdate(on(s)[lane]!)))),
      rounds: each(() => []),
    })),
  ];

  markLogs();
  await runRounds(ROUNDS, sides, workloads);

  console.log(
    `\nSWOOSH on ${candidates.map((c) => c.name).join(' / ')} against ${baseline.name} — transition Update, medians of ${ROUNDS} rounds (side order rotated each round), Node ${process.version}, worker tuning ${JSON.stringify(tuningOptions(tuning))}`,
  );
  console.log(
    '| workload | baseline | candidate | throughput ratio | p95 ratio |\n| --- | --- | --- | --- | --- |',
  );
  for (const c of candidates) {
    for (const w of workloads) {
      const base = w.rounds[baseline.name]!;
      const cand = w.rounds[c.name]!;
      console.log(
        `| ${w.label} | ${baseline.name}: ${cell(base)} | ${c.name}: ${cell(cand)} | ${ratio(cand, base, (x) => x.rate)} | ${ratio(cand, base, (x) => x.p95)} |`,
      );
    }
  }
  console.log(machineNote(loadAtStart));
  console.log('');
  for (const d of deployments) {
    console.log(
      `${d.name}: ${await taskTrouble(on(d.name))}; "duration exceeded" warnings in its worker logs during the rounds: ${exceededWarnings(d.name)}; proposals retried after a refusal: ${retriesOf(on(d.name))}`,
    );
  }
  failed = false;
} catch (error) {
  if (!interrupted) throw error;
} finally {
  if (!interrupted) await stopAll(failed);
}
