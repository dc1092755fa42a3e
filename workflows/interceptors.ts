/**
 * Workflow interceptors module for the worker bundle (`interceptors.workflowModules`): the
 * OpenTelemetry interceptors that continue the caller's trace into the workflow (RunWorkflow,
 * HandleUpdate, ValidateUpdate, HandleSignal spans), carry it on to activities and child
 * workflows, stamp trace ids on workflow log lines, and register the in-sandbox tracer provider
 * that workflows/observability.ts opens transition spans on. Spans leave the sandbox through the
 * `exporter` sink the worker injects (workers/telemetry.ts).
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
