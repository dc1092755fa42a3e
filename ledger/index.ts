/**
 * The decision ledger (docs/ledger.md): per mission, an append-only, hash-chained,
 * orchestrator-signed JSON-lines file in the data folder. The activities record into it, the
 * gateway pages and streams it, the CLI verifies and reports from it; none of them needs Temporal
 * for that. This is its public surface; the slot format of the head stays inside.
 */
export { FileLedger, type FileLedgerOptions } from './append';
export { LedgerConflictError, LedgerCorruptError } from './errors';
export { ledgerRecordsFile, listMissions, readLedger } from './files';
export { GENESIS_HASH, parseRecordLine, recordId } from './records';
export { ledgerReport, type MissionReport } from './reports';
export { verifyLedger, type BadRecord, type LedgerVerification, type VerifyOptions } from './verify';
