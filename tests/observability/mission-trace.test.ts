/**
 * A real mission driven through the real gateway and worker on the dev server (docs/design.md#observability), with an
 * in-memory span exporter and the worker's Prometheus Runtime: each HTTP request is one connected
 * trace down to the `transition:<Name>` span, whose attributes match the decision record in the
 * ledger; rejections name their guard; A2A calls are spans of their own. Then `/metrics` is
 * compared with the ledger, and a replay of the mission's history must change no `swoosh_*` sample.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { type ApiResponse, type JsonRpcReply, SwooshClient } from '../../api/client';
import type { RunningGateway } from '../../api/server';
import { startGateway } from '../../api/server';
import type { TransitionAccepted } from '../../schemas/api';
import type { DecisionRecord } from '../../schemas/decision-record';
import { TRANSITION_LOG_MESSAGES, TransitionLogLineSchema } from '../../schemas/log-record';
import { missionWorkflowId } from '../../schemas/mission';
import { SPAN_ATTRIBUTES as A } from '../../schemas/trace';
import { clientTracingInterceptors, workerTracingOptions } from '../../workers/telemetry';
import { bundlerOptions, createSwooshWorker, workflowsPath } from '../../workers/worker';
import { signProposal } from '../../workflows/statechart';
import { type OwnedMission, readyAndPaused, startOwnedMission } from '../gateway/support/gateway';
import { newSigner, prompt, testDeps } from '../lifecycle/support/missions';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { installTestTelemetry } from './support/worker-telemetry';
import { parseExposition, samplesOf, valueOf, type Exposition } from './support/prometheus';

const { metricsPort, logLines, spans, tracing } = await installTestTelemetry('swoosh-mission-trace-test');

type Proposal = ReturnType<OwnedMission['proposal']>;

/** One request's trace: its HTTP server span and every span that shares its trace id. */
interface RequestTrace<T> {
  result: T;
  root: ReadableSpan;
  inTrace: ReadableSpan[];
}

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let gateway: RunningGateway;
let agent: SwooshClient;
let mission: OwnedMission;
let baseline: Exposition;
let afterRun: Exposition;
let decisions: DecisionRecord[];

let headBefore: string;
let acceptedProposal: Proposal;
let accepted: RequestTrace<ApiResponse<TransitionAccepted>>;
let stale: RequestTrace<ApiResponse<TransitionAccepted>>;
let unauthorised: RequestTrace<ApiResponse<TransitionAccepted>>;
let a2a: RequestTrace<{ status: number; replies: JsonRpcReply | JsonRpcReply[] | undefined }>;

async function scrape(): Promise<Exposition> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/**
 * Sends one request and returns its trace once every expected span has been exported (the
 * gateway's span ends when the response finishes, workflow spans arrive through the worker's
 * sink). The trace is found by the update id the gateway gives the proposal — its idem_key — on
 * the client's StartWorkflowUpdate span, never by timing, so a late span of an earlier request
 * cannot stand in for it.
 */
async function traced<T>(
  route: string,
  send: () => Promise<T>,
  updateId: string,
  expected: string[],
): Promise<RequestTrace<T>> {
  const result = await send();
  const find = () => {
    const all = spans.getFinishedSpans();
    const update = all.find(
      (s) => s.name === 'StartWorkflowUpdate:transition' && s.attributes.temporalUpdateId === updateId,
    );
    const inTrace = update ? all.filter((s) => s.spanContext().traceId === update.spanContext().traceId) : [];
    return Promise.resolve({ root: inTrace.find((s) => s.name === `HTTP POST ${route}`), inTrace });
  };
  const found = await eventually(
    find,
    ({ root, inTrace }) =>
      root !== undefined && expected.every((name) => inTrace.some((s) => s.name === name)),
  );
  const missing = [`HTTP POST ${route}`, ...expected].filter((n) => !found.inTrace.some((s) => s.name === n));
  if (!found.root || missing.length > 0) {
    const seen = found.inTrace.map((s) => s.name).join(', ');
    throw new Error(`update ${updateId}: no ${missing.join(', ')} in its trace (it has: ${seen})`);
  }
  return { result, root: found.root, inTrace: found.inTrace };
}

/** Span names from the trace's root down to `span`. */
function chain(span: ReadableSpan, inTrace: ReadableSpan[]): string[] {
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const names = [span.name];
  for (let parent = byId.get(span.parentSpanId ?? ''); parent; parent = byId.get(parent.parentSpanId ?? ''))
    names.push(parent.name);
  return names.reverse();
}

function only(inTrace: ReadableSpan[], name: string): ReadableSpan {
  const found = inTrace.filter((s) => s.name === name);
  expect(
    found.map((s) => s.name),
    name,
  ).toEqual([name]);
  return found[0]!;
}

/** The proposal with `changes`, signed again by `secret` (the old signature is replaced). */
function resign(proposal: Proposal, secret: Uint8Array, changes: Partial<Proposal>): Proposal {
  return signProposal({ ...proposal, ...changes }, secret);
}

async function allDecisions(client: SwooshClient, id: string): Promise<DecisionRecord[]> {
  const records: DecisionRecord[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.ledger(id, { pageSize: 500, pageToken });
    if (!page.ok) throw new Error(`ledger: ${page.status}`);
    for (const r of page.body.records) if (r.kind === 'decision') records.push(r);
    pageToken = page.body.nextPageToken;
  } while (pageToken !== undefined);
  return records;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/** A metric's values summed per value of one label. */
function byLabel(exposition: Exposition, name: string, label: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const s of exposition.samples.filter((x) => x.name === name))
    totals[s.labels[label]!] = (totals[s.labels[label]!] ?? 0) + s.value;
  return totals;
}

beforeAll(async () => {
  env = await startDevServerEnv();
  const taskQueue = taskQueueFor('mission trace');
  const deps = await testDeps();
  const client = new Client({
    connection: env.connection,
    namespace: 'default',
    interceptors: clientTracingInterceptors(tracing),
  });
  worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
    tracing,
  });
  workerRun = worker.run();
  const tokens = { operator: newToken(), agent: newToken() };
  const auth = new Authenticator({
    tokens: [
      { name: 'trace-operator', role: 'operator', token: tokens.operator },
      { name: 'trace-agent', role: 'agent', token: tokens.agent },
    ],
  });
  gateway = await startGateway(
    createGateway({ client, taskQueue, auth, dataDir: deps.dataDir, accessLog: () => undefined }),
    { host: '127.0.0.1', port: 0, graceMs: 2_000 },
  );
  const api = new SwooshClient(gateway.url);
  const operator = api.as(tokens.operator);
  agent = api.as(tokens.agent);

  // Regions READY, then paused: from here on HEAD moves only on the requests below.
  mission = await startOwnedMission(operator);
  await readyAndPaused(operator, mission);
  baseline = await scrape();

  headBefore = await mission.head();
  acceptedProposal = resign(
    mission.proposal(headBefore, 'Policy_Update', { policy_version: 'trace-1', rationale: 'observed' }),
    mission.owner.secret,
    { evidence: [`ucxl://swoosh:${mission.id}/policy/review-1`, 'bubble://dr/trace-7'] },
  );
  accepted = await traced('/transition', () => agent.propose(acceptedProposal), acceptedProposal.idem_key, [
    'StartWorkflowUpdate:transition',
    'HandleUpdate:transition',
    'transition:Policy_Update',
  ]);

  // Against the HEAD the accepted proposal replaced: refused by the validator as stale.
  const staleProposal = mission.proposal(headBefore, 'Policy_Update', {
    policy_version: 'x',
    rationale: 'x',
  });
  stale = await traced('/transition', () => agent.propose(staleProposal), staleProposal.idem_key, [
    'transition:Policy_Update',
  ]);

  // Correctly signed, by a key the mission never registered.
  const stranger = newSigner();
  const strangers = resign(
    mission.proposal(await mission.head(), 'Policy_Update', { policy_version: 'y', rationale: 'y' }),
    stranger.secret,
    { signer: stranger.key },
  );
  unauthorised = await traced('/transition', () => agent.propose(strangers), strangers.idem_key, [
    'transition:Policy_Update',
  ]);

  const viaA2A = mission.proposal(await mission.head(), 'Policy_Update', {
    policy_version: 'trace-2',
    rationale: 'through A2A',
  });
  a2a = await traced(
    '/a2a',
    () =>
      agent.a2a([
        { jsonrpc: '2.0', id: 'batch-1', method: 'swoosh.proposeTransition', params: { proposal: viaA2A } },
        { jsonrpc: '2.0', id: 2, method: 'swoosh.launchRockets' },
      ]),
    viaA2A.idem_key,
    ['a2a:swoosh.proposeTransition', 'a2a:unknown', 'transition:Policy_Update'],
  );

  // A decision is in the ledger before its metrics are emitted (the record is written first), so
  // scraping before reading the ledger never shows more than the ledger holds — unless counted twice.
  const settled = await eventually(
    async () => {
      const exposition = await scrape();
      return { exposition, records: await allDecisions(agent, mission.id) };
    },
    ({ exposition, records }) => valueOf(exposition, 'swoosh_transition_total') === records.length,
    15_000,
  );
  afterRun = settled.exposition;
  decisions = settled.records;
}, 240_000);

afterAll(async () => {
  await gateway?.close();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await tracing.shutdown();
  await env?.teardown();
});

describe('a proposal through POST /transition', () => {
  it('is one connected trace from the HTTP span through the update to the transition span', () => {
    expect(accepted.result.status).toBe(202);
    const { root, inTrace } = accepted;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.attributes['http.route']).toBe('/transition');
    // Connected: every other span's parent is in the same trace.
    const ids = new Set(inTrace.map((s) => s.spanContext().spanId));
    for (const span of inTrace.filter((s) => s !== root)) expect(ids, span.name).toContain(span.parentSpanId);
    const transition = only(inTrace, 'transition:Policy_Update');
    expect(chain(transition, inTrace)).toEqual([
      'HTTP POST /transition',
      'StartWorkflowUpdate:transition',
      'HandleUpdate:transition',
      'transition:Policy_Update',
    ]);
    // The update's I/O and the decision record are activities of the same trace.
    expect(inTrace.some((s) => s.name.startsWith('RunActivity:'))).toBe(true);
  });

  it('carries the tracing attributes of docs/design.md#observability, equal to the decision record in the ledger', () => {
    if (!accepted.result.ok) throw new Error(JSON.stringify(accepted.result.body));
    const { decision_id, post_hash } = accepted.result.body;
    const record = decisions.find((d) => d.ucxl === decision_id);
    expect(record).toBeDefined();
    const span = only(accepted.inTrace, 'transition:Policy_Update');
    // The span sink adds the workflow's identity to every workflow span; SWOOSH's own are these.
    const swoosh = Object.fromEntries(
      Object.entries(span.attributes).filter(([k]) => k.startsWith('swoosh.')),
    );
    expect(swoosh).toEqual({
      [A.mission]: mission.id,
      [A.region]: 'policy',
      [A.transition]: 'Policy_Update',
      [A.outcome]: 'accepted',
      [A.statePreHash]: headBefore,
      [A.statePostHash]: post_hash,
      [A.hlc]: acceptedProposal.hlc,
      [A.windowId]: acceptedProposal.window_id,
      [A.decisionId]: decision_id,
      [A.guards]: record!.guards.map((g) => `${g.guard}=${g.ok ? 'pass' : 'fail'}`),
      [A.guardReasons]: record!.guards.flatMap((g) => g.reasons.map((r) => `${g.guard}: ${r}`)),
      [A.evidence]: acceptedProposal.evidence,
    });
    expect(record).toMatchObject({
      pre_state_hash: headBefore,
      post_state_hash: post_hash,
      hlc: acceptedProposal.hlc,
      window_id: acceptedProposal.window_id,
      evidence: acceptedProposal.evidence,
    });
    expect(span.attributes[A.guards]).toContain('policy-update=pass');
  });

  it("names the workflow on its spans but never copies its memo or search attributes (the mission's objective)", () => {
    const span = only(accepted.inTrace, 'transition:Policy_Update');
    expect(span.attributes).toMatchObject({
      workflowId: `mission-${mission.id}`,
      workflowType: 'missionWorkflow',
      namespace: 'default',
    });
    const { objective } = prompt(mission.id);
    for (const s of accepted.inTrace) {
      expect(Object.keys(s.attributes), s.name).not.toContain('memo');
      expect(Object.keys(s.attributes), s.name).not.toContain('searchAttributes');
      expect(JSON.stringify(s.attributes), s.name).not.toContain(objective);
    }
  });

  it('writes its JSON transition line with the trace id of the request', () => {
    if (!accepted.result.ok) throw new Error('not accepted');
    const decisionId = accepted.result.body.decision_id;
    const lines = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === TRANSITION_LOG_MESSAGES.accepted && l.decision_id === decisionId)
      .map((l) => TransitionLogLineSchema.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      mission: mission.id,
      transition: 'Policy_Update',
      state_pre_hash: headBefore,
      state_post_hash: accepted.result.body.post_hash,
      trace_id: accepted.root.spanContext().traceId,
    });
  });
});

describe("the mission's own transitions", () => {
  it('are spans of the POST /missions trace that started the mission', () => {
    const finished = spans.getFinishedSpans();
    const boot = finished.filter(
      (s) => s.name === 'transition:Boot_Licensed' && s.attributes[A.mission] === mission.id,
    );
    expect(boot).toHaveLength(1);
    const inTrace = finished.filter((s) => s.spanContext().traceId === boot[0]!.spanContext().traceId);
    const start = only(inTrace, 'StartWorkflow:missionWorkflow');
    expect(chain(start, inTrace)).toEqual(['HTTP POST /missions', 'StartWorkflow:missionWorkflow']);
    // Its parent is the run's RunWorkflow span, exported only when the (still open) run ends.
    expect(boot[0]!.parentSpanId).toBeDefined();
    expect(boot[0]!.attributes[A.outcome]).toBe('accepted');
  });
});

describe('a rejected proposal', () => {
  it('is a span in its request trace naming the failing guard, from the update validator', () => {
    expect(stale.result.status).toBe(409);
    expect(unauthorised.result.status).toBe(400);
    for (const [request, guard] of [
      [stale, 'concurrency'],
      [unauthorised, 'authorisation'],
    ] as const) {
      if (request.result.ok) throw new Error('accepted');
      expect(request.result.body.failing_guard).toBe(guard);
      const span = only(request.inTrace, 'transition:Policy_Update');
      expect(chain(span, request.inTrace)).toEqual([
        'HTTP POST /transition',
        'StartWorkflowUpdate:transition',
        'ValidateUpdate:transition',
        'transition:Policy_Update',
      ]);
      expect(span.attributes).toMatchObject({
        [A.mission]: mission.id,
        [A.outcome]: 'rejected',
        [A.failingGuard]: guard,
        [A.reasons]: request.result.body.reasons,
      });
      expect(span.status).toEqual({ code: 2, message: `rejected by ${guard}` });
      // Rejected before any update handler ran: nothing reached the workflow's history.
      expect(request.inTrace.map((s) => s.name)).not.toContain('HandleUpdate:transition');
    }
  });
});

describe('A2A calls', () => {
  it('are each a span of the POST /a2a trace, parent of the Temporal calls they make', () => {
    expect(a2a.result.status).toBe(200);
    const replies = a2a.result.replies as JsonRpcReply[];
    expect(replies.map((r) => ('error' in r ? r.error.code : 'ok'))).toEqual(['ok', -32601]);
    const { root, inTrace } = a2a;
    const call = only(inTrace, 'a2a:swoosh.proposeTransition');
    expect(call.parentSpanId).toBe(root.spanContext().spanId);
    expect(call.attributes).toEqual({
      'rpc.system': 'jsonrpc',
      'rpc.method': 'swoosh.proposeTransition',
      'rpc.jsonrpc.request_id': 'batch-1',
      'swoosh.a2a.notification': false,
    });
    expect(call.status.code).toBe(0);
    expect(chain(only(inTrace, 'transition:Policy_Update'), inTrace)).toEqual([
      'HTTP POST /a2a',
      'a2a:swoosh.proposeTransition',
      'StartWorkflowUpdate:transition',
      'HandleUpdate:transition',
      'transition:Policy_Update',
    ]);
    // An unknown method is traced without its (agent-chosen) name, with the JSON-RPC error code.
    const unknown = only(inTrace, 'a2a:unknown');
    expect(unknown.parentSpanId).toBe(root.spanContext().spanId);
    expect(unknown.attributes).toEqual({
      'rpc.system': 'jsonrpc',
      'rpc.jsonrpc.request_id': '2',
      'swoosh.a2a.notification': false,
      'rpc.jsonrpc.error_code': -32601,
    });
    expect(unknown.status).toEqual({ code: 2, message: '-32601 Method not found' });
  });
});

describe('worker metrics after the run', () => {
  it('counts swoosh_transition_total exactly as the ledger records decisions, per transition', () => {
    const ledgerCounts = countBy(decisions, (d) => d.transition);
    expect(ledgerCounts.Boot_Licensed).toBe(1);
    // Control_Pause (setup), the REST proposal and the A2A proposal were outside proposals.
    expect(ledgerCounts.Control_Pause).toBe(1);
    expect(ledgerCounts.Policy_Update).toBe(2);
    expect(byLabel(afterRun, 'swoosh_transition_total', 'transition')).toEqual(ledgerCounts);
  });

  it('observes one state-advance latency per decision, per region', () => {
    expect(byLabel(afterRun, 'swoosh_state_advance_latency_seconds_count', 'region')).toEqual(
      countBy(decisions, (d) => d.region),
    );
  });

  it('counts each rejection under its failing guard', () => {
    // No one but this test proposes as a stranger: the count is absolute.
    expect(valueOf(afterRun, 'swoosh_guard_fail_total', { guard: 'authorisation' })).toBe(1);
    // Setup may have met stale HEADs too (it retries them); the run added exactly one.
    const stale = (e: Exposition) => valueOf(e, 'swoosh_guard_fail_total', { guard: 'concurrency' });
    expect(stale(afterRun) - stale(baseline)).toBe(1);
  });
});

describe('replay', () => {
  // Longer than the default: the replay worker bundles the workflows again.
  it("changes no swoosh_* sample and exports no span when the mission's history is replayed", async () => {
    // Ended, and its worker stopped, first: a live mission's own workflow tasks (timers, late
    // activity results) and the live worker's activities may still emit metrics and spans, which
    // would be counted against the replay.
    const workflowId = missionWorkflowId(mission.id);
    const handle = env.client.workflow.getHandle(workflowId);
    await handle.terminate('replay test: the history is complete');
    const history = await handle.fetchHistory();
    worker.shutdown();
    await workerRun;
    const before = await scrape();
    const spansBefore = spans.getFinishedSpans().length;
    await Worker.runReplayHistory(
      { workflowsPath, bundlerOptions, ...workerTracingOptions(tracing) },
      history,
      workflowId,
    );
    const afterReplay = await scrape();
    expect(samplesOf(afterReplay, 'swoosh_')).toEqual(samplesOf(before, 'swoosh_'));
    expect(spans.getFinishedSpans().length).toBe(spansBefore);
  }, 120_000);
});
