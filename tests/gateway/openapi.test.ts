/**
 * The OpenAPI document: valid OpenAPI 3.1 (checked by a validator against the official schema),
 * every JSON Schema in it compiles as draft 2020-12 with every $ref resolving, and every route
 * the express app serves is in it and nothing else, the timer routes included: each is declared
 * once on the route registry. Every request body has an example its schema accepts, a
 * method no route declares is a 405 with `Allow`, OPTIONS lists the declared methods, and an
 * empty body is no body. No Temporal call is made: the client connects lazily and every request
 * here is answered before a handler would call it.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Client } from '@temporalio/client';
import Ajv2020 from 'ajv/dist/2020';
import type { Express } from 'express';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createGateway, type Gateway } from '../../api/app';
import { Authenticator, newToken } from '../../api/auth';
import { SwooshClient } from '../../api/client';
import { startGateway, type RunningGateway } from '../../api/server';
import { StateQuery } from '../../schemas/api';

const tokens = { owner: newToken() };
let gateway: Gateway;
let running: RunningGateway;
let doc: Record<string, unknown>;

beforeAll(async () => {
  gateway = createGateway({
    client: new Client(),
    taskQueue: 'openapi-test',
    auth: new Authenticator({
      tokens: [{ name: 'o', role: 'owner', token: tokens.owner }],
    }),
    dataDir: '/nonexistent',
    accessLog: () => {},
  });
  running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 1000 });
  const res = await new SwooshClient(running.url).request<Record<string, unknown>>('GET', '/openapi.json');
  if (!res.ok) throw new Error(`no document: ${res.status}`);
  doc = res.body;
});

afterAll(async () => {
  await running?.close();
});

/** Every (method, path) the express app would route, from its router stack. */
function servedRoutes(app: Express): string[] {
  interface Layer {
    route?: { path: string; methods: Record<string, boolean> };
    handle?: { stack?: Layer[] };
  }
  const out: string[] = [];
  const walk = (stack: Layer[]): void => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods))
          if (on) out.push(`${method} ${layer.route.path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out.sort();
}

test('the document is valid OpenAPI 3.1', async () => {
  const validator = new Validator();
  const result = await validator.validate(doc);
  expect(result.errors).toBeUndefined();
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
});

test('every route the app serves is documented, and nothing else', () => {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  const documented = Object.entries(paths)
    .flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    .sort();
  const served = servedRoutes(gateway.app);
  expect(served.length).toBeGreaterThan(15);
  expect(documented).toEqual(served);
  for (const route of [
    'post /transition',
    'get /missions/:id/events',
    'post /a2a',
    'post /controls/pause-all',
    'post /timers',
    'get /timers/dead-letters',
    'post /timers/:id/replay',
  ]) {
    expect(served).toContain(route);
  }
});

test('every schema compiles as JSON Schema 2020-12 and every $ref resolves', () => {
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema({ $id: 'swoosh:openapi', components: { schemas } });
  const refs: string[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(collect);
    if (typeof value !== 'object' || value === null) return;
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') refs.push(v);
      else collect(v);
    }
  };
  collect(doc);
  expect(refs.length).toBeGreaterThan(20);
  for (const ref of refs) {
    expect(ref).toMatch(/^#\/components\/schemas\//);
    expect(schemas).toHaveProperty([ref.slice('#/components/schemas/'.length)]);
    expect(ajv.getSchema(`swoosh:openapi${ref}`)).toBeTypeOf('function');
  }
});

test('operations carry their roles, and protected ones the bearer scheme with 401/403 answers', () => {
  const paths = doc.paths as Record<
    string,
    Record<string, { security: unknown[]; responses: Record<string, unknown>; 'x-swoosh-roles': string[] }>
  >;
  const pauseAll = paths['/controls/pause-all']!.post!;
  expect(pauseAll['x-swoosh-roles']).toEqual(['owner']);
  expect(pauseAll.security).toEqual([{ bearer: [] }]);
  expect(Object.keys(pauseAll.responses)).toEqual(
    expect.arrayContaining(['202', '400', '401', '403', '413', '415']),
  );
  expect(paths['/openapi.json']!.get!.security).toEqual([]);
  expect(paths['/timers']!.post!['x-swoosh-roles']).toEqual(['agent', 'operator', 'owner']);
});

test('/docs renders every operation on one self-contained page', async () => {
  const res = await new SwooshClient(running.url).fetch('GET', '/docs');
  expect(res.headers.get('content-type')).toContain('text/html');
  expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
  const html = await res.text();
  expect(html).not.toMatch(/<script|https?:\/\/(?!json-schema\.org)/);
  for (const path of Object.keys(doc.paths as object)) expect(html).toContain(path);
});

test('every request body has an example that the zod contract and the document both accept', () => {
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema({ $id: 'swoosh:openapi', components: { schemas } });
  const paths = doc.paths as Record<
    string,
    Record<
      string,
      { requestBody?: { content: Record<string, { schema: { $ref: string }; example?: unknown }> } }
    >
  >;
  const withBody = gateway.routes.filter((r) => r.body);
  expect(withBody.length).toBeGreaterThan(10);
  for (const route of withBody) {
    const name = `${route.method} ${route.path}`;
    expect(route.example, name).toBeDefined();
    expect(route.body!.safeParse(route.example).success, name).toBe(true);
    const media =
      paths[route.path.replace(/:(\w+)/g, '{$1}')]![route.method]!.requestBody!.content['application/json']!;
    expect(media.example, name).toEqual(route.example);
    const validate = ajv.getSchema(`swoosh:openapi${media.schema.$ref}`)!;
    expect(validate(route.example), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
  }
});

test('a method no route declares is 405 with Allow, and OPTIONS lists the declared methods', async () => {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  const templates = Object.keys(paths).map((t) => ({
    template: t,
    pattern: new RegExp(`^${t.replace(/\{\w+\}/g, '[^/]+')}$`),
    methods: Object.keys(paths[t]!).map((m) => m.toUpperCase()),
  }));
  const order = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'];
  for (const template of Object.keys(paths)) {
    const path = template.replace(/\{\w+\}/g, 'x1');
    // A concrete path owns its methods; `/timers/dead-letters` is not also a `/timers/{id}`.
    const matching = templates.filter((t) => t.pattern.test(path));
    const concrete = matching.filter((t) => !t.template.includes('{'));
    const declared = new Set((concrete.length > 0 ? concrete : matching).flatMap((t) => t.methods));
    if (declared.has('GET')) declared.add('HEAD');
    declared.add('OPTIONS');
    const allow = order.filter((m) => declared.has(m)).join(', ');
    const options = await fetch(new URL(path, running.url), { method: 'OPTIONS' });
    expect(options.status, `OPTIONS ${path}`).toBe(204);
    expect(options.headers.get('allow'), `OPTIONS ${path}`).toBe(allow);
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => !declared.has(m))) {
      const res = await fetch(new URL(path, running.url), { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  }
  // Not a timer id, as the document says: DELETE is not a method of /timers/dead-letters.
  const deadLetters = await fetch(new URL('/timers/dead-letters', running.url), { method: 'DELETE' });
  expect(deadLetters.status).toBe(405);
  expect(deadLetters.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  // A path no route declares stays a 404, whatever the method.
  expect((await fetch(new URL('/nowhere', running.url), { method: 'PUT' })).status).toBe(404);
  expect((await fetch(new URL('/nowhere', running.url), { method: 'OPTIONS' })).status).toBe(404);
});

test('Content-Length: 0 is no body; a route that takes no body refuses one by name', async () => {
  const client = new SwooshClient(running.url).as(tokens.owner);
  const auth = { authorization: `Bearer ${tokens.owner}` };
  // No content type and no bytes: judged on its parameters (an id with a space), never 415.
  const cancel = await fetch(new URL('/timers/not%20an%20id', running.url), {
    method: 'DELETE',
    headers: auth,
    body: '',
  });
  expect(cancel.status).toBe(400);
  expect(((await cancel.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('params.id');
  const ack = await fetch(new URL('/timers/dead-letters/ack', running.url), {
    method: 'POST',
    headers: auth,
    body: '',
  });
  expect(ack.status).toBe(400);
  expect(((await ack.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('params.id');
  // A body where none is taken is named, not ignored.
  const stray = await client.request('DELETE', '/timers/not%20an%20id', { body: { reason: 'x' } });
  expect(stray.status).toBe(400);
  if (!stray.ok) expect(stray.body.errors).toEqual([{ field: 'body', reason: 'this route takes no body' }]);
  // Bytes without a content type are still not JSON.
  const typeless = await fetch(new URL('/missions', running.url), {
    method: 'POST',
    headers: auth,
    body: new Uint8Array([123, 125]),
  });
  expect(typeless.status).toBe(415);
});

test('patterns that state refinements stay linear: many blank projection items are refused at once', () => {
  // With two adjacent `\s*` per item this took seconds at 16 items and doubled with each more.
  const parsed = StateQuery.safeParse({
    mission: '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11',
    projection: `${'  ,'.repeat(60)}x`,
  });
  expect(parsed.success).toBe(false);
  expect(
    StateQuery.parse({ mission: '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11', projection: ' Council, ,POLICY ' }),
  ).toMatchObject({ projection: ['council', 'policy'] });
});
