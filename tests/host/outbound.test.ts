/**
 * The outbound policy (issue 13, "No confused deputy"): which addresses a webhook or a web source
 * may reach, the SWOOSH_OUTBOUND_ALLOW setting that makes exceptions, and the request that applies
 * both on the address it connects to, with its redirect, size and time limits. Requests go to real
 * servers on loopback ports; a refused request must never reach them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  addressRefusal,
  OutboundFailedError,
  type OutboundPolicy,
  OutboundRefusedError,
  type OutboundRequest,
  outboundRequest,
  OutboundTooLargeError,
} from '../../host/outbound';
import { parseOutboundAllow } from '../../schemas/outbound';
import { startHttpServer, type TestServer } from '../activities/support/http-server';

const policy = (allow: string): OutboundPolicy => ({ allow: parseOutboundAllow(allow) });
const NONE = policy('');

describe('addresses', () => {
  const refusal = (address: string, allow = NONE, port = 80) =>
    addressRefusal(allow, { host: address, port }, address);

  test.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.0.9', 'a loopback address'],
    ['::1', 'a loopback address'],
    ['0.0.0.0', 'an unspecified address'],
    ['::', 'an unspecified address'],
    ['169.254.169.254', 'a link-local address'],
    ['fe80::1', 'a link-local address'],
    ['10.1.2.3', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['fd12:3456::1', 'a private address'],
    ['100.64.0.1', 'a carrier-grade NAT address'],
    ['224.0.0.251', 'a multicast address'],
    ['ff02::1', 'a multicast address'],
    ['255.255.255.255', 'the broadcast address'],
    ['240.0.0.1', 'a reserved address'],
    ['192.0.2.10', 'a reserved address'],
    ['2001:db8::1', 'a reserved address'],
  ])('%s is refused as %s, and the reason says how to allow it', (address, kind) => {
    expect(refusal(address)).toBe(`${address} is ${kind}; allow it with SWOOSH_OUTBOUND_ALLOW`);
  });

  test.each([
    ['::ffff:127.0.0.1', '127.0.0.1', 'a loopback address'],
    ['::ffff:a9fe:a9fe', '169.254.169.254', 'a link-local address'],
    ['::ffff:0:10.0.0.1', '10.0.0.1', 'a private address'],
    ['::192.168.0.1', '192.168.0.1', 'a private address'],
    ['64:ff9b::7f00:1', '127.0.0.1', 'a loopback address'],
    ['2002:a9fe:a9fe::1', '169.254.169.254', 'a link-local address'],
  ])('%s, which embeds %s, is refused as the IPv4 address it reaches', (address, inner, kind) => {
    expect(refusal(address)).toBe(
      `${address} is ${kind} (IPv4 ${inner} in IPv6 form); allow it with SWOOSH_OUTBOUND_ALLOW`,
    );
  });

  test.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    '%s is public and allowed',
    (address) => {
      expect(refusal(address)).toBeUndefined();
    },
  );

  test('an allowed address, network or port lets exactly that through', () => {
    const allow = policy('127.0.0.1:8443, 10.0.0.0/8, fd00::/8, [::1]:9000');
    expect(refusal('127.0.0.1', allow, 8443)).toBeUndefined();
    expect(refusal('127.0.0.1', allow, 7233)).toContain('loopback');
    expect(refusal('::ffff:127.0.0.1', allow, 8443)).toBeUndefined();
    expect(refusal('10.200.0.1', allow, 1)).toBeUndefined();
    expect(refusal('fd00::5', allow)).toBeUndefined();
    expect(refusal('::1', allow, 9000)).toBeUndefined();
    expect(refusal('::1', allow, 9001)).toContain('loopback');
    expect(refusal('169.254.169.254', allow)).toContain('link-local');
    expect(refusal('192.168.0.1', allow)).toContain('private');
  });
});

describe('SWOOSH_OUTBOUND_ALLOW', () => {
  test('reads addresses, networks and host names, each with an optional port', () => {
    expect(parseOutboundAllow(undefined)).toEqual([]);
    expect(parseOutboundAllow(' ')).toEqual([]);
    expect(
      parseOutboundAllow('127.0.0.1, 10.0.0.0/8,hooks.Internal:8443,[::1]:9000, fd00::/8').map((e) =>
        e.kind === 'host' ? [e.host, e.port] : [e.network.version, e.prefix, e.port],
      ),
    ).toEqual([
      [4, 32, undefined],
      [4, 8, undefined],
      ['hooks.internal', 8443],
      [6, 128, 9000],
      [6, 8, undefined],
    ]);
  });

  test.each([
    ['10.0.0.0/33', 'the prefix must be 0 to 32'],
    ['10.1.0.0/8', 'has address bits set past the /8 prefix'],
    ['300.1.1.1', 'not an IPv4 address'],
    ['010.0.0.1', 'not an IPv4 address'],
    ['hooks.internal:0', 'the port must be 1 to 65535'],
    ['hooks.internal:99999', 'the port must be 1 to 65535'],
    ['[10.0.0.1]:80', 'not an IPv6 address in brackets'],
    ['*.internal', 'not a host name, IP address or network'],
    ['http://hooks.internal/', 'name a host, an address or a network, not a URL'],
  ])('refuses %s, naming the variable and the entry', (value, reason) => {
    expect(() => parseOutboundAllow(`127.0.0.1,${value}`)).toThrow(
      `SWOOSH_OUTBOUND_ALLOW is invalid: "${value}": ${reason}`,
    );
  });
});

describe('requests', () => {
  let server: TestServer;
  let port: number;
  let other: TestServer;
  let otherPort: number;
  const seen: string[] = [];

  function handle(req: IncomingMessage, res: ServerResponse): void {
    seen.push(req.url ?? '');
    const to = (location: string) => {
      res.writeHead(302, { location });
      res.end();
    };
    if (req.url === '/to-metadata') return to('http://169.254.169.254/latest/meta-data/');
    if (req.url === '/to-private') return to('http://10.0.0.1/');
    if (req.url === '/to-other-port') return to(other.url);
    if (req.url === '/to-hello') return to('/hello');
    if (req.url === '/big') return void res.end('x'.repeat(2048));
    if (req.url === '/big-chunked') {
      res.write('x'.repeat(1024));
      return void res.end('x'.repeat(1024));
    }
    if (req.url === '/stall') return void res.writeHead(200).write('partial');
    res.end('hello');
  }

  beforeAll(async () => {
    server = await startHttpServer(handle);
    port = Number(new URL(server.url).port);
    other = await startHttpServer(handle);
    otherPort = Number(new URL(other.url).port);
  });

  afterAll(async () => {
    await server?.close();
    await other?.close();
  });

  const get = (allow: OutboundPolicy, url: string, options: Partial<OutboundRequest> = {}) =>
    outboundRequest(allow, { url, method: 'GET', timeoutMs: 2_000, maxBytes: 1024, ...options });

  async function refused(allow: OutboundPolicy, url: string, options: Partial<OutboundRequest> = {}) {
    const before = seen.length;
    const error = await get(allow, url, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OutboundRefusedError);
    expect(seen.length).toBe(before);
    return (error as Error).message;
  }

  test('a loopback address is refused unless allowed, in any spelling', async () => {
    const loopback = '127.0.0.1 is a loopback address; allow it with SWOOSH_OUTBOUND_ALLOW';
    expect(await refused(NONE, `http://127.0.0.1:${port}/`)).toBe(loopback);
    // URL parsing turns these into 127.0.0.1 before anything connects.
    expect(await refused(NONE, `http://2130706433:${port}/`)).toBe(loopback);
    expect(await refused(NONE, `http://0x7f.1:${port}/`)).toBe(loopback);
    expect(await refused(NONE, `http://[::ffff:127.0.0.1]:${port}/`)).toContain(
      'IPv4 127.0.0.1 in IPv6 form',
    );
    expect(await refused(NONE, `http://[::1]:${port}/`)).toContain('::1 is a loopback address');
    const ok = await get(policy('127.0.0.1'), `http://127.0.0.1:${port}/`);
    expect([ok.status, ok.body.toString()]).toEqual([200, 'hello']);
  });

  test('a host name is checked on the address it resolves to, for http and https', async () => {
    const reason = 'localhost resolves to 127.0.0.1, which is a loopback address';
    expect(await refused(NONE, `http://localhost:${port}/`)).toContain(reason);
    expect(await refused(NONE, `https://localhost:${port}/`)).toContain(reason);
    // Allowed by address: whatever name leads there.
    expect((await get(policy('127.0.0.1'), `http://localhost:${port}/`)).status).toBe(200);
    // Allowed by name, on one port only.
    expect((await get(policy(`localhost:${port}`), `http://localhost:${port}/`)).status).toBe(200);
    expect(await refused(policy(`localhost:${port}`), `http://localhost:${otherPort}/`)).toContain(reason);
  });

  test('an address allowed on one port is refused on another', async () => {
    expect(await refused(policy(`127.0.0.1:${port}`), `http://127.0.0.1:${otherPort}/`)).toContain(
      'loopback',
    );
  });

  test('redirects are not followed unless asked, and each hop is checked again', async () => {
    const allow = policy(`127.0.0.1:${port}`);
    const unfollowed = await get(allow, `http://127.0.0.1:${port}/to-metadata`);
    expect([unfollowed.status, unfollowed.headers.location]).toEqual([
      302,
      'http://169.254.169.254/latest/meta-data/',
    ]);
    const follow = { maxRedirects: 3 };
    expect(await get(allow, `http://127.0.0.1:${port}/to-hello`, follow)).toMatchObject({
      status: 200,
      url: new URL(`http://127.0.0.1:${port}/hello`),
    });
    const hop = async (path: string) => {
      const error = await get(allow, `http://127.0.0.1:${port}${path}`, follow).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OutboundRefusedError);
      return (error as Error).message;
    };
    expect(await hop('/to-metadata')).toContain('169.254.169.254 is a link-local address');
    expect(await hop('/to-private')).toContain('10.0.0.1 is a private address');
    const before = seen.length;
    expect(await hop('/to-other-port')).toContain('127.0.0.1 is a loopback address');
    // Only the first hop arrived; the redirect's target was never contacted.
    expect(seen.slice(before)).toEqual(['/to-other-port']);
  });

  test('URLs with credentials and schemes other than http(s) are refused', async () => {
    const allow = policy('127.0.0.1');
    const message = await refused(allow, `http://admin:s3cret@127.0.0.1:${port}/`);
    expect(message).toBe('a URL with credentials is refused; send them in a header');
    expect(await refused(allow, 'file:///etc/passwd')).toContain('only http and https');
  });

  test('a body over the size limit fails the request, whether or not its length was announced', async () => {
    const allow = policy('127.0.0.1');
    for (const path of ['/big', '/big-chunked']) {
      await expect(get(allow, `http://127.0.0.1:${port}${path}`)).rejects.toThrow(OutboundTooLargeError);
    }
    expect((await get(allow, `http://127.0.0.1:${port}/big`, { maxBytes: 0 })).body.length).toBe(0);
  });

  test('the deadline covers the whole exchange, and says whether an answer had begun', async () => {
    const error = await get(policy('127.0.0.1'), `http://127.0.0.1:${port}/stall`, { timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OutboundFailedError);
    expect(error).toMatchObject({ code: 'TIMEOUT', responded: true, message: 'timed out' });
  });
});

describe('reused connections', () => {
  let server: Server;
  let url: string;
  const connections: number[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/long') return void res.end('x'.repeat(64 * 1024));
      res.statusCode = req.url === '/empty' ? 204 : 200;
      res.end(req.url === '/empty' ? undefined : 'ok');
    });
    server.on('connection', () => connections.push(Date.now()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (allow: OutboundPolicy, path: string, reuseConnection: boolean) =>
    outboundRequest(allow, {
      url: `${url}${path}`,
      method: 'POST',
      body: Buffer.from('{}'),
      timeoutMs: 2_000,
      maxBytes: 0,
      reuseConnection,
    });

  /** Connections the server accepted while `work` ran. */
  async function connectionsFor(work: () => Promise<unknown>): Promise<number> {
    const before = connections.length;
    await work();
    return connections.length - before;
  }

  test('requests that ask share one connection per policy; others get their own', async () => {
    const allow = policy('127.0.0.1');
    const sequentially = async (n: number, send: () => Promise<unknown>) => {
      for (let i = 0; i < n; i++) await send();
    };
    expect(await connectionsFor(() => sequentially(5, () => post(allow, '/empty', false)))).toBe(5);
    expect(await connectionsFor(() => sequentially(5, () => post(allow, '/empty', true)))).toBe(1);
    // A short answer is read to its end and its connection kept.
    expect(await connectionsFor(() => sequentially(3, () => post(allow, '/', true)))).toBe(0);
    // Another policy never takes a connection checked under this one.
    expect(await connectionsFor(() => post(policy('127.0.0.1'), '/empty', true))).toBe(1);
  });

  test('a pooled connection is no way around the policy: another port is still refused', async () => {
    const port = Number(new URL(url).port);
    const allow = policy(`127.0.0.1:${port}`);
    await post(allow, '/empty', true);
    const other = `http://127.0.0.1:${port + 1}/`;
    await expect(
      outboundRequest(allow, {
        url: other,
        method: 'POST',
        timeoutMs: 2_000,
        maxBytes: 0,
        reuseConnection: true,
      }),
    ).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  test('a long unwanted answer closes its connection rather than be read', async () => {
    const allow = policy('127.0.0.1');
    await post(allow, '/empty', true);
    expect(
      await connectionsFor(async () => {
        expect((await post(allow, '/long', true)).status).toBe(200);
        // The answer has gone by then, read to its end or cut off.
        await delay(200);
        await post(allow, '/empty', true);
      }),
    ).toBe(1);
  });
});
