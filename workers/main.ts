/** Worker process: polls the SWOOSH task queue until SIGINT/SIGTERM, then drains and exits. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { openDeadLetterStore } from '../activities/stores';
import { createFileParkedTimerStore, parkedTimersDir } from '../host/parked-timers';
import { createTimerEventLog, timerEventsDir } from '../host/timer-events';
import {
  effectiveParkAfterMs,
  loadConfig,
  loadStoreConfig,
  loadTimerConfig,
  loadWorkerTuning,
} from '../schemas/config';
import { buildDependencies } from './dependencies';
import { ensureJobReaperSchedule } from './job-reaper-schedule';
import { ensureSearchAttributes } from './search-attributes';
import { clientTracingInterceptors, installWorkerRuntimeFromEnv, startTracing } from './telemetry';
import { checkTimerShardCount, configureTimerShards } from './timers';
import { createSwooshWorker, tuningOptions } from './worker';

// Whatever this process writes under the data folder (ledgers, evidence, keys, dead letters) is
// its own user's alone, whatever mode a writer asks for (0600/0700).
process.umask(0o077);
const config = loadConfig();
const tuning = loadWorkerTuning();
// Before any connection: the Runtime (Prometheus /metrics, JSON-lines logs) is installed once per process.
const telemetry = installWorkerRuntimeFromEnv();
const tracing = startTracing({ serviceName: 'swoosh-worker' });
const { deps, jobs, licenceNote } = await buildDependencies();
console.log(`[swoosh worker] ${licenceNote}`);
const connection = await NativeConnection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
// Open for the worker's life: timer activities deliver updates and start shards through it.
const clientConnection = await Connection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
try {
  const client = new Client({
    connection: clientConnection,
    namespace: config.SWOOSH_NAMESPACE,
    interceptors: clientTracingInterceptors(tracing),
  });
  // Before anything starts a workflow: a cluster that lacks them refuses every mission start.
  const added = await ensureSearchAttributes(clientConnection, config.SWOOSH_NAMESPACE);
  if (added.length > 0) {
    console.log(
      `[swoosh worker] registered search attributes ${added.join(', ')} on ${config.SWOOSH_NAMESPACE}`,
    );
  }
  await ensureJobReaperSchedule(client, {
    taskQueue: config.SWOOSH_TASK_QUEUE,
    every: jobs.SWOOSH_JOB_REAPER_EVERY,
    olderThanSeconds: jobs.SWOOSH_JOB_REAPER_AGE_SECONDS,
  });
  const timers = loadTimerConfig();
  await checkTimerShardCount(client, timers.shards);
  const store = loadStoreConfig();
  const parkAfterMs = effectiveParkAfterMs(timers, store);
  deps.timers = {
    signer: deps.orchestrator,
    deadLetters: openDeadLetterStore(store, deps.dataDir),
    ...(parkAfterMs > 0 && { parked: createFileParkedTimerStore(parkedTimersDir(deps.dataDir)) }),
    ledger: deps.ledger,
    events: createTimerEventLog(timerEventsDir(deps.dataDir), deps.orchestrator),
    client,
    outbound: deps.outbound,
  };
  const worker = await createSwooshWorker({
    connection,
    namespace: config.SWOOSH_NAMESPACE,
    taskQueue: config.SWOOSH_TASK_QUEUE,
    deps,
    tracing,
    tuning,
  });
  console.log(
    `[swoosh worker] polling task queue ${config.SWOOSH_TASK_QUEUE} on ${config.SWOOSH_TEMPORAL_ADDRESS} (data: ${deps.dataDir}, orchestrator ${deps.orchestrator.keyId}, ${timers.shards} timer shards, metrics ${telemetry.config.SWOOSH_METRICS_ADDRESS}, tuning ${JSON.stringify(tuningOptions(tuning))})`,
  );
  // The SDK installs SIGINT/SIGTERM handlers that shut the worker down gracefully.
  const running = worker.run();
  // Shards get this worker's SWOOSH_TIMER_TARGETS for their checks at firing and its owner keys
  // for the halt (docs/timers.md#owner-halt), by an update (with start) that a worker must run:
  // this one is polling by now (before, a restart waited on itself).
  // Retried in the background rather than fatal: a shard whose worker was killed mid-task refuses
  // updates until a worker runs that task again, and this worker is the one to do it.
  const configured = configureTimerShards(
    client,
    config.SWOOSH_TASK_QUEUE,
    timers.shards,
    {
      settings: {
        timerTargets: timers.timerTargets,
        owners: { keys: config.SWOOSH_OWNER_KEYS, quorum: config.SWOOSH_OWNER_QUORUM },
        snapshotBudgetBytes: timers.capacityBytes,
        parkAfterMs,
      },
    },
    running,
    (line) => console.warn(`[swoosh worker] ${line}`),
  );
  await running;
  await configured;
} finally {
  // Ledger locks held for busy missions are let go now, not left to be judged stale.
  await deps.ledger.close();
  await Promise.all([deps.evidence.close(), deps.timers?.deadLetters.close(), deps.timers?.parked?.close()]);
  await clientConnection.close();
  await connection.close();
  await tracing.shutdown();
}
