/**
 * Hostile input to every route of a real gateway: malformed, oversized, deeply nested and
 * wrongly typed bodies, prototype-pollution keys, odd content types, query strings, path ids and
 * authorization headers. Nothing may answer 5xx, the gateway must keep serving, and nothing may
 * be written: no new workflow, no accepted update or signal on a mission, no ledger or evidence byte.
 * Then the contract fuzzer (tests/gateway/support/contract-fuzz.ts): requests generated from /openapi.json
 * for every operation and every caller, each answer held to the document, refused requests
 * changing nothing; `npm run fuzz` runs the same at a larger size.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { eventually } from '../support/temporal';
import { CALLERS, formatReport, fuzz } from './support/contract-fuzz';
import { fuzzGateway } from './support/fuzz-run';
import { type Snapshot, snapshot } from './support/state-snapshot';
import { type GatewayFixture, type OwnedMission, startWithHeldMission } from './support/gateway';

let fx: GatewayFixture;
let held: OwnedMission;

beforeAll(async () => {
  ({ fx, held } = await startWithHeldMission('gateway-fuzz'));
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

const state = (): Promise<Snapshot> => snapshot(fx, held);

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
  const before = await state();
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

  // One request per front-door refusal, so the mix is sure to contain each: an oversized JSON body
  // on a route that reads one is rare enough that 400 random runs once drew none.
  const transition = routes.find((r) => r.method === 'post' && r.path === '/transition')!;
  type Request = typeof request extends fc.Arbitrary<infer R> ? R : never;
  const sure = (over: Partial<Request>): [Request] => [
    {
      route: transition,
      id: held.id,
      body: realistic[0],
      contentType: 'application/json',
      query: {},
      authorization: `Bearer ${fx.tokens.owner}`,
      ...over,
    },
  ];
  const examples = [
    sure({ body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) }),
    sure({ contentType: 'text/plain' }),
    sure({ authorization: 'Bearer not-a-token' }),
    sure({ body: '{"a":' }),
  ];

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
    { numRuns: 400, examples },
  );
  // The mix really reached the routes' own checks, not only the front door.
  expect([...statuses.keys()]).toEqual(expect.arrayContaining([400, 401, 413, 415]));

  const health = await fx.as.viewer.health();
  expect(health.status).toBe(200);
  // Visibility trails by moments: wait for it to show anything that might have been started.
  const after = await eventually(state, (s) => s.workflows !== before.workflows, 2_000);
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

test('the fuzzer flags a document that allows what the server refuses', async () => {
  // Its own failure first: with the timer id's pattern dropped from the document, ids the
  // document now allows are refused by the server, and the fuzzer must say so.
  const doc = (await (await fetch(new URL('/openapi.json', fx.running.url))).json()) as {
    paths: Record<string, Record<string, { parameters: { schema: Record<string, unknown> }[] }>>;
  };
  delete doc.paths['/timers/{id}']!.get!.parameters[0]!.schema.pattern;
  const report = await fuzz({
    baseUrl: fx.running.url,
    doc,
    tokens: fx.tokens,
    examples: 15,
    seed: 1,
    phase: 'refused',
    only: ['getTimer'],
  });
  expect(report.mismatches.map((m) => m.problem).join('\n')).toMatch(
    /a valid request was refused with 400 \(params\.id\) outside x-swoosh-refusals/,
  );
});

test('every caller gets what /openapi.json documents, and refused requests change nothing', async () => {
  const seed = Number(process.env.SWOOSH_FUZZ_SEED ?? 20261202);
  const examples = 100;
  const { refused, writes, before, after } = await fuzzGateway(fx, held, { examples, seed });
  const summary = `seed ${seed} (SWOOSH_FUZZ_SEED)\n${formatReport(refused)}\n${formatReport(writes)}`;
  expect([...refused.serverErrors, ...writes.serverErrors], summary).toEqual([]);
  expect([...refused.mismatches, ...writes.mismatches], summary).toEqual([]);
  expect(refused.acceptedWrites, summary).toEqual([]);
  expect(after).toEqual(before);
  // It reached every caller and every operation, and past the front door into the handlers.
  for (const caller of CALLERS) expect(refused.cases[caller]).toBe(examples);
  const doc = (await (await fetch(new URL('/openapi.json', fx.running.url))).json()) as {
    paths: Record<string, Record<string, { operationId: string }>>;
  };
  const operations = Object.values(doc.paths).flatMap((methods) =>
    Object.values(methods).map((o) => o.operationId),
  );
  expect(Object.keys(refused.operations).sort()).toEqual(operations.sort());
  expect(Object.keys(refused.statuses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404']));
  expect(Object.keys(writes.statuses)).toEqual(expect.arrayContaining(['201', '202', '400', '409']));
}, 240_000);
