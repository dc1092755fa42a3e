/**
 * The evidence store and the timer dead letters a worker uses, as configured (`SWOOSH_STORE`,
 * `SWOOSH_DATABASE_URL`; schemas/config.ts), the same choice as the ledger's (ledger/open.ts): files
 * in the data folder, or tables in the PostgreSQL database (docs/ledger.md, "Evidence and dead
 * letters").
 */
import { type StoreConfig, storeDatabaseUrl } from '../schemas/config';
import { PostgresDeadLetterStore } from './dead-letters-postgres';
import { type ContentStore, FileContentStore } from './evidence-store';
import { PostgresContentStore } from './evidence-postgres';
import { createFileDeadLetterStore, deadLetterFile, type DeadLetterStore } from './timers';

/** Evidence: `evidenceDir` (`dataPaths(dataDir).evidenceDir`) in the files store. */
export function openContentStore(config: StoreConfig, evidenceDir: string): ContentStore {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresContentStore({ url: storeDatabaseUrl(config) })
    : new FileContentStore(evidenceDir);
}

/** Dead letters: `deadLetterFile(dataDir)` in the files store. */
export function openDeadLetterStore(config: StoreConfig, dataDir: string): DeadLetterStore {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresDeadLetterStore({ url: storeDatabaseUrl(config) })
    : createFileDeadLetterStore(deadLetterFile(dataDir));
}
