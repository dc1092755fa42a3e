/** Worker process: polls the SWOOSH task queue until SIGINT/SIGTERM, then drains and exits. */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../schemas/config';
import { createSwooshWorker } from './worker';

const config = loadConfig();
const connection = await NativeConnection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
try {
  const worker = await createSwooshWorker({
    connection,
    namespace: config.SWOOSH_NAMESPACE,
    taskQueue: config.SWOOSH_TASK_QUEUE,
  });
  console.log(
    `[swoosh worker] polling task queue ${config.SWOOSH_TASK_QUEUE} on ${config.SWOOSH_TEMPORAL_ADDRESS}`,
  );
  // The SDK installs SIGINT/SIGTERM handlers that shut the worker down gracefully.
  await worker.run();
} finally {
  await connection.close();
}
