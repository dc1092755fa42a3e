/**
 * A plan of tasks (docs/agents.md#a-plan-of-tasks) on a real dev server with the process backend:
 * the indexer indexes the ingested sources, the reviewer reviews the index it hands over, and the
 * reviewer's report decides the orchestrator's approval. A failing review blocks the beat; an
 * agent that always fails degrades the mission instead of failing its workflow.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { DocumentIndex } from '../../schemas/example-agents';
import { artifactIdOf, ValidationReport } from '../../schemas/evidence';
import { type MissionView, missionWorkflowId } from '../../schemas/mission';
import type { MissionConfigInput } from '../../schemas/mission-config';
import type { MissionPlanInput } from '../../schemas/mission-plan';
import type { StateDocument } from '../../schemas/state-document';
import { stateQuery, transitionUpdate } from '../../schemas/mission-messages';
import { FileLedgerReader } from '../../ledger';
import { dataPaths } from '../../host/data-dir';
import { FAST_SCHEDULE, newSigner, proposalSigner } from '../lifecycle/support/missions';
import { hashCanonical } from '../../schemas/hash';
import { taskQueueFor } from '../support/temporal';
import { type DevWorker, startDevWorker } from '../support/dev-worker';

const taskQueue = taskQueueFor('plan');
let agents: DevWorker;
let env: TestWorkflowEnvironment;
let deps: ActivityDeps;
let runbook: string;

const RUNBOOK = '# Runbook\n\n## Restart\n\nStart a worker elsewhere; see [ops](https://ops.example.org/).\n';

beforeAll(async () => {
  agents = await startDevWorker(taskQueue);
  ({ env, deps } = agents);
  const file = join(deps.inputsDir!, 'runbook.md');
  await writeFile(file, RUNBOOK);
  runbook = pathToFileURL(file).href;
});

afterAll(() => agents?.stop());

/** Index the sources, then review the index for the sections `required`. */
const indexThenReview = (required: string[]): MissionPlanInput => ({
  // The reviewer is listed before the task it follows: the list's order is not the order they run in.
  tasks: [
    { id: 'review', agent: 'reviewer', after: ['index'], inputs: { rules: { requiredSections: required } } },
    { id: 'index', agent: 'indexer', documents: 'sources' },
  ],
});

function start(missionId: string, config: MissionConfigInput) {
  return env.client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(missionId),
    taskQueue,
    args: [
      {
        id: missionId,
        objective: 'Index the runbook and review the index',
        priority: 'P1',
        originatingSpec: 'https://specs.example.org/runbook',
        createdAt: '2026-12-03T09:00:00.000Z',
      },
      { config: { maxBeats: 1, schedule: FAST_SCHEDULE, sources: [runbook], ...config } },
    ],
  });
}

const evidenceText = async (uri: string) =>
  (await deps.evidence.get(uri.replace('bubble://evidence/', ''))).toString('utf8');

/** Polls the mission's state until `ok`, or fails after `ms` naming the last state seen. */
async function until(missionId: string, ok: (v: MissionView) => boolean, ms = 90_000): Promise<MissionView> {
  const handle = env.client.workflow.getHandle(missionWorkflowId(missionId));
  const deadline = Date.now() + ms;
  let last: MissionView | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(stateQuery);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`mission ${missionId} never got there: ${JSON.stringify(last?.state).slice(0, 2000)}`);
}

test('a two-agent plan indexes the sources, passes review and reaches REVERB', async () => {
  const missionId = randomUUID();
  const handle = await start(missionId, { plan: indexThenReview(['Runbook', 'Restart']) });
  const { state } = (await handle.result()) as { state: StateDocument };
  expect(state.execution.phase).toBe('REVERB');
  // Execution_Work lists the beat's tasks sorted.
  expect(state.execution.tasks).toEqual(['index', 'review']);
  const [index, report] = await Promise.all(
    state.execution.evidence.map(async (uri) => JSON.parse(await evidenceText(uri)) as unknown),
  ).then((docs) => [
    docs.map((d) => DocumentIndex.safeParse(d)).find((p) => p.success)?.data,
    docs.map((d) => ValidationReport.safeParse(d)).find((p) => p.success)?.data,
  ]);
  const documentIndex = index as DocumentIndex;
  expect(documentIndex.documents.map((d) => d.uri)).toContain(runbook);
  const indexed = documentIndex.documents.find((d) => d.uri === runbook)!;
  expect(indexed.headings.map((h) => h.text)).toEqual(['Runbook', 'Restart']);
  expect(indexed.links.map((l) => l.href)).toEqual(['https://ops.example.org/']);
  const validation = report as ValidationReport;
  expect(validation.result).toBe('pass');
  expect(validation.findings.find((f) => f.id === 'sections')).toMatchObject({ ok: true });
  // The reviewer reviewed the indexer's output as handed over: the report names it by its checksum.
  const reviewed = state.execution.evidence.find(
    (uri) => artifactIdOf(uri.replace('bubble://evidence/', '')) === validation.artifactId,
  );
  expect(JSON.parse(await evidenceText(reviewed!))).toEqual(documentIndex);
  // The orchestrator's approval rests on the report, and says so in the ledger.
  const reader = new FileLedgerReader(dataPaths(deps.dataDir).ledgerDir);
  const { records } = await reader.page(missionId, { limit: 500, kind: 'decision' });
  const approvals = records.flatMap((r) =>
    r.kind === 'decision' && r.transition === 'Execution_Approve' ? [r] : [],
  );
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.evidence).toHaveLength(1);
  expect(ValidationReport.parse(JSON.parse(await evidenceText(approvals[0]!.evidence[0]!)))).toEqual(
    validation,
  );
});

test('a failing review rejects the beat: it stays in REVIEW and never reaches REVERB', async () => {
  const missionId = randomUUID();
  const handle = await start(missionId, { plan: indexThenReview(['Rollback']) });
  try {
    const view = await until(
      missionId,
      (v) => (v.state as StateDocument | undefined)?.execution.approvals.length === 1,
    );
    const state = view.state as StateDocument;
    expect(state.execution.phase).toBe('REVIEW');
    expect(state.execution.approvals.map((a) => a.decision)).toEqual(['reject']);
    const reports = await Promise.all(
      state.execution.evidence.map(async (uri) =>
        ValidationReport.safeParse(JSON.parse(await evidenceText(uri))),
      ),
    );
    const report = reports.find((r) => r.success)?.data;
    expect(report?.result).toBe('fail');
    expect(report?.findings.find((f) => f.id === 'sections')).toMatchObject({
      ok: false,
      detail: 'missing "Rollback"',
    });
    // Two more beats' worth of time: still in REVIEW, the rejection blocks Execution_Reverb.
    await new Promise((r) => setTimeout(r, 8_000));
    const later = (await handle.query(stateQuery)).state as StateDocument;
    expect(later.execution.phase).toBe('REVIEW');
    expect(later.control.phase).toBe('RUNNING');
  } finally {
    await handle.terminate('test done');
  }
});

test('an agent that always fails degrades the mission, its dependants do not run, the workflow lives', async () => {
  const missionId = randomUUID();
  const handle = await start(missionId, {
    agents: {
      catalogue: {
        agents: {
          broken: {
            image: 'registry.example.org/swoosh/broken:1',
            command: ['node', '-e', "console.error('cannot work'); process.exit(3)"],
            capabilityProfile: { role: 'worker', capabilities: ['fail'] },
            timeouts: { activeDeadlineSeconds: 60, heartbeatSeconds: 10 },
          },
        },
      },
    },
    plan: {
      tasks: [
        { id: 'work', agent: 'broken' },
        { id: 'review', agent: 'reviewer', after: ['work'] },
      ],
    },
  });
  try {
    const view = await until(
      missionId,
      (v) => (v.state as StateDocument | undefined)?.control.phase === 'DEGRADED',
    );
    const state = view.state as StateDocument;
    expect(state.control.reason).toContain('task work (broken) failed');
    expect(state.control.reason).toContain('task review did not run: work failed');
    expect(view.phase).toBe('DEGRADED');
    const reviewed = await until(
      missionId,
      (v) => (v.state as StateDocument).execution.approvals.length === 1,
    );
    expect((reviewed.state as StateDocument).execution.approvals[0]!.decision).toBe('reject');
    expect((await handle.describe()).status.name).toBe('RUNNING');
  } finally {
    await handle.terminate('test done');
  }
});

test('a signed plan change hands the index to a reviewer: the beat re-plans and runs it; an undeclared agent leaves no trace', async () => {
  const missionId = randomUUID();
  const planner = newSigner();
  const sign = proposalSigner(missionId, planner, FAST_SCHEDULE);
  const handle = await start(missionId, {
    signers: [{ key: planner.key, classes: ['plan'], label: 'planner' }],
    plan: { tasks: [{ id: 'index', agent: 'indexer', documents: 'sources' }] },
  });
  // Without a reviewer or autoApprove, the beat waits in REVIEW with the index as its evidence.
  const view = await until(
    missionId,
    (v) => (v.state as StateDocument | undefined)?.execution.phase === 'REVIEW',
  );
  const state = view.state as StateDocument;
  const checksum = state.execution.evidence[0]!.replace('bubble://evidence/', '');
  const replan = (plan: MissionPlanInput) =>
    sign(view.hash!, 'Execution_Replan', {
      plan_hash: hashCanonical(plan),
      plan_lock: state.execution.plan_lock,
      reason: 'hand the index to the reviewer',
      plan,
    });

  const undeclared = replan({ tasks: [{ id: 'sum', agent: 'summariser' }] });
  const refused = await handle
    .executeUpdate(transitionUpdate, { args: [undeclared], updateId: undeclared.idem_key })
    .then(
      () => undefined,
      (error: Error) => error.cause,
    );
  expect(refused).toBeInstanceOf(ApplicationFailure);
  expect((refused as ApplicationFailure).message).toBe(
    'rejected by inputs: task sum: agent summariser is not in the catalogue',
  );

  const handoff = replan({
    tasks: [
      {
        id: 'review',
        agent: 'reviewer',
        evidence: [{ uri: `swoosh://${missionId}/beat/1/index`, checksum }],
        inputs: { rules: { requiredSections: ['Runbook'] } },
      },
    ],
  });
  await handle.executeUpdate(transitionUpdate, { args: [handoff], updateId: handoff.idem_key });
  const { state: final } = (await handle.result()) as { state: StateDocument };
  expect(final.execution.phase).toBe('REVERB');
  expect(final.execution.tasks).toEqual(['review']);
  const report = ValidationReport.parse(JSON.parse(await evidenceText(final.execution.evidence[0]!)));
  expect(report.result).toBe('pass');
  expect(report.artifactId).toBe(artifactIdOf(checksum));
  expect(final.execution.approvals.map((a) => a.decision)).toEqual(['approve']);

  const reader = new FileLedgerReader(dataPaths(deps.dataDir).ledgerDir);
  const { records } = await reader.page(missionId, { limit: 500, kind: 'decision' });
  const replans = records.filter((r) => r.kind === 'decision' && r.transition === 'Execution_Replan');
  expect(replans.map((r) => r.kind === 'decision' && r.signer)).toEqual([planner.key]);
  const updates = (await handle.fetchHistory()).events!.map(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId,
  );
  expect(updates).toContain(handoff.idem_key);
  expect(updates).not.toContain(undeclared.idem_key);
});

test("a task with documents: previous-beat works on the last beat's evidence", async () => {
  const missionId = randomUUID();
  const handle = await start(missionId, {
    autoApprove: true,
    maxBeats: 2,
    plan: { tasks: [{ id: 'index', agent: 'indexer', documents: 'previous-beat' }] },
  });
  const { state } = (await handle.result()) as { state: StateDocument };
  expect(state.execution.beat).toBe(2);
  const reader = new FileLedgerReader(dataPaths(deps.dataDir).ledgerDir);
  const { records } = await reader.page(missionId, { limit: 500, kind: 'decision' });
  const reviewed = records.flatMap((r) =>
    r.kind === 'decision' && r.transition === 'Execution_Review' ? [r.evidence] : [],
  );
  expect(reviewed).toHaveLength(2);
  // Beat 1 had no previous beat: its index is of the objective. Beat 2 indexed beat 1's index.
  const first = DocumentIndex.parse(JSON.parse(await evidenceText(reviewed[0]![0]!)));
  expect(first.documents.map((d) => d.uri)).toEqual([`swoosh://${missionId}/objective`]);
  const second = DocumentIndex.parse(JSON.parse(await evidenceText(reviewed[1]![0]!)));
  expect(second.documents.map((d) => d.uri)).toEqual(reviewed[0]);
});
