/**
 * The authorisation matrix, generated from the route registry: every route the gateway declares ×
 * every role, no token and an unknown token. No token or an unknown one is 401 (with
 * `WWW-Authenticate`), a role the route does not list is 403, a role it lists gets past the check.
 * Each request also carries a query key no route takes, so an admitted caller is refused with 400
 * by the route's own validation right after the role check: nothing reaches a handler, no Temporal
 * call is made, and the 400 proves the request was judged on its merits, not its token. A route
 * added to the registry is in the matrix without touching this file.
 */
import { createHash } from 'node:crypto';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createGateway, type Gateway } from '../../api/app';
import { ALL_ROLES, Authenticator, newToken } from '../../api/auth';
import type { RouteDoc } from '../../api/routes';
import { startGateway, type RunningGateway } from '../../api/server';
import type { Role } from '../../schemas/auth';

type Caller = Role | 'anonymous' | 'unknown';
const CALLERS: readonly Caller[] = [...ALL_ROLES, 'anonymous', 'unknown'];

const tokens = Object.fromEntries(ALL_ROLES.map((role) => [role, newToken()])) as Record<Role, string>;
let gateway: Gateway;
let running: RunningGateway;

beforeAll(async () => {
  gateway = createGateway({
    // Never connected: no request in this file may get as far as Temporal.
    client: new Client(),
    taskQueue: 'authorization-matrix',
    auth: new Authenticator({
      tokens: ALL_ROLES.map((role) =>
        // One role by hash only, as a production tokens file holds it.
        role === 'viewer'
          ? { name: `m-${role}`, role, sha256: createHash('sha256').update(tokens[role]).digest('hex') }
          : { name: `m-${role}`, role, token: tokens[role] },
      ),
    }),
    dataDir: '/nonexistent',
    accessLog: () => {},
  });
  running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 1000 });
});

afterAll(async () => {
  await running?.close();
});

/** What the matrix expects of a caller on a route. */
function expected(route: RouteDoc, caller: Caller): 'admitted' | 401 | 403 {
  if (route.access === 'public') return 'admitted';
  if (caller === 'anonymous' || caller === 'unknown') return 401;
  return route.access.includes(caller) ? 'admitted' : 403;
}

async function call(route: RouteDoc, caller: Caller): Promise<Response> {
  // Path parameters get a value no route accepts either; the unknown query key is refused anyway.
  const url = new URL(route.path.replace(/:(\w+)/g, 'not-valid'), running.url);
  url.searchParams.set('zz_authz_probe', '1');
  const headers: Record<string, string> = {};
  if (caller === 'unknown') headers.authorization = `Bearer swt_${'n'.repeat(43)}`;
  else if (caller !== 'anonymous') headers.authorization = `Bearer ${tokens[caller]}`;
  if (route.body) headers['content-type'] = 'application/json';
  return fetch(url, {
    method: route.method.toUpperCase(),
    headers,
    ...(route.body && { body: JSON.stringify(route.example ?? {}) }),
  });
}

test('every declared route answers every caller as its access says', async () => {
  const routes = gateway.routes;
  // The registry is the whole API: the document lists exactly its routes.
  expect(routes.length).toBeGreaterThan(20);
  const cells: string[] = [];
  const tally = { 401: 0, 403: 0, admitted: 0 };
  for (const route of routes) {
    for (const caller of CALLERS) {
      const res = await call(route, caller);
      const want = expected(route, caller);
      tally[want] += 1;
      const cell = `${route.method.toUpperCase()} ${route.path} as ${caller}`;
      if (want === 'admitted') {
        // Past the role check and refused by the route's own validation, before any handler.
        if (res.status !== 400) cells.push(`${cell}: expected 400 after the role check, got ${res.status}`);
      } else if (res.status !== want) {
        cells.push(`${cell}: expected ${want}, got ${res.status}`);
      } else if (want === 401 && res.headers.get('www-authenticate') !== 'Bearer realm="swoosh"') {
        cells.push(`${cell}: 401 without WWW-Authenticate`);
      }
      await res.body?.cancel();
    }
  }
  expect(cells).toEqual([]);
  // Every kind of cell occurs, so the matrix cannot pass by testing nothing.
  expect(tally[401]).toBeGreaterThan(0);
  expect(tally[403]).toBeGreaterThan(0);
  expect(tally.admitted).toBeGreaterThan(0);
  expect(tally[401] + tally[403] + tally.admitted).toBe(routes.length * CALLERS.length);
});

test('the roles in /openapi.json are the registry’s', async () => {
  const doc = (await (await fetch(new URL('/openapi.json', running.url))).json()) as {
    paths: Record<string, Record<string, { 'x-swoosh-roles': string[] }>>;
  };
  for (const route of gateway.routes) {
    const op = doc.paths[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method];
    expect(op?.['x-swoosh-roles'], `${route.method} ${route.path}`).toEqual(
      route.access === 'public' ? ['public'] : [...route.access],
    );
  }
});

test('viewers only read, and only owners reach the controls over every mission', () => {
  // The matrix holds enforcement to the declarations; these hold the declarations to the roles' meaning.
  for (const route of gateway.routes) {
    if (route.access === 'public') {
      expect(route.method, route.path).toBe('get');
      continue;
    }
    if (route.method !== 'get') expect(route.access, `${route.method} ${route.path}`).not.toContain('viewer');
    if (route.path.startsWith('/controls/')) expect(route.access, route.path).toEqual(['owner']);
  }
});
