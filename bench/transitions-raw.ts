/**
 * `npm run bench:transitions` without `--store`/`--workers`: SWOOSH transitions side by side with
 * raw Temporal, on one dev server this bench starts itself, in alternating rounds so that a noisy
 * machine slows both sides alike.
 *
 * Pairs (SWOOSH vs its raw baseline):
 *  - one mission, sequential transitions through the `transition` Update
 *      vs one entity, sequential Updates that each run one local activity (append + fsync);
 *  - one mission, sequential `POST /transition` on a gateway running as its own process
 *      vs one entity, sequential empty Updates;
 *  - K missions in parallel, each sequential, vs K entities likewise (K from --parallel).
 * Each SWOOSH transition is a signed Control_Pause or Control_Resume on a mission held where only
 * the bench moves HEAD (council electing a member who never votes): its only I/O is the decision
 * ledger append. The client builds each proposal on the previous answer's post-state hash, as a
 * caller who just got a 202 would. For every pair it prints throughput, p50 and p95 of each side,
 * and the SWOOSH/raw ratios (median of the per-round ratios), the CPU time each side spent per
 * transition in the dev server and in this process, then counts workflow-task timeouts and
 * failures in every mission's history and the worker's "workflow task duration exceeded" warnings.
 *
 *   npm run bench:transitions -- [--rounds=3] [--n=100] [--parallel=20,200] [--per-entity=10]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry } from '@temporalio/worker';
import { SwooshClient } from '../api/client';
import { loadWorkerTuning } from '../schemas/config';
import type { TransitionProposal } from '../schemas/proposal';
import { startGatewayFixture } from '../tests/gateway/support/gateway';
import { startGatewayProcess } from './gateway-process';
import { createRawActivities } from './raw/activities';
import { appendUpdate, emptyUpdate, stopSignal } from './raw/entity-workflow';
import {
  arg,
  cell,
  cpuCell,
  lanes,
  machineNote,
  ratio,
  RefusedProposal,
  retriesOf,
  runRounds,
  startHeldMissions,
  taskTrouble,
  viaUpdate,
  type HeldMission,
  type Workload,
} from './transition-load';
import { tuningOptions } from '../workers/worker';

const ROUNDS = Number(arg('rounds', '3'));
const N = Number(arg('n', '100'));
const PARALLEL = arg('parallel', '20,200').split(',').filter(Boolean).map(Number);
const PER_ENTITY = Number(arg('per-entity', '10'));
const loadAtStart = loadavg()[0]!;

// Core's warnings about slow workflow tasks are what this bench must not provoke; count them.
let exceededWarnings = 0;
const fallback = new DefaultLogger('WARN');
Runtime.install({
  logger: new DefaultLogger('WARN', (entry: LogEntry) => {
    if (/duration exceeded|timed out/i.test(entry.message)) exceededWarnings++;
    fallback.log(entry.level, entry.message, entry.meta);
  }),
});

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// The SWOOSH worker takes the same SWOOSH_WORKER_* settings as `npm run worker` (docs/workers.md).
const tuning = loadWorkerTuning();
const fx = await startGatewayFixture('bench-transitions', tuning);
const client = fx.env.client;
const rawDir = mkdtempSync(join(tmpdir(), 'swoosh-bench-raw-'));
const rawQueue = `bench-raw-${randomUUID().slice(0, 8)}`;
const rawConnection = await NativeConnection.connect({ address: fx.env.address });
const rawWorker = await Worker.create({
  connection: rawConnection,
  namespace: 'default',
  taskQueue: rawQueue,
  workflowsPath: here('./raw/entity-workflow.ts'),
  activities: createRawActivities(rawDir),
});
const rawRun = rawWorker.run();

// The gateway under test runs as its own process, as in a deployment.
const gatewayProcess = await startGatewayProcess(fx, ['operator']);

const missions: HeldMission[] = [];
const entities: WorkflowHandle[] = [];

async function startEntities(count: number): Promise<WorkflowHandle[]> {
  const started = await Promise.all(
    Array.from({ length: count }, () =>
      client.workflow.start('rawEntityWorkflow', { workflowId: `raw-${randomUUID()}`, taskQueue: rawQueue }),
    ),
  );
  entities.push(...started);
  return started;
}

type Side = 'swoosh' | 'raw';
/** A workload with what each side does in it, for the table. */
interface Pair extends Workload<Side> {
  raw: string;
  swoosh: string;
}

try {
  const gateway = new SwooshClient(gatewayProcess.url, fx.tokens.operator);
  const viaGateway = async (p: TransitionProposal): Promise<string> => {
    const res = await gateway.propose(p);
    const refusal = res.body as { failing_guard?: string; current_hash?: string };
    if (res.status === 409 && refusal.failing_guard)
      throw new RefusedProposal(refusal.failing_guard, refusal.current_hash);
    if (res.status !== 202) throw new Error(`POST /transition answered ${res.status}`);
    return (res.body as { post_hash: string }).post_hash;
  };

  const largest = Math.max(1, ...PARALLEL);
  console.log(`[bench] starting ${largest} missions and ${largest} raw entities ...`);
  const held = await startHeldMissions(client, fx.taskQueue, largest, missions);
  const raw = await startEntities(largest);
  let line = 0;
  const append = (e: WorkflowHandle) => e.executeUpdate(appendUpdate, { args: [`line ${line++}`] });

  const pairs: Pair[] = [
    {
      label: 'one mission, sequential',
      swoosh: 'transition Update',
      raw: 'Update + local activity (append + fsync)',
      run: {
        swoosh: () => lanes(N, 1, () => held[0]!.step(viaUpdate(held[0]!))),
        raw: () => lanes(N, 1, () => append(raw[0]!).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    },
    {
      label: 'one mission, sequential, REST',
      swoosh: 'POST /transition (gateway process)',
      raw: 'empty Update',
      run: {
        swoosh: () => lanes(N, 1, () => held[0]!.step(viaGateway)),
        raw: () => lanes(N, 1, () => raw[0]!.executeUpdate(emptyUpdate).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    },
    ...PARALLEL.map((k): Pair => ({
      label: `${k} missions in parallel, each sequential`,
      swoosh: 'transition Update',
      raw: 'Update + local activity',
      run: {
        swoosh: () => lanes(PER_ENTITY, k, (lane) => held[lane]!.step(viaUpdate(held[lane]!))),
        raw: () => lanes(PER_ENTITY, k, (lane) => append(raw[lane]!).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    })),
  ];

  await runRounds(ROUNDS, ['raw', 'swoosh'], pairs);

  console.log(
    `\nSWOOSH transitions vs raw Temporal — medians of ${ROUNDS} alternating rounds, Node ${process.version}, worker tuning ${JSON.stringify(tuningOptions(tuning))}`,
  );
  console.log(
    '| workload | SWOOSH | raw Temporal | throughput ratio | p95 ratio |\n| --- | --- | --- | --- | --- |',
  );
  for (const pair of pairs) {
    const { swoosh, raw } = pair.rounds;
    console.log(
      `| ${pair.label} | ${pair.swoosh}: ${cell(swoosh)} | ${pair.raw}: ${cell(raw)} | ${ratio(swoosh, raw, (x) => x.rate)} | ${ratio(swoosh, raw, (x) => x.p95)} |`,
    );
  }
  console.log(
    '\nCPU ms per transition, medians of the rounds: child processes (the dev server; the gateway process in the REST pair) / the bench process (client and both workers)\n' +
      '| workload | SWOOSH | raw Temporal | ratio of totals |\n| --- | --- | --- | --- |',
  );
  const cpuTotal = (x: { childrenCpu: number; ownCpu: number }) => x.childrenCpu + x.ownCpu;
  for (const pair of pairs) {
    const { swoosh, raw } = pair.rounds;
    console.log(`| ${pair.label} | ${cpuCell(swoosh)} | ${cpuCell(raw)} | ${ratio(swoosh, raw, cpuTotal)} |`);
  }
  console.log(machineNote(loadAtStart));

  console.log(
    `\n${await taskTrouble(held)}; ` +
      `"duration exceeded"/"timed out" warnings from the worker: ${exceededWarnings}; proposals retried after a refusal: ${retriesOf(held)}`,
  );
} finally {
  await gatewayProcess.stop();
  await Promise.all(missions.map((m) => m.handle.terminate('bench done').catch(() => undefined)));
  await Promise.all(entities.map((e) => e.signal(stopSignal).catch(() => undefined)));
  rawWorker.shutdown();
  await rawRun;
  await rawConnection.close();
  await fx.stop();
  rmSync(rawDir, { recursive: true, force: true });
}
