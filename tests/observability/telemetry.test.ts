/**
 * Worker telemetry end to end on the real dev server: a scripted run of the probe workflow through
 * a traced client, then a scrape of the worker's Prometheus endpoint, the JSON log lines and the
 * exported spans — and a replay of the same history that must change none of them.
 */
import { fileURLToPath } from 'node:url';
import { context, trace, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TransitionName } from '../../schemas/statechart';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LogEnvelopeSchema,
  TRANSITION_LOG_MESSAGES,
  TransitionLogLineSchema,
  type TransitionLogLine,
} from '../../schemas/log-record';
import { METRICS, type MetricSpec } from '../../schemas/metrics';
import { SPAN_ATTRIBUTES } from '../../schemas/trace';
import { clientTracingInterceptors, workerTracingOptions } from '../../workers/telemetry';
import { bundlerOptions } from '../../workers/worker';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { createProbeActivities } from './support/probe-activities';
import {
  observabilityProbeWorkflow,
  probeFinishSignal,
  probeTransitionUpdate,
  type ProbeProposal,
} from './support/probe-workflow';
import { installTestTelemetry } from './support/worker-telemetry';
import { parseExposition, samplesOf, valueOf, type Exposition } from './support/prometheus';

const { metricsPort, logLines, spans, tracing } = await installTestTelemetry('swoosh-test');

const probeWorkflowsPath = fileURLToPath(new URL('./support/probe-workflow.ts', import.meta.url));
const MISSION = 'M-observability-1';
const WORKFLOW_ID = 'observability-probe-1';

const accepted: ProbeProposal[] = [
  {
    transition: 'Ingestion_Fetch',
    hlc: '2026-11-23T12:00:00.000+00:00#1',
    window_id: 'backbeat:W-2026-11-23-12',
    evidence: ['ucxl://swoosh:M-observability-1/source/1'],
    retries: 2,
    job: { outcome: 'succeeded', durationMs: 1_500 },
  },
  {
    transition: 'Ingestion_Fetch',
    hlc: '2026-11-23T12:00:01.000+00:00#2',
    window_id: 'backbeat:W-2026-11-23-12',
    evidence: [],
    retries: 0,
    job: { outcome: 'failed', durationMs: 90_000 },
  },
  {
    transition: 'Policy_Quarantine',
    hlc: '2026-11-23T12:00:02.000+00:00#3',
    window_id: 'backbeat:W-2026-11-23-12',
    evidence: ['bubble://dr/breach-7'],
    retries: 1,
    job: { outcome: 'succeeded', durationMs: 500 },
  },
];
const rejected: ProbeProposal[] = [
  {
    ...accepted[0]!,
    transition: 'Council_QuorumCert',
    reject: { guard: 'quorum', reasons: ['member-set hash differs from the proposed council'] },
  },
  {
    ...accepted[0]!,
    transition: 'Execution_Review',
    reject: { guard: 'window', reasons: ['review window is closed'] },
  },
  {
    ...accepted[0]!,
    // Untrusted input: an unknown name must not reach span names or labels.
    transition: 'Not_A_Transition' as TransitionName,
    hlc: 'x'.repeat(500),
    reject: { guard: 'schema', reasons: ['transition: unknown transition'] },
  },
];

let env: TestWorkflowEnvironment;
let client: Client;
let afterRun: Exposition;
let rootSpan: Span;

async function scrape(): Promise<Exposition> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

function transitionLines(): TransitionLogLine[] {
  return logLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((l) => l.msg === TRANSITION_LOG_MESSAGES.accepted || l.msg === TRANSITION_LOG_MESSAGES.rejected)
    .map((l) => TransitionLogLineSchema.parse(l));
}

function finished(name: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.name === name);
}

beforeAll(async () => {
  env = await startDevServerEnv();
  client = new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    interceptors: clientTracingInterceptors(tracing),
  });
  const taskQueue = taskQueueFor('observability probe');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowsPath: probeWorkflowsPath,
    bundlerOptions,
    activities: createProbeActivities(),
    ...workerTracingOptions(tracing),
  });
  await worker.runUntil(async () => {
    // One root span stands for the gateway request that drives the mission, so every client
    // call, and everything they cause in the worker, lands in one trace.
    rootSpan = trace.getTracer('swoosh-test').startSpan('probe-script');
    await context.with(trace.setSpan(context.active(), rootSpan), async () => {
      const handle = await client.workflow.start(observabilityProbeWorkflow, {
        workflowId: WORKFLOW_ID,
        taskQueue,
        args: [MISSION],
      });
      for (const proposal of accepted)
        await handle.executeUpdate(probeTransitionUpdate, { args: [proposal] });
      for (const proposal of rejected) {
        await expect(handle.executeUpdate(probeTransitionUpdate, { args: [proposal] })).rejects.toThrow(
          WorkflowUpdateFailedError,
        );
      }
      await handle.signal(probeFinishSignal, {
        recoverySeconds: 42,
        timerLatenessSeconds: 0.2,
        timerAction: 'webhook',
        invariantViolations: [
          { invariant: 'quorum-certificate', detail: 'probe: a certificate naming members it does not have' },
          { invariant: 'quorum-certificate', detail: 'probe: the same invariant twice counts once' },
        ],
      });
      expect(await handle.result()).toBe(accepted.length);
    });
    rootSpan.end();
  });
  afterRun = await eventually(scrape, (e) => valueOf(e, `${METRICS.timerLateness.name}_count`) === 1);
});

afterAll(async () => {
  await tracing.shutdown();
  await env?.teardown();
});

describe('worker metrics on /metrics', () => {
  it('counts each accepted transition by name under its exact contract name', () => {
    expect(valueOf(afterRun, 'swoosh_transition_total', { transition: 'Ingestion_Fetch' })).toBe(2);
    expect(valueOf(afterRun, 'swoosh_transition_total', { transition: 'Policy_Quarantine' })).toBe(1);
    expect(afterRun.type.get('swoosh_transition_total')).toBe('counter');
    expect(afterRun.help.get('swoosh_transition_total')).toBe(METRICS.transitionTotal.help);
  });

  it('counts rejections by the failing guard', () => {
    expect(valueOf(afterRun, 'swoosh_guard_fail_total', { guard: 'quorum' })).toBe(1);
    expect(valueOf(afterRun, 'swoosh_guard_fail_total', { guard: 'window' })).toBe(1);
    expect(valueOf(afterRun, 'swoosh_guard_fail_total', { guard: 'schema' })).toBe(1);
  });

  it('counts quarantines and retries, and observes latency and recovery time', () => {
    expect(valueOf(afterRun, 'swoosh_quarantine_total')).toBe(1);
    expect(valueOf(afterRun, 'swoosh_retry_count', { transition: 'Ingestion_Fetch' })).toBe(2);
    expect(valueOf(afterRun, 'swoosh_retry_count', { transition: 'Policy_Quarantine' })).toBe(1);
    expect(valueOf(afterRun, 'swoosh_state_advance_latency_seconds_count', { region: 'ingestion' })).toBe(2);
    expect(valueOf(afterRun, 'swoosh_state_advance_latency_seconds_count', { region: 'policy' })).toBe(1);
    expect(afterRun.type.get('swoosh_state_advance_latency_seconds')).toBe('histogram');
    expect(valueOf(afterRun, 'swoosh_recovery_time_seconds_count')).toBe(1);
    expect(valueOf(afterRun, 'swoosh_recovery_time_seconds_sum')).toBe(42);
    expect(valueOf(afterRun, 'swoosh_timer_lateness_seconds_count', { action: 'webhook' })).toBe(1);
  });

  it('uses the contract buckets for histograms', () => {
    const bounds = afterRun.samples
      .filter((s) => s.name === 'swoosh_state_advance_latency_seconds_bucket' && s.labels.region === 'policy')
      .map((s) => s.labels.le);
    expect(bounds).toEqual([...METRICS.stateAdvanceLatency.buckets.map(String), '+Inf']);
    // 0.2 s late lands at or below the 0.25 s bucket and above 0.1 s.
    expect(valueOf(afterRun, 'swoosh_timer_lateness_seconds_bucket', { le: '0.25' })).toBe(1);
    expect(valueOf(afterRun, 'swoosh_timer_lateness_seconds_bucket', { le: '0.1' })).toBe(0);
  });

  it('records agent Job outcomes and durations from the activity meter', () => {
    expect(valueOf(afterRun, 'swoosh_agent_job_total', { outcome: 'succeeded' })).toBe(2);
    expect(valueOf(afterRun, 'swoosh_agent_job_total', { outcome: 'failed' })).toBe(1);
    expect(valueOf(afterRun, 'swoosh_agent_job_duration_seconds_sum', { outcome: 'failed' })).toBe(90);
  });

  it('counts an invariant violation once per invariant a check finds broken', () => {
    expect(valueOf(afterRun, 'swoosh_invariant_violation_total', { invariant: 'quorum-certificate' })).toBe(
      1,
    );
  });

  it('exports every worker metric of the contract with its kind and help text', () => {
    const specs = (Object.values(METRICS) as readonly MetricSpec[]).filter((m) => m.exportedBy === 'worker');
    expect(specs.length).toBeGreaterThan(0);
    for (const m of specs) {
      expect(afterRun.type.get(m.name), m.name).toBe(m.kind);
      expect(afterRun.help.get(m.name), m.name).toBe(m.help);
    }
  });

  it("serves Temporal's own worker metrics on the same endpoint", () => {
    expect(valueOf(afterRun, 'workflow_completed')).toBeGreaterThanOrEqual(1);
  });
});

describe('the transition log', () => {
  it('writes one JSON line per transition decision, carrying the required fields', () => {
    for (const line of logLines) LogEnvelopeSchema.parse(JSON.parse(line));
    const lines = transitionLines();
    expect(lines.filter((l) => l.outcome === 'accepted').map((l) => l.transition)).toEqual(
      accepted.map((p) => p.transition),
    );
    expect(lines.filter((l) => l.outcome === 'rejected').map((l) => l.failing_guard)).toEqual([
      'quorum',
      'window',
      'schema',
    ]);
    expect(lines.at(-1)).toMatchObject({ transition: 'unknown', region: 'unknown', hlc: 'unknown' });
    const [first, second] = lines;
    expect(first).toMatchObject({
      mission: MISSION,
      region: 'ingestion',
      hlc: accepted[0]!.hlc,
      window_id: accepted[0]!.window_id,
      workflowId: WORKFLOW_ID,
      seq: 0,
    });
    // The chain of hashes is visible in the log: each post hash is the next pre hash.
    expect(second!.state_pre_hash).toBe(first!.state_post_hash);
    expect(first!.trace_id).toBe(rootSpan.spanContext().traceId);
  });
});

describe('traces', () => {
  it('runs one connected trace from the client through the workflow to the activity and the transition span', () => {
    const traceId = rootSpan.spanContext().traceId;
    const all = spans.getFinishedSpans();
    const byId = new Map(all.map((s) => [s.spanContext().spanId, s]));
    const chain = (span: ReadableSpan): string[] => {
      const names = [span.name];
      for (let parent = span.parentSpanId; parent !== undefined;) {
        const p = byId.get(parent);
        if (!p) break;
        names.push(p.name);
        parent = p.parentSpanId;
      }
      return names.reverse();
    };
    for (const name of [
      'StartWorkflow:observabilityProbeWorkflow',
      'RunWorkflow:observabilityProbeWorkflow',
      'StartWorkflowUpdate:probeTransition',
      'HandleUpdate:probeTransition',
      'StartActivity:runProbeJob',
      'RunActivity:runProbeJob',
      'transition:Ingestion_Fetch',
    ]) {
      expect(finished(name).length, name).toBeGreaterThan(0);
      for (const span of finished(name)) expect(span.spanContext().traceId, name).toBe(traceId);
    }
    const transition = finished('transition:Policy_Quarantine')[0]!;
    expect(chain(transition)).toEqual([
      'probe-script',
      'StartWorkflowUpdate:probeTransition',
      'HandleUpdate:probeTransition',
      'transition:Policy_Quarantine',
    ]);
    expect(chain(finished('RunActivity:runProbeJob')[0]!)).toEqual([
      'probe-script',
      'StartWorkflowUpdate:probeTransition',
      'HandleUpdate:probeTransition',
      'StartActivity:runProbeJob',
      'RunActivity:runProbeJob',
    ]);
    expect(transition.attributes).toMatchObject({
      [SPAN_ATTRIBUTES.mission]: MISSION,
      [SPAN_ATTRIBUTES.outcome]: 'accepted',
      [SPAN_ATTRIBUTES.hlc]: accepted[2]!.hlc,
      [SPAN_ATTRIBUTES.windowId]: accepted[2]!.window_id,
      [SPAN_ATTRIBUTES.evidence]: accepted[2]!.evidence,
      [SPAN_ATTRIBUTES.decisionId]: `ucxl://swoosh:${MISSION}@policy/Policy_Quarantine/2`,
    });
    expect(transition.attributes[SPAN_ATTRIBUTES.statePreHash]).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(transition.attributes[SPAN_ATTRIBUTES.guardReasons]).toContain(
      'policy-breach: policy-breach held',
    );
  });

  it("names the failing guard on a rejected proposal's span", () => {
    const span = finished('transition:Council_QuorumCert')[0]!;
    expect(span.spanContext().traceId).toBe(rootSpan.spanContext().traceId);
    expect(span.attributes).toMatchObject({
      [SPAN_ATTRIBUTES.outcome]: 'rejected',
      [SPAN_ATTRIBUTES.failingGuard]: 'quorum',
      [SPAN_ATTRIBUTES.reasons]: rejected[0]!.reject!.reasons,
    });
    expect(span.status).toEqual({ code: 2, message: 'rejected by quorum' });
    expect(finished('transition:Not_A_Transition')).toHaveLength(0);
    expect(finished('transition:unknown')[0]?.attributes[SPAN_ATTRIBUTES.failingGuard]).toBe('schema');
  });
});

describe('replay', () => {
  it('changes no metric, log line or span when the history is replayed', async () => {
    const workflowLines = () => logLines.filter((l) => l.includes('"sdkComponent":"workflow"')).length;
    const before = { lines: workflowLines(), spans: spans.getFinishedSpans().length };
    const history = await client.workflow.getHandle(WORKFLOW_ID).fetchHistory();
    await Worker.runReplayHistory(
      { workflowsPath: probeWorkflowsPath, bundlerOptions, ...workerTracingOptions(tracing) },
      history,
      WORKFLOW_ID,
    );
    const afterReplay = await scrape();
    expect(samplesOf(afterReplay, 'swoosh_')).toEqual(samplesOf(afterRun, 'swoosh_'));
    expect(transitionLines()).toHaveLength(accepted.length + rejected.length);
    expect(workflowLines()).toBe(before.lines);
    expect(spans.getFinishedSpans().length).toBe(before.spans);
  });
});
