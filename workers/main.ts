/** Worker process: polls the SWOOSH task queue until SIGINT/SIGTERM, then drains and exits. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../schemas/config';
import { buildDependencies } from './dependencies';
import { ensureJobReaperSchedule } from './job-reaper-schedule';
import { createSwooshWorker } from './worker';

const config = loadConfig();
const { deps, jobs } = await buildDependencies();
const connection = await NativeConnection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
try {
  const clientConnection = await Connection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection: clientConnection, namespace: config.SWOOSH_NAMESPACE });
    await ensureJobReaperSchedule(client, {
      taskQueue: config.SWOOSH_TASK_QUEUE,
      every: jobs.SWOOSH_JOB_REAPER_EVERY,
      olderThanSeconds: jobs.SWOOSH_JOB_REAPER_AGE_SECONDS,
    });
  } finally {
    await clientConnection.close();
  }
  const worker = await createSwooshWorker({
    connection,
    namespace: config.SWOOSH_NAMESPACE,
    taskQueue: config.SWOOSH_TASK_QUEUE,
    deps,
  });
  console.log(
    `[swoosh worker] polling task queue ${config.SWOOSH_TASK_QUEUE} on ${config.SWOOSH_TEMPORAL_ADDRESS} (data: ${deps.dataDir}, orchestrator ${deps.orchestrator.keyId})`,
  );
  // The SDK installs SIGINT/SIGTERM handlers that shut the worker down gracefully.
  await worker.run();
} finally {
  await connection.close();
}
