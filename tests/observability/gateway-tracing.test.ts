/**
 * Gateway tracing on the real dev server: an express app wired with the gateway's request span
 * drives the probe workflow through a traced Temporal client. One HTTP request's trace must run
 * through the Update into the workflow, its activity and the transition span.
 */
import { fileURLToPath } from 'node:url';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestTracing } from '../../api/telemetry';
import { SPAN_ATTRIBUTES } from '../../schemas/trace';
import { clientTracingInterceptors, startTracing, workerTracingOptions } from '../../workers/telemetry';
import { bundlerOptions } from '../../workers/worker';
import { postJson, serve, type Served } from '../support/http';
import { startDevServerEnv, taskQueueFor } from '../support/temporal';
import { createProbeActivities } from './support/probe-activities';
import {
  observabilityProbeWorkflow,
  probeTransitionUpdate,
  type ProbeProposal,
} from './support/probe-workflow';

const spans = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'swoosh-gateway-test', spanExporter: spans, env: {} });
const probeWorkflowsPath = fileURLToPath(new URL('./support/probe-workflow.ts', import.meta.url));
const taskQueue = taskQueueFor('gateway tracing');

const proposal: ProbeProposal = {
  transition: 'Council_Elect',
  hlc: '2026-11-23T12:00:00.000+00:00#1',
  window_id: 'backbeat:W-2026-11-23-12',
  evidence: ['ucxl://swoosh:M-gw/ballot/1'],
  retries: 0,
  job: { outcome: 'succeeded', durationMs: 10 },
};

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let served: Served;

beforeAll(async () => {
  env = await startDevServerEnv();
  const client = new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    interceptors: clientTracingInterceptors(tracing),
  });
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowsPath: probeWorkflowsPath,
    bundlerOptions,
    activities: createProbeActivities(),
    ...workerTracingOptions(tracing),
  });
  running = worker.run();

  // A stand-in for the gateway's routes, wired the way api/app.ts is to wire the real ones.
  const app = express();
  app.use(requestTracing());
  app.use(express.json());
  app.post('/probe/:id', async (req, res) => {
    const id = String(req.params.id);
    const handle = await client.workflow.start(observabilityProbeWorkflow, {
      workflowId: id,
      taskQueue,
      args: [`M-${id}`],
    });
    try {
      const post = await handle.executeUpdate(probeTransitionUpdate, { args: [req.body as ProbeProposal] });
      res.status(202).json({ post });
    } catch (error) {
      if (!(error instanceof WorkflowUpdateFailedError)) throw error;
      res.status(400).json({ detail: error.message });
    }
  });
  served = await serve(app);
});

afterAll(async () => {
  await served?.close();
  worker?.shutdown();
  await running;
  await tracing.shutdown();
  await env?.teardown();
});

function byName(name: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.name === name);
}

describe('a gateway request', () => {
  it('runs one trace from the HTTP request through the update, the workflow and its activity', async () => {
    expect((await postJson(`${served.baseUrl}/probe/gw-1`, proposal)).status).toBe(202);
    const [request] = byName('HTTP POST /probe/:id');
    expect(request).toBeDefined();
    const traceId = request!.spanContext().traceId;
    const inTrace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const names = inTrace.map((s) => s.name);
    for (const name of [
      'StartWorkflow:observabilityProbeWorkflow',
      'StartWorkflowUpdate:probeTransition',
      'HandleUpdate:probeTransition',
      'StartActivity:runProbeJob',
      'RunActivity:runProbeJob',
      'transition:Council_Elect',
    ])
      expect(names, name).toContain(name);
    // Connected: every span but the request's has its parent in the same trace.
    const ids = new Set(inTrace.map((s) => s.spanContext().spanId));
    for (const span of inTrace.filter((s) => s !== request))
      expect(ids, span.name).toContain(span.parentSpanId);
    const transition = inTrace.find((s) => s.name === 'transition:Council_Elect')!;
    expect(transition.attributes[SPAN_ATTRIBUTES.mission]).toBe('M-gw-1');
    expect(request!.attributes['http.response.status_code']).toBe(202);
  });

  it('names the failing guard on the span of a rejected proposal in the request trace', async () => {
    const rejected = { ...proposal, reject: { guard: 'membership', reasons: ['not a council member'] } };
    expect((await postJson(`${served.baseUrl}/probe/gw-2`, rejected)).status).toBe(400);
    const request = byName('HTTP POST /probe/:id').find(
      (s) => s.attributes['http.response.status_code'] === 400,
    )!;
    const span = byName('transition:Council_Elect').find(
      (s) => s.spanContext().traceId === request.spanContext().traceId,
    );
    expect(span?.attributes[SPAN_ATTRIBUTES.failingGuard]).toBe('membership');
  });
});
