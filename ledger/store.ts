/**
 * The ledger's storage contract (docs/ledger.md, "Stores"): what the activities, the gateway and
 * the CLI need of a ledger, whatever holds it. The files in a data folder are one store
 * (`FileLedger`, `FileLedgerReader`); a PostgreSQL database several workers share is the other
 * (`PostgresLedger`, `PostgresLedgerReader`). Every store keeps
 * the same records, chain, signatures and head, so `verifyLedger` and `ledgerReport` judge any of
 * them the same way.
 */
import type {
  AgentDeploymentEntry,
  AgentDeploymentRecord,
  AgentLifecycleRecord,
  DecisionEntry,
  DecisionRecord,
  LedgerHead,
  LedgerRecord,
  LedgerRecordKind,
  TimerClosedEntry,
  TimerClosedRecord,
} from '../schemas/decision-record';
import type { AgentLifecycleEvent } from '../schemas/evidence';

/**
 * Appends signed records. Each append is idempotent per record id (records.ts): a retried
 * emission, from this process or another, gets the record already written back, and the same id
 * with other content is refused (`LedgerConflictError`). An append resolves only once its record
 * survives a crash; a ledger whose end does not verify is never extended (`LedgerCorruptError`).
 */
export interface LedgerWriter {
  appendDecision(entry: DecisionEntry): Promise<DecisionRecord>;
  appendAgentDeployment(entry: AgentDeploymentEntry): Promise<AgentDeploymentRecord>;
  appendAgentLifecycle(event: AgentLifecycleEvent): Promise<AgentLifecycleRecord>;
  /** Archives a timer its shard closed (the ledger `timer-shard-<n>`). */
  appendTimerClosed(entry: TimerClosedEntry): Promise<TimerClosedRecord>;
  /** Archives closed timers in order, as `appendTimerClosed` one by one would. */
  appendTimersClosed(entries: readonly TimerClosedEntry[]): Promise<TimerClosedRecord[]>;
  /** Lets go of what the writer holds (locks, files, connections); a later append takes it again. */
  close(): Promise<void>;
}

/** Reads ledgers while writers append; never writes. */
export interface LedgerReader {
  /** Where the ledgers are, for messages: a folder, a database. */
  readonly location: string;
  /** The missions that have a ledger, by their ids, sorted. */
  listMissions(): Promise<string[]>;
  /** The mission whose ledger was written last, or undefined while there is none. */
  lastWritten(): Promise<string | undefined>;
  /**
   * Checks that the store would take an append now (files: the folder takes a synced write; a
   * database: it answers), resolving to a short detail for /health; rejects with the reason.
   */
  probe(): Promise<string>;
  /**
   * The newest head whose slot is intact and signed for the mission (by any key: trust is
   * verify's to judge), or undefined while there is none. A head slot put there for another
   * mission is a `LedgerCorruptError`.
   */
  head(mission: string): Promise<LedgerHead | undefined>;
  /** Up to `limit` records, oldest first, from the start or from a cursor a previous page gave. */
  page(mission: string, request: PageRequest): Promise<LedgerPageRead>;
  /** Follows a mission's ledger from after `afterIndex` (default: from its first record). */
  tail(mission: string, afterIndex?: number): LedgerFollower;
  /** Everything verify needs, as stored; undefined when the mission has no ledger. */
  snapshot(mission: string): Promise<LedgerSnapshot | undefined>;
  /** Lets go of what the reader holds (connections), so a one-shot command can end; reads reopen them. */
  close(): Promise<void>;
}

/** A store that both appends and reads, as a worker's ledger does. */
export interface LedgerStore extends LedgerWriter, LedgerReader {}

export interface PageRequest {
  /** A `next` cursor from an earlier page of the same mission and store; absent for the first. */
  cursor?: string;
  limit: number;
  /** Only records of this kind; absent for every kind. */
  kind?: LedgerRecordKind;
}

export interface LedgerPageRead {
  records: LedgerRecord[];
  /** Where the next page starts, present when records past this page match now. */
  next?: string;
}

export interface LedgerFollower {
  /** The complete records appended since the last call, each yielded once, in order. */
  next(): Promise<LedgerRecord[]>;
}

/**
 * A mission's ledger as stored, read head first (a writer writes the record, then the head, so a
 * head read first never runs ahead of the records): the text of each complete record in order,
 * the bytes of an incomplete final one, and the text of each head slot.
 */
export interface LedgerSnapshot {
  records: string[];
  /** An append that never completed, or one in progress (files only; 0 elsewhere). */
  tornBytes: number;
  /** Undefined when there is no head (absent or empty); a database keeps one, never torn. */
  headSlots: string[] | undefined;
}
