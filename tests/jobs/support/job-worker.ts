/**
 * A worker in its own process, so a test can kill it with SIGKILL mid-run as a crash would.
 * It runs the job workflows and activities with the process backend on the data folder and
 * task queue it is given, writes telemetry to a JSON-lines file, and prints `ready` once polling.
 *
 * env: TEMPORAL_ADDRESS, TASK_QUEUE, SWOOSH_DATA_DIR, TELEMETRY_FILE, and WORKFLOW_BUNDLE (the
 * test's prebuilt bundle, to skip bundling again) when set.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createJobActivities } from '../../../activities/jobs/activities';
import { ProcessJobRunner } from '../../../activities/jobs/process/runner';
import { JsonlTelemetrySink, jobWorkflowsPath } from './jobs';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
const worker = await Worker.create({
  connection,
  taskQueue: required('TASK_QUEUE'),
  ...(process.env.WORKFLOW_BUNDLE
    ? { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE } }
    : { workflowsPath: jobWorkflowsPath }),
  // This worker is killed on purpose: let its sticky workflow tasks move to the next worker quickly.
  stickyQueueScheduleToStartTimeout: '2s',
  activities: createJobActivities({
    runner: new ProcessJobRunner({ dataDir: required('SWOOSH_DATA_DIR') }),
    telemetry: new JsonlTelemetrySink(required('TELEMETRY_FILE')),
  }),
});
const running = worker.run();
console.log('ready');
await running;
await connection.close();
