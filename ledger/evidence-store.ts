/**
 * The evidence store (docs/ledger.md, "Evidence and dead letters"): content-addressed blobs. A
 * blob's name is its `sha256-<hex>` checksum, so storing is idempotent, references cannot dangle
 * onto different content, and every read is verified. One contract, `ContentStore`, and two
 * stores chosen by configuration (activities/stores.ts): files in the data folder
 * (`FileContentStore`) and rows in PostgreSQL (`PostgresContentStore`, evidence-postgres.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Sha256Schema } from '../schemas/proposal';
import { sha256Digest } from '../host/digest';
import { canonicalJson } from '../schemas/canonical-json';
import { isErrno, pathExists, writeFileAtomic } from '../host/durable-fs';

export class EvidenceNotFoundError extends Error {
  constructor(readonly checksum: string) {
    super(`no evidence with checksum ${checksum}`);
    this.name = 'EvidenceNotFoundError';
  }
}

/**
 * Stores and reads blobs by their checksum. A put resolves only once its blob would survive a
 * crash, and is idempotent from any number of processes at once; a get refuses a blob whose
 * content no longer matches its name.
 */
export interface ContentStore {
  /** Where the blobs are, for messages: a folder, a database. */
  readonly location: string;
  /** Stores bytes (or a string's UTF-8) and returns their checksum. */
  put(data: string | Uint8Array): Promise<string>;
  /** Stores a value as canonical JSON, so equal values share one checksum. */
  putJson(value: unknown): Promise<string>;
  /** The bytes stored under `checksum`: `EvidenceNotFoundError` when there are none. */
  get(checksum: string): Promise<Buffer>;
  /** Lets go of what the store holds (connections); a later call takes it again. */
  close(): Promise<void>;
}

/** The hex of a checksum, refusing anything that is not one (it names a file or a row). */
export function checksumHex(checksum: string): string {
  return Sha256Schema.parse(checksum).slice('sha256-'.length);
}

/** The bytes read for `checksum`, refused when they no longer hash to it. */
export function verifiedContent(checksum: string, bytes: Buffer): Buffer {
  if (sha256Digest(bytes) !== checksum)
    throw new Error(`evidence ${checksum} is corrupt: content does not match`);
  return bytes;
}

export const contentBytes = (data: string | Uint8Array): Uint8Array =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : data;

/**
 * Blobs as files under `sha256/<2 hex>/<hex>`, mode 0400 in 0700 folders: read-only, and readable
 * by SWOOSH's own user alone, since ingested content may hold what a policy scan has yet to judge.
 */
export class FileContentStore implements ContentStore {
  constructor(readonly location: string) {}

  async put(data: string | Uint8Array): Promise<string> {
    const bytes = contentBytes(data);
    const checksum = sha256Digest(bytes);
    const path = this.#pathOf(checksum);
    if (await pathExists(path)) return checksum;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, bytes, 0o400);
    return checksum;
  }

  putJson(value: unknown): Promise<string> {
    return this.put(canonicalJson(value));
  }

  async get(checksum: string): Promise<Buffer> {
    const path = this.#pathOf(checksum);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new EvidenceNotFoundError(checksum);
      throw error;
    }
    return verifiedContent(checksum, bytes);
  }

  /** Holds no file open between calls. */
  async close(): Promise<void> {}

  #pathOf(checksum: string): string {
    const hex = checksumHex(checksum);
    return join(this.location, 'sha256', hex.slice(0, 2), hex);
  }
}
