import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../activities';
import type { WorkerTuning } from '../schemas/config';
import { type Tracing, workerTracingOptions } from './telemetry';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Path of the module the worker bundles; every SWOOSH workflow is exported from it. */
export const workflowsPath = here('../workflows/index.ts');

/** The workflow interceptors module every worker loads, traced or not (its comment says why). */
export const staleClockGuardPath = here('../workflows/stale-clock-guard.ts');

/**
 * tweetnacl (the legacy verifier that replays of older histories use) probes Node's `crypto` for a
 * random source at load time; workflows only verify, never generate keys, so the module is not
 * needed in the sandbox and the bundler may ignore it.
 *
 * The curve module and the verifier's key cache are preloaded: evaluated once per workflow thread
 * and shared by every workflow run on it, so the base point's and each signer's window tables
 * (~10 ms and ~6 ms to build) are built once per thread rather than once per mission started,
 * continued as new or replayed. The SDK freezes what a preloaded module exports, which the curve
 * code tolerates (its caches live in WeakMaps, the key cache in a closure); zod schemas do not (zod
 * defines derived schemas on them lazily), so the schema modules stay per run.
 */
export const bundlerOptions = {
  ignoreModules: ['crypto'],
  preloadModules: ['@noble/curves/ed25519.js', here('../workflows/statechart/curve-points.ts')],
  webpackConfigHook: compileToEs2022,
};

type WebpackConfiguration = Parameters<
  NonNullable<NonNullable<WorkerOptions['bundlerOptions']>['webpackConfigHook']>
>[0];

/**
 * The SDK compiles workflow TypeScript down to ES2017, which turns every object spread into a
 * helper call and every private field into a WeakMap lookup: the reducer spreads on every
 * transition, and canonical JSON keeps its memo in private fields because a field costs about a
 * property where a weak map entry costs far more. The sandbox is a V8 context of the very Node that
 * runs the worker, which has all of ES2022, so the bundle keeps that syntax (docs/workers.md,
 * "The workflow bundle").
 */
export function compileToEs2022(config: WebpackConfiguration): WebpackConfiguration {
  const rules = config.module?.rules ?? [];
  const swc = rules.find(
    (rule) =>
      typeof rule === 'object' &&
      rule !== null &&
      typeof rule.use === 'object' &&
      rule.use !== null &&
      'loader' in rule.use &&
      String(rule.use.loader).includes('swc-loader'),
  );
  const options = (swc as { use?: { options?: { jsc?: { target?: string } } } } | undefined)?.use?.options;
  if (options?.jsc?.target === undefined)
    throw new Error('the SDK no longer bundles workflows through swc-loader with a jsc.target to raise');
  options.jsc.target = 'es2022';
  return config;
}

export interface SwooshWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Real dependencies for the activities; without them the worker runs workflows only. */
  deps?: ActivityDeps;
  /** OpenTelemetry interceptors and span sinks; without it the worker traces nothing. */
  tracing?: Tracing;
  /** Concurrency and cache settings (`loadWorkerTuning`); unset ones keep the SDK's defaults. */
  tuning?: WorkerTuning;
  overrides?: Partial<WorkerOptions>;
}

/** The SDK options a tuning sets; a setting left unset is left out, so the SDK's default holds. */
export function tuningOptions(tuning: WorkerTuning = {}): Partial<WorkerOptions> {
  const set: Partial<WorkerOptions> = {
    maxConcurrentWorkflowTaskExecutions: tuning.SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: tuning.SWOOSH_WORKER_MAX_CACHED_WORKFLOWS,
    workflowThreadPoolSize: tuning.SWOOSH_WORKER_WORKFLOW_THREADS,
    maxConcurrentLocalActivityExecutions: tuning.SWOOSH_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxConcurrentActivityTaskExecutions: tuning.SWOOSH_WORKER_MAX_CONCURRENT_ACTIVITIES,
  };
  return Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined));
}

/** Builds the SWOOSH worker; tests and the process entry point share this one wiring. */
export async function createSwooshWorker(options: SwooshWorkerOptions): Promise<Worker> {
  return Worker.create({
    ...tuningOptions(options.tuning),
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath,
    bundlerOptions,
    ...(options.deps ? { activities: createActivities(options.deps) } : {}),
    ...interceptorOptions(options.tracing),
    ...options.overrides,
  });
}

/** The stale-clock guard, and the tracing interceptors and sinks when tracing is on. */
function interceptorOptions(tracing?: Tracing): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const traced = tracing ? workerTracingOptions(tracing) : {};
  return {
    ...traced,
    interceptors: {
      ...traced.interceptors,
      workflowModules: [staleClockGuardPath, ...(traced.interceptors?.workflowModules ?? [])],
    },
  };
}
