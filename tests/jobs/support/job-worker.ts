/**
 * A worker in its own process, so a test can kill it with SIGKILL mid-run as a crash would.
 * It runs the job workflows and activities with the process backend on the data folder and
 * task queue it is given (or the kubernetes backend when KUBECONFIG_FILE is set), writes telemetry
 * to a JSON-lines file, and prints `ready` once polling.
 *
 * env: TEMPORAL_ADDRESS, TASK_QUEUE, TELEMETRY_FILE, then SWOOSH_DATA_DIR for the process backend
 * or KUBECONFIG_FILE and AGENT_NAMESPACE for the kubernetes one, and WORKFLOW_BUNDLE (the test's
 * prebuilt bundle, to skip bundling again) when set.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createJobActivities } from '../../../activities/jobs/activities';
import { KubernetesJobRunner } from '../../../activities/jobs/kubernetes/runner';
import { ProcessJobRunner } from '../../../activities/jobs/process/runner';
import type { JobRunner } from '../../../activities/jobs/runner';
import { JsonlTelemetrySink, jobWorkflowsPath } from './jobs';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

function jobRunner(): JobRunner {
  if (!process.env.KUBECONFIG_FILE) return new ProcessJobRunner({ dataDir: required('SWOOSH_DATA_DIR') });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG_FILE);
  return new KubernetesJobRunner({
    kubeConfig,
    namespace: required('AGENT_NAMESPACE'),
    pollIntervalMs: 1_000,
  });
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
    runner: jobRunner(),
    telemetry: new JsonlTelemetrySink(required('TELEMETRY_FILE')),
  }),
});
const running = worker.run();
console.log('ready');
await running;
await connection.close();
