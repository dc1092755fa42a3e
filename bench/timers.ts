/**
 * Timer benchmark (docs/design.md#timers): N sharded timers with random due times over a window, against a
 * baseline of plain workflow sleeps, side by side in one run on a Temporal dev server (SQLite
 * file persistence, as `npm run dev` runs it) that this script starts and stops itself.
 *
 *   npm run bench:timers -- --n=10000 [--window=60] [--shards=max(4,N/2500)] [--baseline-cap=1000] [--server=tuned|default]
 *   npm run bench:timers -- --live=1000000 [--horizon=3600] [--observe=<horizon>] [--lead=max(30,N/1000)] [--park-after=120|0] [--shards=SWOOSH_TIMER_SHARDS's default (8), or max(4,N/2500) with --park-after=0]
 *   npm run bench:timers -- --capacity[=1500000]
 *
 * or TIMER_BENCH_N / _WINDOW_S / _SHARDS / _BASELINE_CAP / _SERVER / _LIVE / _HORIZON_S / _OBSERVE_S / _LEAD_S.
 * The second form holds N timers at once (bench/timers-live.ts) and reports the wall that stopped
 * creation, if any, with the largest N reached. The third measures how many live and how many closed
 * timers one shard holds at a capacity setting (bench/timers-capacity.ts). Webhooks are signed by the
 * project's signer (host/keys.ts, node:crypto's ed25519). `--server=tuned` (the default)
 * starts the dev server with what `npm run dev` sets (temporal-dev/dev-server.ts: the timer-queue
 * settings, eager activities, priority matching, SQLite's write-ahead log); `--server=default`
 * with Temporal's own, under which a workflow's next timer fires 0.1–1 s late (docs/timers.md).
 * Sharded timers fire a signed webhook at a receiver in this process; lateness is reported at the
 * shard (fired − due) and at the receiver (received − due). Baseline lateness is the sleeping
 * workflow's own wake-up time minus its due time, the same clock as the shard's `fired`.
 */
import { z } from 'zod';
import { devServerTuningArgs } from '../temporal-dev/dev-server';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { generateSigner } from '../host/keys';
import { createFileDeadLetterStore, createTimerActivities } from '../activities/timers';
import { createTimerEventLog } from '../host/timer-events';
import { parseOutboundAllow } from '../schemas/outbound';
import type { CreateTimerRequest } from '../schemas/timer';
import { ensureTemporalCli } from '../temporal-dev/toolchain';
import type { sleepUntilWorkflow } from '../tests/timers/workflows';
import { mapConcurrently } from '../host/concurrency';
import { ensureTimerShards } from '../workers/timers';
import { compileToEs2022 } from '../workers/worker';
import { createTimersUpdate, MAX_CREATE_BATCH, shardStatusQuery } from '../schemas/timer-messages';
import { shardOf, shardWorkflowId } from '../schemas/timer-shard-key';
import { log, type Receiver, startReceiver, summary, waitFor } from './timer-support';
import { benchLive, type LiveOptions, reportLive } from './timers-live';
import { benchCapacity, reportCapacity } from './timers-capacity';
import { DEFAULT_SHARD_SETTINGS, ShardCapacityBytes } from '../schemas/timer-shard';
import { FileLedger } from '../ledger';
import { createFileParkedTimerStore } from '../host/parked-timers';
import { DEFAULT_PARK_AFTER_MS, ParkAfterMs } from '../schemas/timer-parking';
import { DEFAULT_TIMER_SHARDS } from '../schemas/config';

interface Options {
  n: number;
  windowMs: number;
  shards: number;
  baselineCap: number;
  server: 'tuned' | 'default';
  /** The live-timers mode (bench/timers-live.ts), when `--live` is given. */
  live?: LiveOptions;
  /** The capacity mode (bench/timers-capacity.ts): the capacity in bytes, when `--capacity` is given. */
  capacityBytes?: number;
}

function serverProfile(): Options['server'] {
  const flag = process.argv.find((a) => a.startsWith('--server='))?.split('=')[1];
  const value = flag ?? process.env.TIMER_BENCH_SERVER ?? 'tuned';
  if (value !== 'tuned' && value !== 'default') throw new Error('--server must be tuned or default');
  return value;
}

function options(): Options {
  const arg = (name: string, env: string, fallback: number): number => {
    const flag = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    const raw = flag ?? process.env[env];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${name} (${env}) must be a positive integer`);
    return value;
  };
  const n = arg('n', 'TIMER_BENCH_N', 2_000);
  const given = (name: string, env: string) =>
    process.argv.some((a) => a.startsWith(`--${name}=`)) || process.env[env] !== undefined;
  const live = given('live', 'TIMER_BENCH_LIVE') ? arg('live', 'TIMER_BENCH_LIVE', 1) : undefined;
  // The shipped setting unless told: `--park-after=0` holds every timer in its shard.
  const parkAfterS = process.argv.find((a) => a.startsWith('--park-after='))?.split('=')[1];
  const parkAfterMs =
    parkAfterS === undefined
      ? DEFAULT_PARK_AFTER_MS
      : z.union([z.literal(0), ParkAfterMs]).parse(Number(parkAfterS) * 1000);
  const horizonMs = arg('horizon', 'TIMER_BENCH_HORIZON_S', 3_600) * 1000;
  const capacity = process.argv.includes('--capacity')
    ? DEFAULT_SHARD_SETTINGS.snapshotBudgetBytes
    : given('capacity', 'TIMER_BENCH_CAPACITY')
      ? ShardCapacityBytes.parse(arg('capacity', 'TIMER_BENCH_CAPACITY', 1))
      : undefined;
  return {
    n,
    ...(capacity !== undefined && { capacityBytes: capacity }),
    ...(live !== undefined && {
      live: {
        live,
        horizonMs,
        observeMs: arg('observe', 'TIMER_BENCH_OBSERVE_S', horizonMs / 1000) * 1000,
        // Room to create every timer before the first is due, at 1000 creates/s: creation still
        // running when firing starts slows both, and the lateness then measures the two together.
        leadMs: arg('lead', 'TIMER_BENCH_LEAD_S', Math.max(30, Math.ceil(live / 1000))) * 1000,
        // Parked, a shard holds only what is due within a minute or so: the deployment's default
        // count. Held whole, each takes about 2500.
        shards: arg(
          'shards',
          'TIMER_BENCH_SHARDS',
          parkAfterMs > 0 ? DEFAULT_TIMER_SHARDS : Math.max(4, Math.ceil(live / 2_500)),
        ),
        parkAfterMs,
      },
    }),
    windowMs: arg('window', 'TIMER_BENCH_WINDOW_S', 60) * 1000,
    // A shard holds about 3000 such timers (its snapshot budget); fewer, fuller shards batch more.
    shards: arg('shards', 'TIMER_BENCH_SHARDS', Math.max(4, Math.ceil(n / 2_500))),
    // Near a thousand concurrent workflows the SQLite dev server starts to struggle
    // (temporalio/temporal#9686); the baseline stops there unless told otherwise.
    baselineCap: arg('baseline-cap', 'TIMER_BENCH_BASELINE_CAP', 1_000),
    server: serverProfile(),
  };
}

interface Figures {
  scheduled: number;
  delivered: number;
  lateness: number[];
  endToEnd?: number[];
}

async function main(): Promise<void> {
  const opts = options();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-bench-timers-'));
  const stops: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  // Once, whether the run ends or is interrupted: an interrupted run left its dev server running.
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops) await stop();
      await rm(dir, { recursive: true, force: true });
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n[bench:timers] ${signal}: stopping the worker, the receiver and the dev server ...`);
      void stopAll().finally(() => process.exit(130));
    });
  }
  try {
    if (opts.capacityBytes !== undefined) log(`capacity=${opts.capacityBytes} server=${opts.server}`);
    else if (opts.live)
      log(
        `live=${opts.live.live} horizon=${opts.live.horizonMs / 1000}s observe=${opts.live.observeMs / 1000}s lead=${opts.live.leadMs / 1000}s ` +
          `shards=${opts.live.shards} park-after=${opts.live.parkAfterMs / 1000}s server=${opts.server}`,
      );
    else
      log(
        `N=${opts.n} window=${opts.windowMs / 1000}s shards=${opts.shards} baseline cap=${opts.baselineCap} ` +
          `server=${opts.server}`,
      );
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: await ensureTemporalCli() },
        ip: '127.0.0.1',
        ui: false,
        dbFilename: join(dir, 'temporal.db'),
        log: { format: 'json', level: 'error' },
        extraArgs: opts.server === 'tuned' ? devServerTuningArgs() : [],
      },
    });
    stops.push(() => env.teardown());
    const receiver = await startReceiver();
    stops.push(() => receiver.close());

    const taskQueue = 'bench-timers';
    const { signer } = generateSigner();
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: fileURLToPath(new URL('../tests/timers/workflows.ts', import.meta.url)),
        logger: new DefaultLogger('WARN'),
        // Compiled as the worker compiles its bundle (docs/workers.md, "The workflow bundle").
        webpackConfigHook: compileToEs2022,
      }),
      activities: createTimerActivities({
        signer,
        deadLetters: createFileDeadLetterStore(join(dir, 'dead-letters.jsonl')),
        ledger: new FileLedger({ dir: join(dir, 'ledger'), signer }),
        events: createTimerEventLog(join(dir, 'timer-events'), signer),
        client: env.client,
        // The receiver listens on loopback, which webhooks may reach only when allowed.
        outbound: { allow: parseOutboundAllow('127.0.0.1') },
        parked: createFileParkedTimerStore(join(dir, 'parked')),
      }),
    });
    const running = worker.run();
    stops.unshift(async () => {
      worker.shutdown();
      await running;
    });

    if (opts.capacityBytes !== undefined) {
      reportCapacity(await benchCapacity(env, taskQueue, receiver, opts.capacityBytes));
      return;
    }
    if (opts.live) {
      const figures = await benchLive(env, taskQueue, receiver, opts.live);
      // The server's own timer precision beside it: plain sleeps due within a minute.
      const baseline = await benchBaseline(env, taskQueue, {
        ...opts,
        n: opts.baselineCap,
        windowMs: 60_000,
      });
      reportLive(opts.live, figures, baseline.lateness);
      return;
    }
    const sharded = await benchShards(env, taskQueue, receiver, opts);
    const baseline = await benchBaseline(env, taskQueue, opts);
    report(opts, sharded, baseline);
  } finally {
    await stopAll();
  }
}

async function benchShards(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  receiver: Receiver,
  { n, windowMs, shards }: Options,
): Promise<Figures> {
  const idPrefix = 'bench-shard';
  await ensureTimerShards(env.client, taskQueue, shards, { idPrefix });
  // Every timer is created before the first is due, so creation never shows up as lateness.
  const leadMs = 15_000 + n * 2;
  const start = Date.now() + leadMs;
  const specs: CreateTimerRequest[] = Array.from({ length: n }, (_, i) => ({
    id: `t-${i}`,
    dueAt: new Date(start + Math.floor(Math.random() * windowMs)).toISOString(),
    action: { type: 'webhook', url: receiver.url },
  }));
  const byShard = new Map<number, CreateTimerRequest[]>();
  for (const spec of specs) {
    const shard = shardOf(spec.id, shards);
    const list = byShard.get(shard) ?? [];
    list.push(spec);
    byShard.set(shard, list);
  }
  const batches = [...byShard].flatMap(([shard, list]) =>
    Array.from({ length: Math.ceil(list.length / MAX_CREATE_BATCH) }, (_, i) => ({
      shard,
      specs: list.slice(i * MAX_CREATE_BATCH, (i + 1) * MAX_CREATE_BATCH),
    })),
  );
  const createdAt = Date.now();
  await mapConcurrently(batches, 8, ({ shard, specs: batch }) =>
    env.client.workflow
      .getHandle(shardWorkflowId(idPrefix, shard))
      .executeUpdate(createTimersUpdate, { args: [{ specs: batch }] }),
  );
  const creation = Date.now() - createdAt;
  log(`sharded: created ${n} timers in ${creation} ms (${Math.round((n / creation) * 1000)}/s)`);
  if (Date.now() > start) log('WARNING: creation ran past the first due time; early lateness includes it');

  await waitFor(
    () => receiver.received.size,
    n,
    start + windowMs + 60_000 - Date.now(),
    'sharded: delivered',
  );
  // A worker too busy to answer a query is itself a finding; the figures are still printed.
  const runs = await Promise.all(
    Array.from({ length: shards }, (_, shard) =>
      env.client.workflow
        .getHandle(shardWorkflowId(idPrefix, shard))
        .query(shardStatusQuery)
        .then((status) => status.runs)
        .catch(() => NaN),
    ),
  ).then((all) => all.reduce((a, b) => a + b, 0));
  log(`sharded: ${receiver.received.size}/${n} delivered; shards continued-as-new ${runs} times`);
  const deliveries = [...receiver.received.values()];
  return {
    scheduled: n,
    delivered: deliveries.length,
    lateness: deliveries.map((d) => d.firedAt - d.dueAt),
    endToEnd: deliveries.map((d) => d.receivedAt - d.dueAt),
  };
}

async function benchBaseline(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  { n, windowMs, baselineCap }: Options,
): Promise<Figures> {
  const m = Math.min(n, baselineCap);
  // Starts run at 15–50/s on the SQLite server under load; the lead leaves room for all of them.
  const leadMs = 15_000 + m * 50;
  const start = Date.now() + leadMs;
  const startedAt = Date.now();
  // Started earliest-due first: starting a thousand workflows takes the SQLite server tens of
  // seconds, and a workflow started after its due time would measure the start, not the sleep.
  const dues = Array.from({ length: m }, () => start + Math.floor(Math.random() * windowMs)).sort(
    (a, b) => a - b,
  );
  const handles = await mapConcurrently(
    dues.map((due, i) => ({ due, i })),
    16,
    ({ due, i }): Promise<WorkflowHandle<typeof sleepUntilWorkflow>> =>
      env.client.workflow.start<typeof sleepUntilWorkflow>('sleepUntilWorkflow', {
        workflowId: `baseline-${i}`,
        taskQueue,
        args: [due],
      }),
  );
  const late = dues.filter((due) => due < Date.now()).length;
  if (late > 0) log(`WARNING: the last ${late} baseline workflows were started after their due time`);
  log(`baseline: started ${m} sleeping workflows in ${Date.now() - startedAt} ms`);
  // Each wait is a long poll; aborted when the bench gives up, so none outlives the server.
  const stop = new AbortController();
  const results: ({ dueAt: number; firedAt: number } | undefined)[] = [];
  let woken = 0;
  const waiting = handles.map((handle, i) =>
    env.client
      .withAbortSignal(stop.signal, () => handle.result())
      .then(
        (result) => {
          results[i] = result;
          woken++;
        },
        () => undefined,
      ),
  );
  await waitFor(() => woken, m, start + windowMs + 60_000 - Date.now(), 'baseline: woke');
  stop.abort();
  await Promise.all(waiting);
  const woke = results.filter((r) => r !== undefined);
  log(`baseline: ${woke.length}/${m} woke`);
  return { scheduled: m, delivered: woke.length, lateness: woke.map((r) => r.firedAt - r.dueAt) };
}

function report(opts: Options, sharded: Figures, baseline: Figures): void {
  const pct = (f: Figures) =>
    `${f.delivered}/${f.scheduled} (${((100 * f.delivered) / f.scheduled).toFixed(2)}%)`;
  const rows: [string, string, string, string][] = [
    ['', 'sharded: fired − due', 'sharded: received − due', `baseline sleeps (cap ${opts.baselineCap})`],
    ['delivered', pct(sharded), '', pct(baseline)],
  ];
  const [s, e, b] = [summary(sharded.lateness), summary(sharded.endToEnd), summary(baseline.lateness)];
  ['p50', 'p95', 'p99', 'max'].forEach((label, i) => rows.push([label, s[i]!, e[i]!, b[i]!]));
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  console.log(
    `timer lateness, N=${opts.n} over ${opts.windowMs / 1000} s, ${opts.shards} shards, ` +
      `dev server (SQLite, ${opts.server === 'tuned' ? 'as npm run dev runs it' : "Temporal's defaults"})`,
  );
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

await main();
