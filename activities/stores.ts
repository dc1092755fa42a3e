/**
 * The timer dead letters a worker uses, as configured (`SWOOSH_STORE`,
 * `SWOOSH_DATABASE_URL`; schemas/config.ts), the same choice as the ledger's and the evidence's (ledger/open.ts): files
 * in the data folder, or tables in the PostgreSQL database (docs/ledger.md, "Evidence and dead
 * letters").
 */
import { type StoreConfig, storeDatabaseUrl } from '../schemas/config';
import { PostgresDeadLetterStore } from './dead-letters-postgres';
import { createFileDeadLetterStore, deadLetterFile, type DeadLetterStore } from './timers';

/** Dead letters: `deadLetterFile(dataDir)` in the files store. */
export function openDeadLetterStore(config: StoreConfig, dataDir: string): DeadLetterStore {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresDeadLetterStore({ url: storeDatabaseUrl(config) })
    : createFileDeadLetterStore(deadLetterFile(dataDir));
}
