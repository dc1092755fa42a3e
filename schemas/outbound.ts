/**
 * The outbound address policy's setting, `SWOOSH_OUTBOUND_ALLOW`, and the IP address format it
 * reads (docs/host.md, "Outbound requests"). SWOOSH refuses to send a webhook or fetch a source
 * from a loopback, private, link-local or otherwise non-public address unless this setting names
 * it, so whoever may create a timer or a mission cannot make the worker reach Temporal, the
 * gateway or a cloud metadata service (issue 13, "No confused deputy"). Pure parsing, no Node
 * built-ins; `host/outbound.ts` applies it to the addresses a request actually connects to.
 */
import { z } from 'zod';

export const OUTBOUND_ALLOW_VARIABLE = 'SWOOSH_OUTBOUND_ALLOW';

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpAddress {
  version: 4 | 6;
  value: bigint;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
// Dotted decimal only, no leading zeros: `010.0.0.1` means 8.0.0.1 to some parsers and 10.0.0.1 to others.
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function parseIpv4(text: string): bigint | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}

function parseIpv6(text: string): bigint | undefined {
  // A zone (`fe80::1%eth0`) names an interface, not part of the address.
  let rest = text.split('%')[0]!;
  if (rest.includes('.')) {
    // A dotted IPv4 tail (`::ffff:127.0.0.1`) is the last two groups.
    const at = rest.lastIndexOf(':');
    const v4 = parseIpv4(rest.slice(at + 1));
    if (at < 0 || v4 === undefined) return undefined;
    rest = `${rest.slice(0, at + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = rest.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...tail].every((g) => HEX_GROUP.test(g))) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  return all.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

/** An IPv4 address in dotted decimal or an IPv6 address in any RFC 4291 text form; else undefined. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === undefined ? undefined : { version: 6, value };
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { version: 4, value };
}

const bits = (version: 4 | 6) => (version === 4 ? 32 : 128);

/** Whether `ip` lies in `network/prefix` (same IP version only). */
export function ipInNetwork(ip: IpAddress, network: IpAddress, prefix: number): boolean {
  if (ip.version !== network.version) return false;
  const shift = BigInt(bits(ip.version) - prefix);
  return ip.value >> shift === network.value >> shift;
}

/** IPv4 dotted decimal of a 32-bit value. */
export function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** `address` or `address/prefix`, with no bits set past the prefix. */
export function parseNetwork(text: string): { network: IpAddress; prefix: number } | string {
  const [address = '', prefixText, extra] = text.split('/');
  const network = parseIp(address);
  if (network === undefined || extra !== undefined) return 'not an IP address or network (address/prefix)';
  const max = bits(network.version);
  if (prefixText === undefined) return { network, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return `the prefix must be 0 to ${max}`;
  const prefix = Number(prefixText);
  if (network.value & ((1n << BigInt(max - prefix)) - 1n))
    return `has address bits set past the /${prefix} prefix`;
  return { network, prefix };
}

/**
 * One exception to the address rules. A network (a single address is a /32 or /128) allows those
 * addresses, however a request reached them; a host name allows that name whatever it resolves
 * to, so it trusts whoever controls the name's DNS. Either may be limited to one port.
 */
export type OutboundAllowEntry =
  | { kind: 'network'; text: string; network: IpAddress; prefix: number; port?: number }
  | { kind: 'host'; text: string; host: string; port?: number };

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function parsePort(text: string): number | string {
  const port = Number(text);
  return /^\d{1,5}$/.test(text) && port >= 1 && port <= 65_535 ? port : 'the port must be 1 to 65535';
}

function parseEntry(text: string): OutboundAllowEntry | string {
  if (text.includes('://')) return 'name a host, an address or a network, not a URL';
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  // `[::1]:8443` or `[::1]`: the brackets set an IPv6 address apart from its port.
  if (bracketed) {
    const ip = parseIp(bracketed[1]!);
    if (ip?.version !== 6) return 'not an IPv6 address in brackets';
    const port = bracketed[2] === undefined ? undefined : parsePort(bracketed[2]);
    if (typeof port === 'string') return port;
    return { kind: 'network', text, network: ip, prefix: 128, ...(port !== undefined && { port }) };
  }
  // A network, or a bare IPv6 address (its colons are not a port).
  if (text.includes('/') || text.split(':').length > 2) {
    const parsed = parseNetwork(text);
    return typeof parsed === 'string' ? parsed : { kind: 'network', text, ...parsed };
  }
  const [name = '', portText] = text.split(':');
  const port = portText === undefined ? undefined : parsePort(portText);
  if (typeof port === 'string') return port;
  const withPort = port !== undefined ? { port } : {};
  // Like a URL parser: a name whose last label is numeric is an IPv4 address or nothing.
  if (/(?:^|\.)\d+\.?$/.test(name)) {
    const ip = parseIp(name);
    if (ip === undefined) return 'not an IPv4 address (dotted decimal, no leading zeros)';
    return { kind: 'network', text, network: ip, prefix: 32, ...withPort };
  }
  const host = name.toLowerCase().replace(/\.$/, '');
  if (!HOST_NAME.test(host)) return 'not a host name, IP address or network';
  return { kind: 'host', text, host, ...withPort };
}

/** One comma-separated item of `SWOOSH_OUTBOUND_ALLOW`. */
export const OutboundAllowItem = z.string().transform((text, ctx): OutboundAllowEntry => {
  const parsed = parseEntry(text);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: `"${text}": ${parsed}` });
    return z.NEVER;
  }
  return parsed;
});

/**
 * `SWOOSH_OUTBOUND_ALLOW`: a comma-separated list of addresses (`127.0.0.1`, `::1`), networks
 * (`10.0.0.0/8`, `fd00::/8`), host names (`hooks.internal`), each optionally with a port
 * (`127.0.0.1:8443`, `[::1]:8443`, `hooks.internal:8443`; not on networks). Unset or empty allows
 * nothing beyond public addresses.
 */
export const OutboundAllow = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  )
  .pipe(z.array(OutboundAllowItem).max(256, 'at most 256 entries'));

/** Parses `SWOOSH_OUTBOUND_ALLOW`; an invalid value throws, naming the variable and the entry. */
export function parseOutboundAllow(text: string | undefined): OutboundAllowEntry[] {
  const parsed = OutboundAllow.safeParse(text ?? '');
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => i.message).join('; ');
    throw new Error(`${OUTBOUND_ALLOW_VARIABLE} is invalid: ${problems}`);
  }
  return parsed.data;
}
