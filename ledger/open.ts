/**
 * The store a process uses, as configured (`SWOOSH_STORE`, `SWOOSH_DATABASE_URL`; schemas/config.ts):
 * the files in the data folder's ledger folder, or a PostgreSQL database (docs/ledger.md, "Stores").
 */
import type { Signer } from '../host/keys';
import { type StoreConfig, storeDatabaseUrl as databaseUrl } from '../schemas/config';
import { FileLedger } from './append';
import { FileLedgerReader } from './file-reader';
import { PostgresLedger, PostgresLedgerReader } from './postgres';
import type { LedgerReader, LedgerStore } from './store';
import { type ContentStore, FileContentStore } from './evidence-store';
import { PostgresContentStore } from './evidence-postgres';

export interface StoreChoice {
  config: StoreConfig;
  /** The ledger folder, `dataPaths(dataDir).ledgerDir`, used by the files store. */
  ledgerDir: string;
}

/** The ledger a worker appends to and reads. */
export function openLedgerStore({ config, ledgerDir }: StoreChoice, signer: Signer): LedgerStore {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresLedger({ url: databaseUrl(config), signer })
    : new FileLedger({ dir: ledgerDir, signer });
}

/** The ledger a gateway or the CLI reads, never writing. */
export function openLedgerReader({ config, ledgerDir }: StoreChoice): LedgerReader {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresLedgerReader({ url: databaseUrl(config) })
    : new FileLedgerReader(ledgerDir);
}

/** Evidence: `evidenceDir` (`dataPaths(dataDir).evidenceDir`) in the files store. */
export function openContentStore(config: StoreConfig, evidenceDir: string): ContentStore {
  return config.SWOOSH_STORE === 'postgres'
    ? new PostgresContentStore({ url: databaseUrl(config) })
    : new FileContentStore(evidenceDir);
}
