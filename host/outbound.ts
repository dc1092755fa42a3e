/**
 * Every HTTP request SWOOSH sends on someone else's say-so — a timer's webhook, a mission's
 * `http(s)://` source — goes through `outboundRequest` (docs/host.md, "Outbound requests"). It
 * refuses loopback, unspecified, link-local, private, carrier-grade NAT, multicast, broadcast and
 * reserved addresses, in IPv4 and in every IPv6 form that embeds IPv4, unless
 * `SWOOSH_OUTBOUND_ALLOW` names them, so nobody can aim the worker at Temporal, the gateway or a
 * cloud metadata service (issue 13, "No confused deputy").
 *
 * The check is made on the addresses a connection is actually made to: a literal IP before
 * connecting, a host name inside the request's DNS `lookup` hook, whose answer is what the socket
 * then connects to. A name that resolves to a public address when someone checks it and to a
 * private one when SWOOSH connects (DNS rebinding) is therefore refused. A request gets its own
 * connection unless it asks to reuse one (`reuseConnection`): then an earlier request's connection
 * under the same policy, to the same host and port, may carry it, one whose address was checked
 * when it connected. Each request has a deadline for the whole exchange and a limit on the bytes
 * it reads.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import {
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request as httpRequest,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import {
  formatIpv4,
  type IpAddress,
  ipInNetwork,
  OUTBOUND_ALLOW_VARIABLE,
  type OutboundAllowEntry,
  parseNetwork,
  parseIp,
  parseOutboundAllow,
} from '../schemas/outbound';

/** The exceptions to the address rules; nothing but public addresses without any. */
export interface OutboundPolicy {
  readonly allow: readonly OutboundAllowEntry[];
}

/** The policy of this process: `SWOOSH_OUTBOUND_ALLOW` (schemas/outbound.ts); throws on a bad value. */
export function outboundPolicyFromEnv(env: Record<string, string | undefined> = process.env): OutboundPolicy {
  return { allow: parseOutboundAllow(env[OUTBOUND_ALLOW_VARIABLE]) };
}

/**
 * The request was not sent: the policy refused it. The message names the address and the rule,
 * never a header or a URL's credentials.
 */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
}

/** The response body was longer than the request's `maxBytes`; reading stopped there. */
export class OutboundTooLargeError extends Error {
  override name = 'OutboundTooLargeError';
}

/**
 * The exchange failed: a network error (`code` as Node reports it: `ENOTFOUND`, `ECONNREFUSED`, …)
 * or the deadline (`code` `TIMEOUT`). `responded` tells whether a response head had arrived.
 */
export class OutboundFailedError extends Error {
  override name = 'OutboundFailedError';
  constructor(
    readonly code: string,
    readonly responded: boolean,
  ) {
    super(code === 'TIMEOUT' ? 'timed out' : code);
  }
}

export interface OutboundRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Deadline of the whole exchange, from DNS to the last body byte, redirects included. */
  timeoutMs: number;
  /**
   * The most response-body bytes read; a longer body fails the request. `0` wants no body at all:
   * the connection closes once the head has arrived (Node caps a head at 16 KiB).
   */
  maxBytes: number;
  /**
   * Redirects a GET follows, each hop checked like the first and sent without the caller's
   * headers; default 0. Other redirects come back as the response.
   */
  maxRedirects?: number;
  /** Abandons the request (an activity's cancellation); it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * May go over a connection an earlier request under the same policy opened to the same host and
   * port, and leave its own open for the next (webhooks: hundreds a second to a few receivers).
   * Every pooled connection's address was checked when it connected; default false.
   */
  reuseConnection?: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Where the response came from, after redirects. */
  url: URL;
}

type AddressKind =
  | 'loopback'
  | 'unspecified'
  | 'link-local'
  | 'private'
  | 'carrier-grade NAT'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

const DESCRIBED: Record<AddressKind, string> = {
  loopback: 'a loopback address',
  unspecified: 'an unspecified address',
  'link-local': 'a link-local address',
  private: 'a private address',
  'carrier-grade NAT': 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
};

function networks<T>(table: [string, T][]): { network: IpAddress; prefix: number; value: T }[] {
  return table.map(([text, value]) => {
    const parsed = parseNetwork(text);
    if (typeof parsed === 'string') throw new Error(`bad built-in network ${text}: ${parsed}`);
    return { ...parsed, value };
  });
}

/** Non-public IPv4 (IANA special-purpose registry); the first match names the rule. */
const IPV4_RANGES = networks<AddressKind>([
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['255.255.255.255/32', 'broadcast'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
]);

/** Non-public IPv6 that embeds no IPv4 address. */
const IPV6_RANGES = networks<AddressKind>([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
  ['fc00::/7', 'private'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
  ['100::/64', 'reserved'],
  ['64:ff9b:1::/48', 'reserved'],
  ['2001::/32', 'reserved'],
  ['2001:db8::/32', 'reserved'],
]);

/**
 * IPv6 forms that carry an IPv4 address and reach it — mapped, translated, compatible, NAT64,
 * 6to4 — with the bit offset of the IPv4 address inside. Each is judged as that IPv4 address.
 */
const IPV4_IN_IPV6 = networks<bigint>([
  ['::ffff:0:0/96', 0n],
  ['::ffff:0:0:0/96', 0n],
  ['64:ff9b::/96', 0n],
  ['::/96', 0n],
  ['2002::/16', 80n],
]);

/** The IPv4 address an IPv6 address stands for, if it embeds one. */
function embeddedIpv4(ip: IpAddress): IpAddress | undefined {
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, not 0.0.0.0 and 0.0.0.1.
  if (ip.version === 4 || ip.value <= 1n) return undefined;
  const form = IPV4_IN_IPV6.find((r) => ipInNetwork(ip, r.network, r.prefix));
  return form && { version: 4, value: (ip.value >> form.value) & 0xffff_ffffn };
}

function classify(ip: IpAddress): AddressKind | undefined {
  const table = ip.version === 4 ? IPV4_RANGES : IPV6_RANGES;
  return table.find((r) => ipInNetwork(ip, r.network, r.prefix))?.value;
}

interface Target {
  /** The URL's host: a lower-case name without a trailing dot, or an IP address without brackets. */
  host: string;
  port: number;
}

function allowedByName(policy: OutboundPolicy, target: Target): boolean {
  return policy.allow.some(
    (e) => e.kind === 'host' && e.host === target.host && (e.port === undefined || e.port === target.port),
  );
}

/** Why connecting to `address` for `target` is refused, or undefined when it is allowed. */
export function addressRefusal(policy: OutboundPolicy, target: Target, address: string): string | undefined {
  const ip = parseIp(address);
  const subject = address === target.host ? address : `${target.host} resolves to ${address}, which`;
  if (ip === undefined) return `${subject} is not an IP address`;
  const inner = embeddedIpv4(ip);
  const kind = classify(inner ?? ip);
  if (kind === undefined) return undefined;
  const candidates = inner ? [ip, inner] : [ip];
  const allowed = policy.allow.some(
    (e) =>
      e.kind === 'network' &&
      (e.port === undefined || e.port === target.port) &&
      candidates.some((c) => ipInNetwork(c, e.network, e.prefix)),
  );
  if (allowed) return undefined;
  const form = inner ? ` (IPv4 ${formatIpv4(inner.value)} in IPv6 form)` : '';
  return `${subject} is ${DESCRIBED[kind]}${form}; allow it with ${OUTBOUND_ALLOW_VARIABLE}`;
}

/**
 * dns.lookup, with every answer checked before the socket may use it. Node connects only to the
 * addresses this returns, so what is checked is what is connected to.
 */
function checkedLookup(policy: OutboundPolicy, target: Target): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '');
      for (const { address } of addresses) {
        const refusal = addressRefusal(policy, target, address);
        if (refusal !== undefined) return callback(new OutboundRefusedError(refusal), '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Hop {
  response: OutboundResponse;
  /** The next URL when this answer is a redirect the request follows. */
  next?: URL;
}

/** Sends `request` to `url` once, checks included. */
async function exchange(
  policy: OutboundPolicy,
  url: URL,
  request: OutboundRequest,
  signal: AbortSignal,
  follow: boolean,
): Promise<Hop> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundRefusedError(`${url.protocol} URLs are refused; only http and https are sent`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new OutboundRefusedError('a URL with credentials is refused; send them in a header');
  }
  const target: Target = {
    // A name's trailing dot changes nothing about where it leads.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''),
    port: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
  };
  let lookup: LookupFunction | undefined;
  if (!allowedByName(policy, target)) {
    // Node skips the lookup hook for an IP literal, so a literal is checked here.
    if (isIP(target.host) !== 0) {
      const refusal = addressRefusal(policy, target, target.host);
      if (refusal !== undefined) throw new OutboundRefusedError(refusal);
    } else {
      lookup = checkedLookup(policy, target);
    }
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const agent = request.reuseConnection ? pooled(policy, url.protocol) : false;
  const headers = { ...request.headers };
  if (request.body) headers['content-length'] = String(request.body.length);

  return new Promise<Hop>((resolve, reject) => {
    let responded = false;
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(failure(error, responded));
    };
    const req = send(url, {
      method: request.method,
      headers,
      // Pooled only under this policy: no socket checked under another skips this one's check.
      agent,
      signal,
      ...(lookup && { lookup }),
    });
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      responded = true;
      res.on('error', fail);
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      const head = { status, headers: res.headers, url };
      if (follow && REDIRECTS.has(status) && location !== undefined) {
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          return fail(new OutboundRefusedError('a redirect to an invalid URL is refused'));
        }
        settled = true;
        res.destroy();
        return resolve({ response: { ...head, body: Buffer.alloc(0) }, next });
      }
      if (request.maxBytes === 0) {
        settled = true;
        resolve({ response: { ...head, body: Buffer.alloc(0) } });
        if (!agent) return void res.destroy();
        // A short answer is read to its end, so its connection can carry the next request.
        let drained = 0;
        res.on('data', (chunk: Buffer) => {
          drained += chunk.length;
          if (drained > DRAIN_MAX_BYTES) res.destroy();
        });
        return void res.resume();
      }
      const tooLarge = () =>
        fail(new OutboundTooLargeError(`the response is larger than the ${request.maxBytes}-byte limit`));
      if (Number(res.headers['content-length'] ?? 0) > request.maxBytes) return tooLarge();
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > request.maxBytes) return tooLarge();
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ response: { ...head, body: Buffer.concat(chunks) } });
      });
      // A connection closed before the body ended, without an error of its own.
      res.on('close', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    });
    req.end(request.body);
  });
}

/** An unwanted answer longer than this closes its connection rather than be read to its end. */
const DRAIN_MAX_BYTES = 16 * 1024;
/**
 * A pooled connection idle this long is closed: before Node's default server keep-alive (5 s)
 * closes it under a request just sent on it.
 */
const IDLE_CONNECTION_MS = 4_000;

const agents = new WeakMap<OutboundPolicy, { http: HttpAgent; https: HttpsAgent }>();

/** The policy's own connection pool for `protocol`. */
function pooled(policy: OutboundPolicy, protocol: string): HttpAgent {
  let pair = agents.get(policy);
  if (!pair) {
    const options = { keepAlive: true, timeout: IDLE_CONNECTION_MS };
    agents.set(policy, (pair = { http: new HttpAgent(options), https: new HttpsAgent(options) }));
  }
  return protocol === 'https:' ? pair.https : pair.http;
}

/** One of this module's errors for anything a request can fail with. */
function failure(error: unknown, responded: boolean): Error {
  if (error instanceof OutboundRefusedError || error instanceof OutboundTooLargeError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  return new OutboundFailedError(typeof code === 'string' ? code : 'EFAILED', responded);
}

/**
 * Sends one request under the outbound policy. Rejects with OutboundRefusedError (nothing sent to
 * that address), OutboundTooLargeError, OutboundFailedError, or the caller's `signal` reason.
 */
export async function outboundRequest(
  policy: OutboundPolicy,
  request: OutboundRequest,
): Promise<OutboundResponse> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new OutboundRefusedError('not a valid URL');
  }
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([deadline.signal, request.signal]) : deadline.signal;
  const maxRedirects = request.method === 'GET' ? (request.maxRedirects ?? 0) : 0;
  try {
    for (let hop = 0; ; hop++) {
      const { response, next } = await exchange(
        policy,
        url,
        hop === 0 ? request : { ...request, headers: {} },
        signal,
        hop < maxRedirects,
      );
      if (next === undefined) return response;
      url = next;
    }
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason;
    if (deadline.signal.aborted && error instanceof OutboundFailedError) {
      throw new OutboundFailedError('TIMEOUT', error.responded);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
