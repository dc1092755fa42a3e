/**
 * Agent outputs under the SHHH policy (issue 16 item 7b; docs/design.md#guards), on a real dev
 * server with the process backend: an agent that prints an AWS-key-like string quarantines its
 * mission, naming the task and the rule, and the string is in no history, no ledger record and
 * no stored evidence — the run's output is withheld where it is collected.
 */
import { readdir, readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { readMission } from '../../api/missions';
import { dataPaths } from '../../host/data-dir';
import { missionWorkflowId } from '../../schemas/mission';
import type { StateDocument } from '../../schemas/state-document';
import { eventually, taskQueueFor } from '../support/temporal';
import { type DevWorker, startDevWorker } from '../support/dev-worker';
import { LEAKED_KEY, leakerConfig, startDeclaredAgentMission } from './support/declared-agent';

const taskQueue = taskQueueFor('output-scan');
let agents: DevWorker;
let env: TestWorkflowEnvironment;
let deps: ActivityDeps;

beforeAll(async () => {
  agents = await startDevWorker(taskQueue);
  ({ env, deps } = agents);
});

afterAll(() => agents?.stop());

/** Every file below `dir`, as text. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return Promise.all(
    entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), 'utf8')),
  );
}

test('an agent output with a secret quarantines the mission naming task and rule; the secret is nowhere', async () => {
  const missionId = randomUUID();
  const handle = await startDeclaredAgentMission(env.client, taskQueue, missionId, leakerConfig());
  try {
    const view = await eventually(
      () => readMission(env.client, missionId),
      (v) => (v.state as StateDocument | undefined)?.policy.phase === 'QUARANTINED',
      90_000,
    );
    const policy = (view.state as StateDocument).policy;
    expect(policy.phase).toBe('QUARANTINED');
    expect(policy.breaches).toEqual(['SHHH-SECRET-CONTENT in task task-1-1']);
    expect(policy.rationale).toBe(
      'the output of task task-1-1 breaches the policy: SHHH-SECRET-CONTENT (aws-access-key-id at line 1)',
    );
    // Forward work holds: the beat never reaches its review.
    expect((view.state as StateDocument).execution.phase).toBe('WORK');

    const child = env.client.workflow.getHandle(`agent-${missionId}-1-1`);
    const histories = [await handle.fetchHistory(), await child.fetchHistory()].map(historyToJSON);
    // Payloads are base64 in a history's JSON: decode them all before looking.
    for (const history of histories) {
      expect(history).not.toContain(LEAKED_KEY);
      const decoded = [...history.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) =>
        Buffer.from(m[1]!, 'base64').toString('utf8'),
      );
      expect(decoded.join('\n')).not.toContain(LEAKED_KEY);
      expect(decoded.join('\n')).toContain('[swoosh] output withheld: SHHH-SECRET-CONTENT');
    }
    const paths = dataPaths(deps.dataDir);
    for (const text of [...(await filesUnder(paths.ledgerDir)), ...(await filesUnder(paths.evidenceDir))])
      expect(text).not.toContain(LEAKED_KEY);
  } finally {
    await env.client.workflow
      .getHandle(missionWorkflowId(missionId))
      .terminate('test over')
      .catch(() => undefined);
  }
});
