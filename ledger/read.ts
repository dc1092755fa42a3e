/**
 * Reading whole ledgers through the storage contract (store.ts), for verify and reports: a ledger
 * folder given by its path is the files store.
 */
import type { LedgerRecord } from '../schemas/decision-record';
import { LedgerCorruptError } from './errors';
import { FileLedgerReader } from './file-reader';
import { parseRecordLine } from './records';
import type { LedgerReader } from './store';

/** A ledger folder is read as the files store; any other store is given as its reader. */
export function readerOf(source: string | LedgerReader): LedgerReader {
  return typeof source === 'string' ? new FileLedgerReader(source) : source;
}

/** Every complete record of a mission, in order, for reading while writers append. */
export async function readLedger(
  source: string | LedgerReader,
  mission: string,
): Promise<{ records: LedgerRecord[]; tornTail: boolean }> {
  const reader = readerOf(source);
  const snapshot = await reader.snapshot(mission);
  if (snapshot === undefined) throw new Error(`no ledger for mission ${mission} in ${reader.location}`);
  const records = snapshot.records.map((line, index) => {
    const record = parseRecordLine(line);
    if (!record) throw new LedgerCorruptError(mission, `line ${index + 1} is not a ledger record`);
    return record;
  });
  return { records, tornTail: snapshot.tornBytes > 0 };
}
