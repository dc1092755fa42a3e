/**
 * Hostile input to every route of a real gateway: malformed, oversized, deeply nested and
 * wrongly typed bodies, prototype-pollution keys, odd content types, query strings, path ids and
 * authorization headers. Nothing may answer 5xx, the gateway must keep serving, and nothing may
 * be written: no new workflow, no accepted update or signal on a mission, no ledger or evidence byte.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { dataPaths } from '../../activities/data-dir';
import { missionWorkflowId } from '../../schemas/mission';
import { eventually } from '../support/temporal';
import { type GatewayFixture, type OwnedMission, startWithHeldMission } from './support';

let fx: GatewayFixture;
let held: OwnedMission;

beforeAll(async () => {
  ({ fx, held } = await startWithHeldMission('gateway-fuzz'));
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

/** Every file under the data folder's ledger and evidence, with its size (health probes aside). */
async function files(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.health-')) continue;
      const path = join(d, name);
      const s = await stat(path).catch(() => undefined);
      if (!s) continue;
      if (s.isDirectory()) await walk(path);
      else out[path] = s.size;
    }
  };
  await walk(dir);
  return out;
}

interface Snapshot {
  head: string;
  files: Record<string, number>;
  /** Updates admitted and signals received by the held mission. */
  messages: number;
  workflows: number;
}

async function snapshot(): Promise<Snapshot> {
  const paths = dataPaths(fx.dataDir);
  const history = await fx.env.client.workflow.getHandle(missionWorkflowId(held.id)).fetchHistory();
  const messages = (history.events ?? []).filter(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionSignaledEventAttributes,
  ).length;
  const count = await fx.env.client.workflowService.countWorkflowExecutions({
    namespace: 'default',
    query: `TaskQueue = '${fx.taskQueue}'`,
  });
  return {
    head: await held.head(),
    files: { ...(await files(paths.ledgerDir)), ...(await files(paths.evidenceDir)) },
    messages,
    workflows: Number(count.count),
  };
}

const printable = fc.stringMatching(/^[ -~]{0,60}$/);

/** A JSON text with a prototype-polluting key spliced into one of its objects. */
function withHostileKey(json: string, key: string, at: number): string {
  const braces = [...json.matchAll(/\{/g)].map((m) => m.index);
  if (braces.length === 0) return `{"${key}":{"polluted":true}}`;
  const i = braces[at % braces.length]!;
  const close = json[i + 1] === '}' ? '' : ',';
  return `${json.slice(0, i + 1)}"${key}":{"polluted":true}${close}${json.slice(i + 1)}`;
}

test('no hostile request gets a 5xx, crashes the gateway or writes anything', async () => {
  const before = await snapshot();
  const head = before.head;
  // Bodies shaped like the real contracts, so the hostile key is all that is wrong with them.
  const realistic = [
    held.proposal(head, 'Policy_Update', { policy_version: 'fz', rationale: 'fuzz' }),
    {
      id: held.id,
      objective: 'x',
      priority: 'P1',
      originatingSpec: 'https://x.org',
      createdAt: '2026-11-23T09:00:00Z',
    },
    { action: 'pause', reason: 'fuzz' },
    { reason: 'fuzz', taskQueue: 'q' },
    { reason: 'fuzz', budgets: { io: 100 } },
    { jsonrpc: '2.0', id: 1, method: 'swoosh.proposeTransition', params: { proposal: {} } },
  ].map((b) => JSON.stringify(b));

  const body = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string(),
    fc.constantFrom('{', '{"a":', '[1,2', 'null', '"text"', '123', 'true', '{"a":1}{"b":2}', '\u0000', ''),
    fc
      .tuple(
        fc.constantFrom(...realistic),
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        fc.nat(),
      )
      .map(([json, key, at]) => withHostileKey(json, key, at)),
    fc.integer({ min: 65 * 1024, max: 200 * 1024 }).map((n) => JSON.stringify({ pad: 'x'.repeat(n) })),
    fc.integer({ min: 33, max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
    fc.constant(undefined),
  );
  const routes = fx.gateway.routes;
  const request = fc.record({
    route: fc.constantFrom(...routes),
    id: fc.oneof(fc.constant(held.id), fc.uuid(), printable),
    body,
    contentType: fc.constantFrom(
      'application/json',
      'text/plain',
      'application/json; charset=utf-16',
      undefined,
    ),
    query: fc.dictionary(printable, printable, { maxKeys: 3 }),
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant(`Bearer ${fx.tokens.owner}`) },
      { weight: 1, arbitrary: printable },
    ),
  });

  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const path = r.route.path.replace(':id', encodeURIComponent(r.id));
      const url = new URL(path, fx.running.url);
      for (const [k, v] of Object.entries(r.query)) url.searchParams.set(k, v);
      const headers: Record<string, string> = { authorization: r.authorization };
      if (r.contentType) headers['content-type'] = r.contentType;
      const sendsBody = r.route.method !== 'get' && r.body !== undefined;
      const res = await fetch(url, {
        method: r.route.method.toUpperCase(),
        headers,
        body: sendsBody ? r.body : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      // A valid event-stream request opens a stream: the status is all this test needs.
      await res.body?.cancel();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${r.route.method} ${path}`).toBeLessThan(500);
    }),
    { numRuns: 400 },
  );
  // The mix really reached the routes' own checks, not only the front door.
  expect([...statuses.keys()]).toEqual(expect.arrayContaining([400, 401, 413, 415]));

  const health = await fx.as.viewer.health();
  expect(health.status).toBe(200);
  // Visibility trails by moments: wait for it to show anything that might have been started.
  const after = await eventually(snapshot, (s) => s.workflows !== before.workflows, 2_000);
  expect(after).toEqual(before);
}, 240_000);

test('JSON-RPC method names that exist on every object are unknown methods, not calls', async () => {
  for (const method of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    const { replies } = await fx.as.agent.a2a({ jsonrpc: '2.0', id: method, method });
    expect(replies).toMatchObject({ id: method, error: { code: -32601 } });
  }
});

test('a prototype-pollution key in a proposal’s free-form inputs is refused by name', async () => {
  const proposal = held.proposal(await held.head(), 'Policy_Update', { policy_version: 'p', rationale: 'x' });
  const text = JSON.stringify(proposal).replace('"inputs":{', '"inputs":{"__proto__":{"isAdmin":true},');
  const res = await fx.as.agent.request('POST', '/transition', { body: text });
  expect(res.status).toBe(400);
  if (!res.ok) expect(res.body.errors?.map((e) => e.field)).toEqual(['body.inputs.__proto__']);
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
});
