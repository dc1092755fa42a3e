/**
 * A mission runs the agent its config declares (docs/agents.md), on a real dev server with the
 * process backend: the beat's evidence is the declared greeter's output, not the echo agent's,
 * stored with its ArtifactEvidence, and a Secret-style file reference reaches the agent while its
 * value stays out of every history.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { type ArtifactEvidence, artifactIdOf, Evidence } from '../../schemas/evidence';
import { DocumentIndex } from '../../schemas/example-agents';
import type { StateDocument } from '../../schemas/state-document';
import { taskQueueFor } from '../support/temporal';
import { type DevWorker, startDevWorker } from '../support/dev-worker';
import { declaredAgentConfig, startDeclaredAgentMission } from './support/declared-agent';

const TOKEN = `token-${randomUUID()}`;
const taskQueue = taskQueueFor('declared-agent');
let agents: DevWorker;
let env: TestWorkflowEnvironment;
let deps: ActivityDeps;

beforeAll(async () => {
  agents = await startDevWorker(taskQueue);
  ({ env, deps } = agents);
  // The process backend reads references below <data dir>/agent-secrets.
  await mkdir(join(deps.dataDir, 'agent-secrets', 'greeter-credentials'), { recursive: true });
  await writeFile(join(deps.dataDir, 'agent-secrets', 'greeter-credentials', 'token'), TOKEN);
});

afterAll(() => agents?.stop());

/** The ArtifactEvidence and ValidationReports a mission stored, each read through its contract. */
async function evidenceOf(missionId: string): Promise<Evidence[]> {
  const blobs = await readdir(join(deps.evidence.location, 'sha256'), {
    recursive: true,
    withFileTypes: true,
  });
  const items: Evidence[] = [];
  for (const blob of blobs.filter((b) => b.isFile())) {
    let value: unknown;
    try {
      value = JSON.parse(await readFile(join(blob.parentPath, blob.name), 'utf8'));
    } catch {
      continue; // content, not a record about it
    }
    const kind = (value as { kind?: unknown } | null)?.kind;
    if (kind === 'artifact' || kind === 'validation-report') items.push(Evidence.parse(value));
  }
  return items.filter((item) => item.missionId === missionId);
}

test('the beat runs the declared greeter: its output is the evidence, its token never in history', async () => {
  const missionId = randomUUID();
  const handle = await startDeclaredAgentMission(
    env.client,
    taskQueue,
    missionId,
    declaredAgentConfig({ GREETER_TOKEN: { secret: { name: 'greeter-credentials', key: 'token' } } }),
  );
  const result = (await handle.result()) as { state: StateDocument };
  expect(result.state.execution.beat).toBe(1);
  const uris = result.state.execution.evidence;
  expect(uris).toHaveLength(1);
  const checksum = uris[0]!.replace('bubble://evidence/', '');
  const output = (await deps.evidence.get(checksum)).toString('utf8');
  expect(output).toContain(
    `greeter says hello from the catalogue as greeter to task-1-1 with a token of ${TOKEN.length} characters`,
  );
  // The echo agent prints its task and inputs as JSON; the greeter replaced it.
  expect(output).not.toContain('"inputs"');
  // The output is stored with its ArtifactEvidence, the ingested sources' review as a ValidationReport.
  const stored = await evidenceOf(missionId);
  const artifacts = stored.filter((e): e is ArtifactEvidence => e.kind === 'artifact');
  expect(artifacts).toMatchObject([
    { artifactId: artifactIdOf(checksum), type: 'agent-output', checksum, mediaType: 'text/plain' },
  ]);
  expect(artifacts[0]!.producedBy).toMatch(/^swoosh-agent-/);
  expect(stored.filter((e) => e.kind === 'validation-report')).toMatchObject([
    { reviewer: 'shhh-policy', result: 'pass', coverage: 1 },
  ]);

  const child = env.client.workflow.getHandle(`agent-${missionId}-1-1`);
  const histories = [await handle.fetchHistory(), await child.fetchHistory()].map(historyToJSON);
  const started = JSON.parse(histories[1]!) as {
    events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { data: string }[] } } }[];
  };
  const spec = JSON.parse(
    Buffer.from(
      started.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!.data,
      'base64',
    ).toString('utf8'),
  ) as Record<string, unknown>;
  expect(spec).toMatchObject({
    image: 'registry.example.org/swoosh/greeter:1',
    command: ['node'],
    capabilityProfile: { role: 'greeter', capabilities: ['greet'] },
    energyBudget: { wallClockSeconds: 60 },
    env: { GREETING: 'hello from the catalogue' },
    envFrom: { GREETER_TOKEN: { secret: { name: 'greeter-credentials', key: 'token' } } },
    resources: { limits: { cpu: '250m', memory: '128Mi' } },
    timeouts: { activeDeadlineSeconds: 120, heartbeatSeconds: 10 },
  });
  for (const history of histories) expect(history).not.toContain(TOKEN);
});

test("a beat runs the default catalogue's indexer from the app's folder: its DocumentIndex is the evidence", async () => {
  const missionId = randomUUID();
  const handle = await startDeclaredAgentMission(env.client, taskQueue, missionId, {
    ...declaredAgentConfig(),
    agents: { beat: 'indexer' },
  });
  const result = (await handle.result()) as { state: StateDocument };
  const [uri] = result.state.execution.evidence;
  const output = (await deps.evidence.get(uri!.replace('bubble://evidence/', ''))).toString('utf8');
  // The run's log: the agent's one line, then the process backend's closing line.
  expect(output.split('\n')[1]).toBe('[swoosh] run succeeded with exit code 0');
  const index = DocumentIndex.parse(JSON.parse(output.split('\n')[0]!));
  expect(index.mission).toBe(missionId);
  expect(index.documents.map((d) => d.uri)).toEqual([`swoosh://${missionId}/objective`]);
  expect(index.terms.map((t) => t.term)).toEqual(expect.arrayContaining(['greet', 'declared', 'agent']));
});

test('a beat agent that fails for good degrades the mission with its reason; the workflow completes', async () => {
  const missionId = randomUUID();
  const handle = await startDeclaredAgentMission(env.client, taskQueue, missionId, {
    ...declaredAgentConfig(),
    agents: {
      catalogue: {
        agents: {
          broken: {
            image: 'registry.example.org/swoosh/broken:1',
            command: ['node', '-e', 'process.exit(4)'],
            capabilityProfile: { role: 'worker', capabilities: [] },
          },
        },
      },
      beat: 'broken',
    },
  });
  const result = (await handle.result()) as { state: StateDocument };
  expect(result.state.execution.phase).toBe('REVERB');
  expect(result.state.control.phase).toBe('DEGRADED');
  expect(result.state.control.reason).toMatch(/^agent task-1-1 failed: .*exit code 4/);
});
