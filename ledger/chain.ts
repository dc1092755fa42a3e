/**
 * What both stores (append.ts, postgres.ts) do alike when they extend a chain: sign the next
 * record, tell a retried emission from a conflicting one, and take a batch one mission at a time.
 */
import { hashCanonical } from '../host/digest';
import { type Signer, utf8Bytes } from '../host/keys';
import { canonicalJson } from '../schemas/canonical-json';
import { LedgerRecord, type LedgerRecordKind } from '../schemas/decision-record';
import { LedgerConflictError } from './errors';
import type { Entry } from './records';

/** Where the next record goes: its index, after the record whose hash it carries. */
export interface ChainEnd {
  index: number;
  lastHash: string;
}

/** The record `entry` makes at `end`, hashed and signed, parsed as verify would (never store one it would refuse). */
export function signedRecord(
  end: ChainEnd,
  made: { id: string; kind: LedgerRecordKind; entry: Entry; derived: Record<string, unknown> },
  signer: Signer,
  at: Date,
): LedgerRecord {
  const unsigned = {
    ...made.entry,
    ...made.derived,
    v: 1,
    kind: made.kind,
    id: made.id,
    index: end.index,
    timestamp: at.toISOString(),
    prev_hash: end.lastHash,
    orchestrator: signer.keyId,
  };
  const hash = hashCanonical(unsigned);
  return LedgerRecord.parse({ ...unsigned, hash, signature: signer.sign(utf8Bytes(hash)) });
}

/** The record already written for an entry's id: the same emission again, or a conflict. */
export function sameEmission(
  existing: LedgerRecord,
  entry: Entry,
  entryKeys: readonly string[],
): LedgerRecord {
  const picked = Object.fromEntries(entryKeys.map((k) => [k, (existing as Record<string, unknown>)[k]]));
  if (canonicalJson(picked) !== canonicalJson(entry)) throw new LedgerConflictError(existing);
  return existing;
}

/**
 * Appends a batch one mission at a time (`appendAll` takes one mission's entries in order) and
 * answers each entry's record where the entry stood.
 */
export async function byMission<E extends { mission: string }, R>(
  entries: readonly E[],
  appendAll: (mission: string, entries: E[]) => Promise<R[]>,
): Promise<R[]> {
  const positions = new Map<string, number[]>();
  for (const [i, { mission }] of entries.entries()) {
    const list = positions.get(mission);
    if (list) list.push(i);
    else positions.set(mission, [i]);
  }
  const records: R[] = [];
  for (const [mission, list] of positions) {
    const written = await appendAll(
      mission,
      list.map((i) => entries[i]!),
    );
    list.forEach((i, k) => (records[i] = written[k]!));
  }
  return records;
}
