/**
 * A PostgreSQL database a store keeps its tables in (docs/ledger.md, "The PostgreSQL store"): the
 * ledger, the evidence store and the timer dead letters each open one on SWOOSH_DATABASE_URL. The
 * connections open on first use, the store's tables are created then if they are missing, and
 * `close` lets the connections go so a process can end; a later use opens them again.
 */
import pg from 'pg';

/** An arbitrary constant naming the advisory lock every store's schema is created under. */
const SCHEMA_LOCK = 0x5_3c0_de;

export interface PostgresOptions {
  /** `postgres://user@host:port/database` (SWOOSH_DATABASE_URL). */
  url: string;
  /** Connections this process opens at most; default 10. */
  maxConnections?: number;
}

export class PostgresDatabase {
  /** The URL without its password, for messages. */
  readonly location: string;
  readonly #options: PostgresOptions;
  /** `CREATE … IF NOT EXISTS` statements, run on first use. */
  readonly #schema: readonly string[];
  /** What the connections are for, in the warning an idle connection's loss gives. */
  readonly #what: string;
  #pool: pg.Pool | undefined;
  #created: Promise<void> | undefined;

  constructor(options: PostgresOptions, schema: readonly string[], what: string) {
    this.#options = options;
    this.#schema = schema;
    this.#what = what;
    const url = new URL(options.url);
    url.password = '';
    this.location = url.toString();
  }

  /** The connection pool, with the schema in place. */
  async pool(): Promise<pg.Pool> {
    if (!this.#pool) {
      this.#pool = new pg.Pool({
        connectionString: this.#options.url,
        max: this.#options.maxConnections ?? 10,
        // Idle connections do not keep a process from exiting.
        allowExitOnIdle: true,
      });
      // An idle connection the server ended (a restart, a failover) is dropped by the pool; the next
      // query opens another. Unheard, the error would end the process.
      this.#pool.on('error', (error) =>
        process.emitWarning(`${this.#what} ${this.location}: idle connection lost: ${error.message}`),
      );
    }
    const pool = this.#pool;
    this.#created ??= inTransaction(pool, async (client) => {
      // Any number of processes may start together; the lock keeps their first uses off the catalog's races.
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      for (const statement of this.#schema) await client.query(statement);
    }).catch((error: unknown) => {
      this.#created = undefined;
      throw error;
    });
    await this.#created;
    return pool;
  }

  /** Closes the connections; a later call opens them again. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#created = undefined;
    await pool?.end();
  }
}

/**
 * Runs `work` in one transaction on one connection: committed when it resolves, rolled back when
 * it throws. A connection that cannot even roll back is broken, and is destroyed rather than
 * handed to the next caller.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = !(await rollBack(client));
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Ends a failed transaction; false when even that fails, as on a broken connection. */
export function rollBack(client: pg.PoolClient): Promise<boolean> {
  return client.query('ROLLBACK').then(
    () => true,
    () => false,
  );
}
