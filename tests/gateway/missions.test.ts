import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { missionWorkflowId, type MissionPrompt } from '../../schemas/mission';
import { createSwooshWorker } from '../../workers/worker';
import { testDeps } from '../lifecycle/support/missions';
import { serve, type Served } from '../support/http';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';

/** Where a licensed mission is found once BOOT has passed (the statechart moves on by itself). */
const LICENSED_PHASES = ['PROJECT_LIFECYCLE', 'EXECUTION'];

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let gateway: Served;
const token = newToken();
const authorization = { authorization: `Bearer ${token}` };

function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authorization },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function get(url: string): Promise<Response> {
  return fetch(url, { headers: authorization });
}

function prompt(overrides: Partial<MissionPrompt> = {}): MissionPrompt {
  return {
    id: randomUUID(),
    objective: 'Index the onboarding docs',
    priority: 'P1',
    originatingSpec: 'https://specs.example.org/onboarding',
    createdAt: '2026-11-23T09:00:00.000Z',
    ...overrides,
  };
}

async function workflowExists(missionId: string): Promise<boolean> {
  try {
    await env.client.workflow.getHandle(missionWorkflowId(missionId)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

beforeAll(async () => {
  env = await startDevServerEnv();
  const taskQueue = taskQueueFor('gateway-missions');
  const deps = await testDeps();
  worker = await createSwooshWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    deps,
  });
  running = worker.run();
  const auth = new Authenticator({ tokens: [{ name: 'test-operator', role: 'operator', token }] });
  gateway = await serve(
    createApp({ client: env.client, taskQueue, auth, dataDir: deps.dataDir, accessLog: () => {} }),
  );
});

afterAll(async () => {
  await gateway?.close();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

describe('POST /missions on the real dev server', () => {
  test('starts a mission that GET /missions/:id reads back from the workflow past its licence check', async () => {
    const body = prompt();
    const res = await postJson(`${gateway.baseUrl}/missions`, body);
    expect(res.status).toBe(201);
    const started = (await res.json()) as { workflowId: string; runId: string; created: boolean };
    expect(started).toMatchObject({ workflowId: `mission-${body.id}`, created: true });

    const view = await eventually(
      async () => (await get(`${gateway.baseUrl}/missions/${body.id}`)).json() as Promise<{ phase: string }>,
      (v) => LICENSED_PHASES.includes(v.phase),
    );
    expect(view).toMatchObject({ missionId: body.id, prompt: body });
    expect(LICENSED_PHASES).toContain(view.phase);
  });

  test('the mission is listed by a visibility query on its search attributes, as the Web UI lists it', async () => {
    const body = prompt({ priority: 'P0' });
    expect((await postJson(`${gateway.baseUrl}/missions`, body)).status).toBe(201);

    const query = `SwooshMissionId = '${body.id}' AND SwooshPriority = 'P0' AND SwooshPhase IN ('PROJECT_LIFECYCLE', 'EXECUTION') AND SwooshIngestionPhase = 'READY'`;
    const found = await eventually(
      async () => {
        const ids: string[] = [];
        for await (const wf of env.client.workflow.list({ query })) ids.push(wf.workflowId);
        return ids;
      },
      (ids) => ids.length > 0,
    );
    expect(found).toEqual([`mission-${body.id}`]);
  });

  test('starting the same mission twice returns the first run and starts no second workflow', async () => {
    const body = prompt();
    const first = await postJson(`${gateway.baseUrl}/missions`, body);
    const second = await postJson(`${gateway.baseUrl}/missions`, body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    const a = (await first.json()) as { runId: string };
    const b = (await second.json()) as { runId: string; created: boolean };
    expect(b).toMatchObject({ runId: a.runId, created: false });

    const runs: string[] = [];
    for await (const wf of env.client.workflow.list({ query: `WorkflowId = 'mission-${body.id}'` }))
      runs.push(wf.runId);
    expect(runs).toEqual([a.runId]);
  });

  test('reusing a mission id with a different prompt is a 409 and leaves the first mission as it was', async () => {
    const body = prompt();
    expect((await postJson(`${gateway.baseUrl}/missions`, body)).status).toBe(201);
    const res = await postJson(`${gateway.baseUrl}/missions`, { ...body, objective: 'something else' });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const desc = await env.client.workflow.getHandle(missionWorkflowId(body.id)).describe();
    expect(desc.memo?.prompt).toEqual(body);
  });
});

describe('bad requests are refused and start nothing', () => {
  const cases: [string, (p: MissionPrompt) => unknown, string][] = [
    ['a malformed id', (p) => ({ ...p, id: 'not-a-uuid' }), 'body.id'],
    ['an empty objective', (p) => ({ ...p, objective: '   ' }), 'body.objective'],
    ['an unknown priority', (p) => ({ ...p, priority: 'P9' }), 'body.priority'],
    ['a spec that is not a URI', (p) => ({ ...p, originatingSpec: 'not a uri' }), 'body.originatingSpec'],
    ['a createdAt that is not ISO-8601', (p) => ({ ...p, createdAt: 'yesterday' }), 'body.createdAt'],
    ['an unknown extra field', (p) => ({ ...p, owner: 'mallory' }), 'body.owner'],
    [
      'a prototype-pollution key',
      (p) => `{"__proto__":{"admin":true},${JSON.stringify(p).slice(1)}`,
      'body.__proto__',
    ],
  ];

  test.each(cases)('%s gets a 400 naming the field', async (_name, mutate, field) => {
    const body = prompt();
    const res = await postJson(`${gateway.baseUrl}/missions`, mutate(body));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { errors: { field: string; reason: string }[] };
    expect(problem.errors.map((e) => e.field)).toContain(field);
    expect(await workflowExists(body.id)).toBe(false);
  });

  test('invalid JSON gets a 400 and a wrong content type a 415', async () => {
    const badJson = await postJson(`${gateway.baseUrl}/missions`, '{"id":');
    expect(badJson.status).toBe(400);
    const text = await fetch(`${gateway.baseUrl}/missions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...authorization },
      body: JSON.stringify(prompt()),
    });
    expect(text.status).toBe(415);
  });

  test('a body over the size limit gets a 413', async () => {
    const res = await postJson(`${gateway.baseUrl}/missions`, {
      ...prompt(),
      objective: 'x'.repeat(100_000),
    });
    expect(res.status).toBe(413);
  });
});

describe('GET /missions/:id', () => {
  test('an unknown mission is a 404 and a malformed id a 400', async () => {
    expect((await get(`${gateway.baseUrl}/missions/${randomUUID()}`)).status).toBe(404);
    const bad = await get(`${gateway.baseUrl}/missions/nope`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe('params.id');
  });
});
