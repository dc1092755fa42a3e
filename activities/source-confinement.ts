/**
 * Where a mission may read its sources from (docs/api.md, "Sources"). A `file://` source is read
 * only if its real path — symlinks resolved — lies under the inputs folder (SWOOSH_INPUTS_DIR), and
 * never inside the data folder or at a file SWOOSH keeps secrets in (gateway tokens, keys, the
 * licence), wherever those are configured; it must be a regular file no larger than the limit.
 * This is what keeps a mission config from making the worker read its own credentials into the
 * evidence store (issue 13, finding 2). An `http(s)://` source is fetched through the outbound
 * policy (host/outbound.ts), so a mission cannot make the worker read from loopback, private or
 * link-local addresses either (issue 13, item 3), within the same size limit and a deadline.
 */
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  OutboundFailedError,
  type OutboundPolicy,
  OutboundRefusedError,
  type OutboundResponse,
  outboundRequest,
  OutboundTooLargeError,
} from '../host/outbound';

export interface SourceConfinement {
  /** The only folder `file://` sources are read from. */
  inputsDir: string;
  /** SWOOSH's data folder: never a source, even when it lies under the inputs folder. */
  dataDir: string;
  /** Files that hold secrets and may live outside the data folder (tokens, keys, licence). */
  secretFiles: readonly string[];
  /** Largest source read, in bytes. */
  maxBytes: number;
  /** Which non-public addresses `http(s)://` sources may come from (SWOOSH_OUTBOUND_ALLOW). */
  outbound: OutboundPolicy;
  /** Deadline of one `http(s)://` source, redirects included. */
  timeoutMs: number;
}

/** A refused source: the reason names the rule, never the file's content. */
export class SourceRefusedError extends Error {
  override name = 'SourceRefusedError';
}

/** Default size limit: the default policy's per-source limit (schemas/default-policy.yaml). */
export const DEFAULT_SOURCE_MAX_BYTES = 10 * 1024 * 1024;

/** Default deadline of one web source: below the 30 s heartbeat timeout of a mission's I/O calls. */
export const DEFAULT_SOURCE_TIMEOUT_MS = 20_000;

/** Redirects a web source follows, each hop checked like the first. */
const SOURCE_REDIRECTS = 5;

/** A web source that gave no answer: its name did not resolve, or no connection or answer came in time. */
export class SourceUnreachableError extends Error {
  override name = 'SourceUnreachableError';
}

/** A web source that answered with a failure, or broke off while answering. */
export class SourceUnreadableError extends Error {
  override name = 'SourceUnreadableError';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Failures before any answer that mean "not reachable from here", as opposed to a broken answer. */
const UNREACHABLE = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'TIMEOUT',
]);

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The real path of `path`, or undefined when it does not exist (a secret file not configured). */
async function real(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    return undefined;
  }
}

/** Reads a `file://` source under the confinement rules; returns its real path and bytes. */
export async function readConfinedSource(
  uri: string,
  rules: SourceConfinement,
): Promise<{ path: string; bytes: Buffer }> {
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch (error) {
    throw new SourceRefusedError(`not a local file URI (${(error as Error).message})`);
  }
  const root = await real(rules.inputsDir);
  if (root === undefined) {
    throw new SourceRefusedError(`the inputs folder ${rules.inputsDir} does not exist (SWOOSH_INPUTS_DIR)`);
  }
  const resolved = await real(path);
  if (resolved === undefined) throw new SourceRefusedError('no such file');
  if (!within(root, resolved)) {
    throw new SourceRefusedError(`outside the inputs folder ${root} (SWOOSH_INPUTS_DIR), symlinks resolved`);
  }
  const data = await real(rules.dataDir);
  if (data !== undefined && (within(data, resolved) || within(resolved, data))) {
    throw new SourceRefusedError("inside SWOOSH's data folder, which holds keys, tokens and ledgers");
  }
  for (const secret of rules.secretFiles) {
    const secretReal = await real(secret);
    if (secretReal !== undefined && secretReal === resolved) {
      throw new SourceRefusedError('a file SWOOSH keeps secrets in');
    }
  }
  const handle = await open(resolved, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SourceRefusedError('not a regular file');
    if (info.size > rules.maxBytes) {
      throw new SourceRefusedError(`${info.size} bytes exceeds the ${rules.maxBytes}-byte source limit`);
    }
    // Read at most the limit plus one byte: a file growing after the check is still caught.
    const buffer = Buffer.alloc(Math.min(info.size, rules.maxBytes) + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > rules.maxBytes)
      throw new SourceRefusedError(`larger than the ${rules.maxBytes}-byte source limit`);
    return { path: resolved, bytes: buffer.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}

/** The media type of a Content-Type header (`text/markdown; charset=utf-8` → `text/markdown`). */
function mediaTypeOf(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : undefined;
}

/**
 * Fetches an `http(s)://` source under the outbound policy; returns where it came from after
 * redirects, its bytes and its declared media type. Throws SourceRefusedError when the policy
 * refuses an address (never anything weaker) or the body passes the size limit,
 * SourceUnreachableError when no answer came, SourceUnreadableError for a failed answer.
 */
export async function fetchConfinedSource(
  uri: string,
  rules: SourceConfinement,
  signal?: AbortSignal,
): Promise<{ url: URL; bytes: Buffer; mediaType: string | undefined }> {
  let response: OutboundResponse;
  try {
    response = await outboundRequest(rules.outbound, {
      url: uri,
      method: 'GET',
      timeoutMs: rules.timeoutMs,
      maxBytes: rules.maxBytes,
      maxRedirects: SOURCE_REDIRECTS,
      ...(signal && { signal }),
    });
  } catch (error) {
    if (error instanceof OutboundRefusedError) throw new SourceRefusedError(error.message);
    if (error instanceof OutboundTooLargeError) {
      throw new SourceRefusedError(`larger than the ${rules.maxBytes}-byte source limit`);
    }
    if (error instanceof OutboundFailedError) {
      if (!error.responded && UNREACHABLE.has(error.code)) throw new SourceUnreachableError(error.message);
      throw new SourceUnreadableError(`request failed: ${error.message}`, true);
    }
    throw error;
  }
  const { status } = response;
  if (status < 200 || status >= 300) {
    throw new SourceUnreadableError(`HTTP ${status}`, status === 408 || status === 429 || status >= 500);
  }
  return {
    url: response.url,
    bytes: response.body,
    mediaType: mediaTypeOf(response.headers['content-type']),
  };
}
