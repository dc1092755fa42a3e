/**
 * A secret in a signed proposal's inputs (issue 16 item 7b; docs/design.md#guards), through the
 * gateway on a real dev server: the proposal is refused with a 400 naming the field and the rule,
 * never the value; it quarantines the mission only when its signature verifies for a signer of
 * that mission, and the secret reaches no history, no ledger record and no answer. An agent's A2A
 * evidence with a secret is refused the same way.
 */
import { readdir, readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createApp } from '../../api/app';
import { Authenticator } from '../../api/auth';
import { dataPaths } from '../../host/data-dir';
import { missionWorkflowId } from '../../schemas/mission';
import { proposalBreachUpdate } from '../../schemas/mission-messages';
import type { StateDocument } from '../../schemas/state-document';
import { createSwooshWorker } from '../../workers/worker';
import { serve, type Served } from '../support/http';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { FAST_SCHEDULE, newSigner, prompt, proposalSigner, testDeps } from './support/missions';

const KEY = ['AKIA', 'QX7P', 'EXAMPLE0', 'KEY1'].join('');
const token = `secrets-${randomUUID()}`;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

let env: TestWorkflowEnvironment;
let deps: ActivityDeps;
let worker: Worker;
let running: Promise<void>;
let gateway: Served;

beforeAll(async () => {
  [env, deps] = await Promise.all([startDevServerEnv(), testDeps()]);
  const taskQueue = taskQueueFor('proposal-secrets');
  worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
  });
  running = worker.run();
  gateway = await serve(
    createApp({
      client: env.client,
      taskQueue,
      auth: new Authenticator({ tokens: [{ name: 'secrets-operator', role: 'operator', token }] }),
      dataDir: deps.dataDir,
      accessLog: () => undefined,
    }),
  );
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

interface Answer {
  status: number;
  text: string;
  body: { title: string; errors: { field: string; reason: string }[]; quarantined: boolean; detail: string };
}

const post = async (path: string, body: unknown): Promise<Answer> => {
  const res = await fetch(`${gateway.baseUrl}${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Answer['body'] };
};

const missionState = async (id: string): Promise<{ hash: string; state: StateDocument }> =>
  (await (await fetch(`${gateway.baseUrl}/missions/${id}`, { headers })).json()) as {
    hash: string;
    state: StateDocument;
  };

/** Every payload of a history, decoded: what a reader of the history could see. */
async function historyText(id: string): Promise<string> {
  const json = historyToJSON(await env.client.workflow.getHandle(missionWorkflowId(id)).fetchHistory());
  const decoded = [...json.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) =>
    Buffer.from(m[1]!, 'base64').toString('utf8'),
  );
  return `${json}\n${decoded.join('\n')}`;
}

async function ledgerText(): Promise<string> {
  const dir = dataPaths(deps.dataDir).ledgerDir;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile());
  return (await Promise.all(files.map((e) => readFile(join(e.parentPath, e.name), 'utf8')))).join('\n');
}

test('a secret in a proposal is refused, and quarantines the mission only when a signer of it signed', async () => {
  const owner = newSigner();
  const stranger = newSigner();
  const id = randomUUID();
  // No auto-approval: the beat waits in REVIEW for the owner, so HEAD holds still.
  const started = await post('/missions', {
    ...prompt(id),
    config: {
      signers: [{ key: owner.key, classes: ['control', 'approval'], label: 'owner' }],
      schedule: FAST_SCHEDULE,
    },
  });
  expect(started.status).toBe(201);
  await eventually(
    () => missionState(id),
    (v) => v.state?.execution?.phase === 'REVIEW',
    90_000,
  );
  const inputs = { reason: `rotate ${KEY} tonight` };
  const expectRefused = (answer: Answer) => {
    expect(answer.status).toBe(400);
    expect(answer.body.title).toBe('Secret in proposal');
    expect(answer.body.errors).toEqual([
      { field: 'body.inputs.reason', reason: 'SHHH-SECRET-CONTENT: aws-access-key-id' },
    ]);
    expect(answer.text).not.toContain(KEY);
  };

  // A signer the mission does not know, then the owner's key under a signature that is not the owner's.
  const foreign = proposalSigner(id, stranger, FAST_SCHEDULE);
  const unregistered = await post(
    '/transition',
    foreign((await missionState(id)).hash, 'Control_Pause', inputs),
  );
  expectRefused(unregistered);
  expect(unregistered.body.quarantined).toBe(false);
  expect(unregistered.body.detail).toContain(`signer ${stranger.key} is not registered`);
  const forged = {
    ...foreign((await missionState(id)).hash, 'Control_Pause', inputs),
    signer: owner.key,
  };
  const unverified = await post('/transition', forged);
  expectRefused(unverified);
  expect(unverified.body.quarantined).toBe(false);
  expect(unverified.body.detail).toMatch(/not quarantined: signature/);
  // A breach report the mission did not confirm itself, naming the owner, is refused outright.
  const claimed = env.client.workflow.getHandle(missionWorkflowId(id)).executeUpdate(proposalBreachUpdate, {
    args: [
      {
        proposal_hash: `sha256-${'0'.repeat(64)}`,
        transition: 'Control_Pause',
        signer: owner.key,
        findings: [{ rule_id: 'SHHH-SECRET-CONTENT', pattern: 'aws-access-key-id', field: 'inputs.reason' }],
      },
    ],
  });
  await expect(claimed).rejects.toThrow(WorkflowUpdateFailedError);
  expect((await missionState(id)).state.policy.phase).toBe('CLEAR');

  // The owner's own signature: refused all the same, and the mission is quarantined.
  const own = proposalSigner(id, owner, FAST_SCHEDULE);
  let signed: Answer | undefined;
  for (let i = 0; i < 10 && signed?.body.quarantined !== true; i++)
    signed = await post('/transition', own((await missionState(id)).hash, 'Control_Pause', inputs));
  expectRefused(signed!);
  expect(signed!.body.quarantined).toBe(true);
  const policy = (await missionState(id)).state.policy;
  expect(policy.phase).toBe('QUARANTINED');
  expect(policy.breaches).toEqual(['SHHH-SECRET-CONTENT at inputs.reason']);
  expect(policy.rationale).toBe(
    `proposal Control_Pause signed by ${owner.key} breaches the policy: SHHH-SECRET-CONTENT (aws-access-key-id at inputs.reason)`,
  );
  // The proposal never became a transition: control was not paused.
  expect((await missionState(id)).state.control.phase).toBe('RUNNING');

  // An agent's evidence with a secret in it is refused before any workflow records it.
  const a2a = await fetch(`${gateway.baseUrl}/a2a`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'swoosh.submitEvidence',
      params: {
        kind: 'validation-report',
        reportId: 'report-leak-1',
        missionId: id,
        artifactId: `artifact-${'a'.repeat(64)}`,
        reviewer: 'lint',
        result: 'fail',
        coverage: 1,
        findings: [{ id: 'c1', ok: false, detail: `found ${KEY} in the config` }],
        createdAt: '2026-11-23T10:00:00.000Z',
      },
    }),
  });
  const rpc = await a2a.text();
  expect(rpc).not.toContain(KEY);
  expect(JSON.parse(rpc)).toMatchObject({
    error: {
      code: -32602,
      data: {
        errors: [
          {
            field: 'params.findings[0].detail',
            reason: 'a secret-like value: SHHH-SECRET-CONTENT (aws-access-key-id)',
          },
        ],
      },
    },
  });

  const history = await historyText(id);
  // What history holds is the secret-free report the quarantine was taken on, and only that one.
  expect(history).toContain('"field":"inputs.reason"');
  expect(history.match(/EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED/g)).toHaveLength(1);
  expect(history).not.toContain(KEY);
  expect(await ledgerText()).not.toContain(KEY);
  const evidence = await readdir(dataPaths(deps.dataDir).evidenceDir, {
    recursive: true,
    withFileTypes: true,
  });
  for (const blob of evidence.filter((e) => e.isFile()))
    expect(await readFile(join(blob.parentPath, blob.name), 'utf8')).not.toContain(KEY);
  await env.client.workflow
    .getHandle(missionWorkflowId(id))
    .terminate('test over')
    .catch(() => undefined);
});
