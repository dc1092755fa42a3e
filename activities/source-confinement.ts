/**
 * Where a mission may read its sources from (docs/api.md, "Sources"). A `file://` source is read
 * only if its real path — symlinks resolved — lies under the inputs folder (SWOOSH_INPUTS_DIR), and
 * never inside the data folder or at a file SWOOSH keeps secrets in (gateway tokens, keys, the
 * licence), wherever those are configured; it must be a regular file no larger than the limit.
 * This is what keeps a mission config from making the worker read its own credentials into the
 * evidence store (issue 13, finding 2).
 */
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SourceConfinement {
  /** The only folder `file://` sources are read from. */
  inputsDir: string;
  /** SWOOSH's data folder: never a source, even when it lies under the inputs folder. */
  dataDir: string;
  /** Files that hold secrets and may live outside the data folder (tokens, keys, licence). */
  secretFiles: readonly string[];
  /** Largest source read, in bytes. */
  maxBytes: number;
}

/** A refused source: the reason names the rule, never the file's content. */
export class SourceRefusedError extends Error {
  override name = 'SourceRefusedError';
}

/** Default size limit: the default policy's per-source limit (schemas/default-policy.yaml). */
export const DEFAULT_SOURCE_MAX_BYTES = 10 * 1024 * 1024;

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
