/**
 * What a ledger record is beyond its schema (docs/ledger.md, "Records"): where every chain starts,
 * the id that lets a retried emission find its record instead of writing another, the part of a
 * record its hash covers, and one line of a file read back as a record.
 */
import { sha256Hex } from '../host/digest';
import { canonicalJson } from '../schemas/canonical-json';
import {
  type AgentDeploymentEntry,
  type AgentLifecycleEntry,
  type DecisionEntry,
  LedgerRecord,
  type LedgerRecordKind,
  type TimerClosedEntry,
} from '../schemas/decision-record';

/** `prev_hash` of a mission's first record. */
export const GENESIS_HASH = `sha256-${'0'.repeat(64)}`;

/** What the ledger is asked to append: a decision, an agent deployment, a lifecycle event or a closed timer. */
export type Entry = DecisionEntry | AgentDeploymentEntry | AgentLifecycleEntry | TimerClosedEntry;
type Identity = readonly (string | number | null)[];

/** What identifies an emission of an entry (or of the record made from it). */
export function identityOf(entry: Entry): Identity {
  // A timer id is reused once retention forgot it: its closing time tells the two apart.
  if ('timer_id' in entry) return [entry.mission, entry.timer_id, entry.closed_at];
  return 'event' in entry
    ? [entry.mission, entry.agentId, entry.jobId ?? null, entry.event]
    : [entry.workflow_id, entry.seq];
}

/** The id of the record an emission makes: a retried emission finds its record by it. */
export function recordId(kind: LedgerRecordKind, identity: Identity): string {
  return `rec-${sha256Hex(canonicalJson([kind, ...identity])).slice(0, 32)}`;
}

/** The part of a record its hash covers: all of it but the hash and the signature over the hash. */
export function unsignedPart(record: LedgerRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => key !== 'hash' && key !== 'signature'));
}

/** One line of a ledger file as a record, or undefined if it is not one. */
export function parseRecordLine(line: string): LedgerRecord | undefined {
  try {
    const parsed = LedgerRecord.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
