/**
 * Content-addressed evidence store. A blob's name is its `sha256-<hex>` checksum, so storing is
 * idempotent, references cannot dangle onto different content, and every read is verified.
 * Blobs are mode 0400 in 0700 folders: read-only, and readable by SWOOSH's own user alone, since
 * ingested content may hold what a policy scan has yet to judge.
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

export class ContentStore {
  constructor(private readonly dir: string) {}

  /** Stores bytes (or a string's UTF-8) and returns their checksum. */
  async put(data: string | Uint8Array): Promise<string> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const checksum = sha256Digest(bytes);
    const path = this.#pathOf(checksum);
    if (await pathExists(path)) return checksum;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, bytes, 0o400);
    return checksum;
  }

  /** Stores a value as canonical JSON, so equal values share one checksum. */
  async putJson(value: unknown): Promise<string> {
    return this.put(canonicalJson(value));
  }

  /** The bytes stored under `checksum`; refuses a blob whose content no longer matches. */
  async get(checksum: string): Promise<Buffer> {
    const path = this.#pathOf(checksum);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new EvidenceNotFoundError(checksum);
      throw error;
    }
    if (sha256Digest(bytes) !== checksum)
      throw new Error(`evidence ${checksum} is corrupt: content does not match`);
    return bytes;
  }

  #pathOf(checksum: string): string {
    const hex = Sha256Schema.parse(checksum).slice('sha256-'.length);
    return join(this.dir, 'sha256', hex.slice(0, 2), hex);
  }
}
