/**
 * A worker for the clock probe in a process of its own, so the test can SIGKILL it. Configured by
 * environment variables; prints `ready` once it polls.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { ClockProbeActivities } from './clock-probe';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

Runtime.install({ logger: new DefaultLogger('ERROR') });
const connection = await NativeConnection.connect({ address: required('CLOCK_PROBE_ADDRESS') });
const activities: ClockProbeActivities = {
  // Long enough for the test to kill the worker that holds the run while it runs.
  touch: () => new Promise((resolve) => setTimeout(resolve, 2000)),
};
try {
  const worker = await Worker.create({
    connection,
    taskQueue: required('CLOCK_PROBE_TASK_QUEUE'),
    workflowBundle: { codePath: required('CLOCK_PROBE_BUNDLE') },
    activities,
  });
  console.log('ready');
  await worker.run();
} finally {
  await connection.close();
}
