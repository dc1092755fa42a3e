/**
 * A dev server and a SWOOSH worker with the test dependencies (agents on the process backend) on
 * its own task queue, for the tests that run missions on a real server; `stop` shuts the worker
 * down and stops the server.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities';
import { createSwooshWorker } from '../../workers/worker';
import { testDeps } from '../lifecycle/support/missions';
import { startDevServerEnv } from './temporal';

export interface DevWorker {
  env: TestWorkflowEnvironment;
  deps: ActivityDeps;
  stop(): Promise<void>;
}

export async function startDevWorker(taskQueue: string): Promise<DevWorker> {
  const [env, deps] = await Promise.all([startDevServerEnv(), testDeps()]);
  const worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
  });
  const running = worker.run();
  return {
    env,
    deps,
    stop: async () => {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
