import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../activities';
import { type Tracing, workerTracingOptions } from './telemetry';

/** Path of the module the worker bundles; every SWOOSH workflow is exported from it. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * tweetnacl (ed25519 verification in the statechart core) probes Node's `crypto` for a random
 * source at load time; workflows only verify, never generate keys, so the module is not needed in
 * the sandbox and the bundler may ignore it.
 */
export const bundlerOptions = { ignoreModules: ['crypto'] };

export interface SwooshWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Real dependencies for the activities; without them the worker runs workflows only. */
  deps?: ActivityDeps;
  /** OpenTelemetry interceptors and span sinks; without it the worker traces nothing. */
  tracing?: Tracing;
  overrides?: Partial<WorkerOptions>;
}

/** Builds the SWOOSH worker; tests and the process entry point share this one wiring. */
export async function createSwooshWorker(options: SwooshWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath,
    bundlerOptions,
    ...(options.deps ? { activities: createActivities(options.deps) } : {}),
    ...(options.tracing ? workerTracingOptions(options.tracing) : {}),
    ...options.overrides,
  });
}
