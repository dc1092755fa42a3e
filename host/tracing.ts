/**
 * Process tracing bootstrap shared by the worker and the gateway (docs/design.md#observability): an OpenTelemetry
 * NodeSDK with the OTLP/HTTP exporter, started only when OTEL_EXPORTER_OTLP_ENDPOINT (or the
 * traces-specific variable) is set or a test injects an exporter. Otherwise nothing is registered,
 * no interceptor is added and tracing costs nothing. Kept free of @temporalio/worker so the
 * gateway can import it without loading the worker's native runtime.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import { loadTelemetryConfig } from '../schemas/telemetry-config';

/** Tracing as a process runs it: on with a processor, or off. */
export type Tracing =
  | {
      readonly enabled: true;
      readonly resource: Resource;
      readonly spanProcessor: SpanProcessor;
      /** Flushes pending spans and unregisters the global provider. */
      shutdown(): Promise<void>;
    }
  | { readonly enabled: false; shutdown(): Promise<void> };

export interface TracingOptions {
  /** `service.name` of the spans (`swoosh-worker`, `swoosh-gateway`) unless OTEL_SERVICE_NAME is set. */
  serviceName: string;
  /** An exporter to use instead of OTLP (tests pass an in-memory one); spans are sent one by one. */
  spanExporter?: SpanExporter;
  env?: Record<string, string | undefined>;
}

/**
 * Starts OpenTelemetry tracing for this process when it is wanted. Registers the global tracer
 * provider, the AsyncLocalStorage context manager and W3C trace-context propagation, which the
 * Temporal client interceptor needs to put the caller's span into workflow headers. Call once,
 * before creating clients and workers; `shutdown()` on exit flushes what is still batched.
 */
export function startTracing(options: TracingOptions): Tracing {
  const config = loadTelemetryConfig(options.env ?? process.env);
  const wanted =
    options.spanExporter !== undefined ||
    config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  if (!wanted) return { enabled: false, shutdown: () => Promise.resolve() };

  const resource = new Resource({ 'service.name': config.OTEL_SERVICE_NAME ?? options.serviceName });
  // The URL follows the OTLP spec's rule for the two variables; headers and timeouts still come
  // from the standard OTEL_EXPORTER_OTLP_* variables, read by the exporter itself.
  const url =
    config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    `${(config.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').replace(/\/+$/, '')}/v1/traces`;
  const spanProcessor = options.spanExporter
    ? new SimpleSpanProcessor(options.spanExporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url }));
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    spanProcessors: [spanProcessor],
    // SWOOSH emits no OTel log records; without this the SDK would set up an OTLP log exporter.
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return { enabled: true, resource, spanProcessor, shutdown: () => sdk.shutdown() };
}

/**
 * Client interceptors that open a span per client call (start, update, signal, query, …) and pass
 * its context to the workflow in headers. Empty when tracing is off. For `new Client({ interceptors })`.
 */
export function clientTracingInterceptors(tracing: Tracing): ClientInterceptors {
  return tracing.enabled ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : {};
}
