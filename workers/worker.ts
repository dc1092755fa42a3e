import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';

/** Path of the module the worker bundles; every SWOOSH workflow is exported from it. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface SwooshWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  overrides?: Partial<WorkerOptions>;
}

/** Builds the SWOOSH worker; tests and the process entry point share this one wiring. */
export async function createSwooshWorker(options: SwooshWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath,
    ...options.overrides,
  });
}
