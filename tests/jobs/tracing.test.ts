/**
 * Each agent Job's spawn, follow and reap is a span (docs/design.md#observability), nested under the activity that
 * does it, carrying the job's name, backend and outcome. The activities run in
 * MockActivityEnvironment over the real process backend, with an in-memory span exporter
 * registered as the process's tracer provider.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createJobActivities } from '../../activities/jobs/activities';
import { ProcessJobRunner } from '../../activities/jobs/process/runner';
import { type AgentJobResult, agentJobName } from '../../schemas/agent-job';
import { AGENT_JOB_ATTRIBUTES as J, AGENT_JOB_SPANS } from '../../schemas/trace';
import { echoSpec, MemoryTelemetrySink } from './support/jobs';

const spans = new InMemorySpanExporter();
const provider = new BasicTracerProvider();
provider.addSpanProcessor(new SimpleSpanProcessor(spans));
let dataDir: string;

beforeAll(async () => {
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-job-tracing-'));
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  await rm(dataDir, { recursive: true, force: true });
});

test('spawn, follow and reap of an agent Job are spans under one parent, with name, backend and outcome', async () => {
  const runner = new ProcessJobRunner({ dataDir, pollIntervalMs: 100 });
  const activities = createJobActivities({ runner, telemetry: new MemoryTelemetrySink() });
  const owner = { workflowId: 'mission-traced', seq: 0 };
  const jobName = agentJobName(owner);
  const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  const parent = trace.getTracer('test').startSpan('RunActivity:runAgentJob');
  const result = (await context.with(trace.setSpan(context.active(), parent), () =>
    env().run(activities.runAgentJob, { jobName, owner, spec: echoSpec({ exitCode: 3 }) }),
  )) as AgentJobResult;
  parent.end();
  expect(result.outcome).toBe('failed');
  await env().run(activities.reapFinishedJobs, { olderThanSeconds: 0 });

  const finished = spans.getFinishedSpans();
  const named = (name: string) => finished.filter((s) => s.name === name);
  const [spawn] = named(AGENT_JOB_SPANS.spawn);
  const [follow] = named(AGENT_JOB_SPANS.follow);
  const [reap] = named(AGENT_JOB_SPANS.reap);
  for (const span of [spawn, follow]) {
    expect(span?.parentSpanId).toBe(parent.spanContext().spanId);
    expect(span?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span?.attributes[J.name]).toBe(jobName);
    expect(span?.attributes[J.backend]).toBe('process');
  }
  expect(follow?.attributes[J.outcome]).toBe('failed');
  expect(reap?.attributes).toMatchObject({
    [J.name]: jobName,
    [J.backend]: 'process',
    [J.outcome]: 'failed',
  });
  expect(await runner.list()).toEqual([]);
});
