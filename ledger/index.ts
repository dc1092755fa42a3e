/**
 * The decision ledger (docs/ledger.md): per mission, an append-only, hash-chained,
 * orchestrator-signed sequence of records, held by a store behind one contract (store.ts); the
 * files store keeps a JSON-lines file per mission in the data folder, the PostgreSQL store a row
 * per record in a database several workers share. The activities record into
 * it, the gateway pages and streams it, the CLI verifies and reports from it; none of them needs
 * Temporal for that. This is its public surface; the slot format of the head stays inside.
 */
export { FileLedger, type FileLedgerOptions } from './append';
export { LedgerConflictError, LedgerCorruptError, LedgerCursorError } from './errors';
export { exportLedger, type LedgerExport } from './export';
export { FileLedgerReader } from './file-reader';
export { openContentStore, openLedgerReader, openLedgerStore, type StoreChoice } from './open';
export { type ContentStore, EvidenceNotFoundError } from './evidence-store';
export {
  PostgresLedger,
  PostgresLedgerReader,
  type PostgresLedgerOptions,
  type PostgresLedgerWriterOptions,
} from './postgres';
export { ledgerRecordsFile, listMissions } from './files';
export { readerOf, readLedger } from './read';
export type {
  LedgerFollower,
  LedgerPageRead,
  LedgerReader,
  LedgerSnapshot,
  LedgerStore,
  LedgerWriter,
  PageRequest,
} from './store';
export { GENESIS_HASH, parseRecordLine, recordId } from './records';
export { ledgerReport, type MissionReport } from './reports';
export { verifyLedger, type BadRecord, type LedgerVerification, type VerifyOptions } from './verify';
