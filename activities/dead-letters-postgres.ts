/**
 * The timer dead letters in PostgreSQL (docs/ledger.md, "Evidence and dead letters"): a row per
 * dead letter, keyed by its `deadLetterId`, so a retried append from any worker finds its row and
 * adds nothing, and listing needs no file on a shared folder. Rows are listed in the order they
 * were first inserted; an append resolves once its row is committed.
 */
import { PostgresDatabase, type PostgresOptions } from '../host/postgres';
import { DeadLetter } from '../schemas/timer';
import type { DeadLetterStore } from './timers';

/** `record` is the parsed record's JSON; `position` keeps the order of first insertion. */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS swoosh_timer_dead_letters (
     dead_letter_id text PRIMARY KEY,
     position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
     record text NOT NULL
   )`,
];

export class PostgresDeadLetterStore implements DeadLetterStore {
  readonly location: string;
  readonly #database: PostgresDatabase;

  constructor(options: PostgresOptions) {
    this.#database = new PostgresDatabase(options, SCHEMA, 'dead-letter database');
    this.location = this.#database.location;
  }

  async append(record: DeadLetter): Promise<void> {
    const parsed = DeadLetter.parse(record);
    await (
      await this.#database.pool()
    ).query(
      `INSERT INTO swoosh_timer_dead_letters (dead_letter_id, record) VALUES ($1, $2)
       ON CONFLICT (dead_letter_id) DO NOTHING`,
      [parsed.deadLetterId, JSON.stringify(parsed)],
    );
  }

  async list(): Promise<DeadLetter[]> {
    const { rows } = await (
      await this.#database.pool()
    ).query<{ record: string }>('SELECT record FROM swoosh_timer_dead_letters ORDER BY position');
    return rows.map((r) => DeadLetter.parse(JSON.parse(r.record)));
  }

  close(): Promise<void> {
    return this.#database.close();
  }
}
