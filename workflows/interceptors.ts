/**
 * Workflow interceptors module for the worker bundle (`interceptors.workflowModules`): continues
 * the caller's trace into the workflow (RunWorkflow, HandleSignal, HandleUpdate, ValidateUpdate
 * spans), carries it on to activities and child workflows in their headers, stamps trace ids on
 * workflow log lines, and registers the in-sandbox tracer provider that workflows/observability.ts
 * opens transition spans on. Spans leave the sandbox through the `exporter` sink the worker
 * injects (workers/telemetry.ts).
 *
 * Why not @temporalio/interceptors-opentelemetry's own workflow interceptors: they await around
 * every intercepted call, so a workflow's continuations run a few microtasks later than without
 * them. When concurrent coroutines race (the mission's regions do), that reorders commands, and a
 * history recorded with tracing off fails replay with it on (and the other way round). These
 * interceptors call `next` synchronously and hand back its own promise, ending the span on a side
 * branch. Span and trace ids are derived from the run id and a counter instead of `Math.random`,
 * which in a workflow is the seeded generator `uuid4()` draws from: spans drawing on it would
 * change every later uuid. So switching tracing on or off never changes a workflow's commands
 * (tests/observability/interceptors-replay.test.ts). Span names and header format are the
 * package's, so its client and activity interceptors join the same trace.
 */
// First: it gives the sandbox the `performance` global OpenTelemetry reads when it loads.
import '@temporalio/interceptors-opentelemetry/lib/workflow/runtime';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  type Context,
  context,
  isSpanContextValid,
  type Span,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { BasicTracerProvider, type IdGenerator, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  extractContextFromHeaders,
  headersWithContext,
} from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { SPAN_DELIMITER, SpanName } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { ContextManager } from '@temporalio/interceptors-opentelemetry/lib/workflow/context-manager';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter';
import {
  ContinueAsNew,
  type WorkflowInternalsInterceptor,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
  workflowInfo,
} from '@temporalio/workflow';

/** Ids from the run id and a counter: unique per run, identical on replay, no draw on `Math.random`. */
let idCounter = 0;
const derivedId = (length: number): string =>
  bytesToHex(sha256(utf8ToBytes(`${workflowInfo().runId}:${++idCounter}`))).slice(0, length);
const ids: IdGenerator = { generateTraceId: () => derivedId(32), generateSpanId: () => derivedId(16) };

let contextManager: ContextManager | undefined;
let sandboxTracer: Tracer | undefined;

/** The sandbox's tracer provider, registered once: spans leave through the package's `exporter` sink. */
function tracerOf(): Tracer {
  if (sandboxTracer) return sandboxTracer;
  contextManager = new ContextManager();
  const provider = new BasicTracerProvider({ idGenerator: ids });
  provider.addSpanProcessor(new SimpleSpanProcessor(new SpanExporter()));
  provider.register({ contextManager });
  sandboxTracer = provider.getTracer('swoosh-workflow-interceptors');
  return sandboxTracer;
}

/** Runs `call` inside a new active span and ends the span when its promise settles, without delaying it. */
function traced<T>(name: string, parent: Context | undefined, call: (span: Span) => Promise<T>): Promise<T> {
  const tracer = tracerOf();
  const run = (): Promise<T> =>
    tracer.startActiveSpan(name, (span) => {
      const result = call(span);
      result.then(
        () => {
          span.setStatus({ code: SpanStatusCode.OK });
          span.end();
        },
        (error: unknown) => {
          if (!(error instanceof ContinueAsNew)) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
          }
          span.end();
        },
      );
      return result;
    });
  return parent ? context.with(parent, run) : run();
}

const named = (kind: SpanName, detail: string): string => `${kind}${SPAN_DELIMITER}${detail}`;

class InboundTracing implements WorkflowInboundCallsInterceptor {
  execute: NonNullable<WorkflowInboundCallsInterceptor['execute']> = (input, next) =>
    traced(
      named(SpanName.WORKFLOW_EXECUTE, workflowInfo().workflowType),
      extractContextFromHeaders(input.headers),
      () => next(input),
    );

  handleSignal: NonNullable<WorkflowInboundCallsInterceptor['handleSignal']> = (input, next) =>
    traced(
      named(SpanName.WORKFLOW_HANDLE_SIGNAL, input.signalName),
      extractContextFromHeaders(input.headers),
      () => next(input),
    );

  handleUpdate: NonNullable<WorkflowInboundCallsInterceptor['handleUpdate']> = (input, next) =>
    traced(
      named(SpanName.WORKFLOW_HANDLE_UPDATE, input.name),
      extractContextFromHeaders(input.headers),
      (span) => {
        span.setAttribute('temporalUpdateId', input.updateId);
        return next(input);
      },
    );

  validateUpdate: NonNullable<WorkflowInboundCallsInterceptor['validateUpdate']> = (input, next) => {
    const tracer = tracerOf();
    const run = (): void =>
      tracer.startActiveSpan(named(SpanName.WORKFLOW_VALIDATE_UPDATE, input.name), (span) => {
        span.setAttribute('temporalUpdateId', input.updateId);
        try {
          next(input);
          span.setStatus({ code: SpanStatusCode.OK });
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
          throw error;
        } finally {
          span.end();
        }
      });
    const parent = extractContextFromHeaders(input.headers);
    if (parent) context.with(parent, run);
    else run();
  };
}

class OutboundTracing implements WorkflowOutboundCallsInterceptor {
  scheduleActivity: NonNullable<WorkflowOutboundCallsInterceptor['scheduleActivity']> = (input, next) =>
    traced(named(SpanName.ACTIVITY_START, input.activityType), undefined, () =>
      next({ ...input, headers: headersWithContext(input.headers) }),
    );

  scheduleLocalActivity: NonNullable<WorkflowOutboundCallsInterceptor['scheduleLocalActivity']> = (
    input,
    next,
  ) =>
    traced(named(SpanName.ACTIVITY_START, input.activityType), undefined, () =>
      next({ ...input, headers: headersWithContext(input.headers) }),
    );

  startChildWorkflowExecution: NonNullable<WorkflowOutboundCallsInterceptor['startChildWorkflowExecution']> =
    (input, next) =>
      traced(named(SpanName.CHILD_WORKFLOW_START, input.workflowType), undefined, () =>
        next({ ...input, headers: headersWithContext(input.headers) }),
      );

  /** Workflow log lines carry the active trace, so a transition's line finds its span. */
  getLogAttributes: NonNullable<WorkflowOutboundCallsInterceptor['getLogAttributes']> = (input, next) => {
    const span = trace.getSpan(context.active())?.spanContext();
    if (!span || !isSpanContextValid(span)) return next(input);
    return next({
      trace_id: span.traceId,
      span_id: span.spanId,
      trace_flags: `0${span.traceFlags.toString(16)}`,
      ...input,
    });
  };
}

class InternalsTracing implements WorkflowInternalsInterceptor {
  dispose: NonNullable<WorkflowInternalsInterceptor['dispose']> = (input, next) => {
    contextManager?.disable();
    next(input);
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  tracerOf();
  return {
    inbound: [new InboundTracing()],
    outbound: [new OutboundTracing()],
    internals: [new InternalsTracing()],
  };
};
