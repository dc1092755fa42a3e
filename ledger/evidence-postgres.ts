/**
 * The evidence store in PostgreSQL (docs/ledger.md, "Evidence and dead letters"): one row per
 * blob, keyed by its checksum, its bytes in a `bytea` column, so workers on several hosts share
 * evidence with no common folder. An insert that finds the checksum there already does nothing:
 * the same content from any number of workers at once is one row, and a put resolves only once
 * its row is committed.
 */
import { sha256Digest } from '../host/digest';
import { PostgresDatabase, type PostgresOptions } from '../host/postgres';
import { canonicalJson } from '../schemas/canonical-json';
import {
  checksumHex,
  contentBytes,
  type ContentStore,
  EvidenceNotFoundError,
  verifiedContent,
} from './evidence-store';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS swoosh_evidence (
     checksum text PRIMARY KEY CHECK (checksum ~ '^sha256-[0-9a-f]{64}$'),
     content bytea NOT NULL
   )`,
];

export class PostgresContentStore implements ContentStore {
  readonly location: string;
  readonly #database: PostgresDatabase;

  constructor(options: PostgresOptions) {
    this.#database = new PostgresDatabase(options, SCHEMA, 'evidence database');
    this.location = this.#database.location;
  }

  async put(data: string | Uint8Array): Promise<string> {
    const bytes = contentBytes(data);
    const checksum = sha256Digest(bytes);
    await (
      await this.#database.pool()
    ).query(
      'INSERT INTO swoosh_evidence (checksum, content) VALUES ($1, $2) ON CONFLICT (checksum) DO NOTHING',
      [checksum, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
    );
    return checksum;
  }

  putJson(value: unknown): Promise<string> {
    return this.put(canonicalJson(value));
  }

  async get(checksum: string): Promise<Buffer> {
    checksumHex(checksum);
    const { rows } = await (
      await this.#database.pool()
    ).query<{ content: Buffer }>('SELECT content FROM swoosh_evidence WHERE checksum = $1', [checksum]);
    const row = rows[0];
    if (!row) throw new EvidenceNotFoundError(checksum);
    return verifiedContent(checksum, row.content);
  }

  close(): Promise<void> {
    return this.#database.close();
  }
}
