/**
 * A dev server and a SWOOSH worker with the process backend on its own task queue, for the tests
 * that run missions with real agents; `stop` shuts the worker down and stops the server.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../../activities';
import { createSwooshWorker } from '../../../workers/worker';
import { testDeps } from '../../lifecycle/support/missions';
import { startDevServerEnv } from '../../support/temporal';

export interface AgentWorker {
  env: TestWorkflowEnvironment;
  deps: ActivityDeps;
  stop(): Promise<void>;
}

export async function startAgentWorker(taskQueue: string): Promise<AgentWorker> {
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
