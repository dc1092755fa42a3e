/**
 * Telemetry bootstrap for the worker (and the tracing half of it for the gateway), docs/design.md#observability.
 *
 * Metrics: Temporal Core serves Prometheus text itself. The Runtime is installed with a Prometheus
 * exporter, no metric prefix and bucket overrides from schemas/metrics.ts, so the workflow
 * `metricMeter` (replay-safe), the activity `metricMeter` and Temporal's own worker metrics all
 * appear on one `/metrics`, with the `swoosh_*` names exactly as the contract spells them.
 * Temporal's own metrics lose their `temporal_` prefix with this (they keep their SDK names:
 * `workflow_completed`, `activity_execution_latency`, …) — the price of exact `swoosh_*` names,
 * since Core applies one prefix to every metric.
 *
 * Logs: the Runtime logger writes one JSON object per line to stdout; workflow logs (and so the
 * transition lines of workflows/observability.ts) reach it through the SDK's logger sink, which is
 * silent during replay.
 *
 * Traces: host/tracing.ts starts the process's tracer provider (only when an OTLP endpoint is
 * configured); this module adds the worker-side interceptors and the workflow span sink.
 */
import type { LogLevel } from '@temporalio/common';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import {
  DefaultLogger,
  type InjectedSink,
  type LogEntry,
  Runtime,
  type WorkerOptions,
} from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import { fileURLToPath } from 'node:url';
import { histogramBucketOverrides } from '../schemas/metrics';
import { loadTelemetryConfig, type TelemetryConfig } from '../schemas/telemetry-config';
import type { Tracing } from '../host/tracing';

export { clientTracingInterceptors, startTracing, type Tracing, type TracingOptions } from '../host/tracing';

/** The workflow interceptors module the worker bundles when tracing is on. */
export const workflowInterceptorsPath = fileURLToPath(
  new URL('../workflows/interceptors.ts', import.meta.url),
);

/** Writes one line; the default is stdout, tests collect lines instead. */
export type LineWriter = (line: string) => void;

const stdoutLine: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

/**
 * A Runtime logger that writes every entry as one JSON object per line: `ts`, `level`, `msg`,
 * then the entry's metadata (for workflow logs: the SDK's workflow context and the caller's
 * fields). Values that JSON cannot carry (bigint, Error) are turned into strings rather than
 * dropping the line.
 */
export function jsonLinesLogger(level: LogLevel, write: LineWriter = stdoutLine): DefaultLogger {
  return new DefaultLogger(level, (entry: LogEntry) => {
    const line = {
      ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
      level: entry.level,
      msg: entry.message,
      ...entry.meta,
    };
    write(
      JSON.stringify(line, (_key, value: unknown) =>
        typeof value === 'bigint' ? value.toString() : value instanceof Error ? value.message : value,
      ),
    );
  });
}

export interface WorkerRuntimeOptions {
  /** `host:port` of the Prometheus `/metrics` endpoint, or `off`. */
  metricsAddress: TelemetryConfig['SWOOSH_METRICS_ADDRESS'];
  logLevel: LogLevel;
  writeLine?: LineWriter;
}

/** Runtime options for SWOOSH: JSON-lines logs and, unless off, Prometheus metrics. */
export function workerRuntimeOptions(options: WorkerRuntimeOptions): Parameters<typeof Runtime.install>[0] {
  return {
    logger: jsonLinesLogger(options.logLevel, options.writeLine),
    ...(options.metricsAddress === 'off'
      ? {}
      : {
          telemetryOptions: {
            metrics: {
              // One prefix applies to every metric Core exports; '' keeps `swoosh_*` exact.
              metricPrefix: '',
              prometheus: {
                bindAddress: options.metricsAddress,
                countersTotalSuffix: false,
                unitSuffix: false,
                useSecondsForDurations: true,
                histogramBucketOverrides: histogramBucketOverrides(),
              },
            },
          },
        }),
  };
}

/**
 * Installs the process-global Temporal Runtime for a worker process. Must run before any
 * NativeConnection or Worker is created (the SDK allows one install per process).
 */
export function installWorkerRuntime(options: WorkerRuntimeOptions): Runtime {
  return Runtime.install(workerRuntimeOptions(options));
}

/** Reads the telemetry environment and installs the worker Runtime from it. */
export function installWorkerRuntimeFromEnv(env: Record<string, string | undefined> = process.env): {
  runtime: Runtime;
  config: TelemetryConfig;
} {
  const config = loadTelemetryConfig(env);
  const runtime = installWorkerRuntime({
    metricsAddress: config.SWOOSH_METRICS_ADDRESS,
    logLevel: config.SWOOSH_LOG_LEVEL,
  });
  return { runtime, config };
}

/** The workflow's identity on its spans. The SDK's sink would copy the whole WorkflowInfo, memo
 * (a mission's objective, free text) and search attributes included, into every span. */
const SPAN_INFO_FIELDS = [
  'namespace',
  'taskQueue',
  'workflowId',
  'runId',
  'workflowType',
  'attempt',
] as const;

function workflowSpanExporter(
  tracing: Extract<Tracing, { enabled: true }>,
): InjectedSink<OpenTelemetryWorkflowExporter> {
  const sdk = makeWorkflowExporter(tracing.spanProcessor, tracing.resource);
  return {
    export: {
      ...sdk.export,
      fn: (info, spans) => {
        const identity = Object.fromEntries(SPAN_INFO_FIELDS.map((k) => [k, info[k]]));
        // The sink only spreads `info` into the attributes, so the identity alone is what it needs.
        return sdk.export.fn(identity as unknown as WorkflowInfo, spans);
      },
    },
  };
}

/**
 * The worker options that carry a trace through workflows and activities: the workflow
 * interceptors module, the activity interceptors and the sink that exports workflow spans. Empty
 * when tracing is off. Spread into `Worker.create` (and into `Worker.runReplayHistory`, which
 * needs the same interceptors to replay histories recorded with them).
 */
export function workerTracingOptions(tracing: Tracing): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!tracing.enabled) return {};
  return {
    interceptors: {
      workflowModules: [workflowInterceptorsPath],
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: workflowSpanExporter(tracing) },
  };
}
