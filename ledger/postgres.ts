/**
 * The PostgreSQL store (docs/ledger.md, "The PostgreSQL store"): the same records, chain,
 * signatures and head as the files store, in a database several workers share with no common
 * folder. A record is one row keyed by (mission, index) holding its text exactly as written, so
 * verify reads the same bytes and hashes. A per-mission head row, locked with SELECT … FOR UPDATE,
 * makes writers on one mission take turns; the insert and the head update commit together, and an
 * append is acknowledged only once they have, so no acknowledged record is lost and none is ever
 * partly there. A replayed record id finds its row and answers the first outcome.
 */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { hashCanonical } from '../host/digest';
import { inTransaction, PostgresDatabase, type PostgresOptions, rollBack } from '../host/postgres';
import type { Signer } from '../host/keys';
import { decisionId } from '../schemas/decision-id';
import {
  AgentDeploymentEntry,
  type AgentDeploymentRecord,
  AgentLifecycleEntry,
  type AgentLifecycleRecord,
  TimerClosedEntry,
  type TimerClosedRecord,
  DecisionEntry,
  type DecisionRecord,
  type LedgerHead,
  type LedgerRecord,
  type LedgerRecordKind,
  lifecycleEntryOf,
} from '../schemas/decision-record';
import { AgentLifecycleEvent } from '../schemas/evidence';
import { LedgerCorruptError, LedgerCursorError } from './errors';
import { byMission, sameEmission, signedRecord } from './chain';
import { headMessage, readHeadSlot } from './head';
import { type Entry, GENESIS_HASH, identityOf, parseRecordLine, recordId, unsignedPart } from './records';
import type {
  LedgerFollower,
  LedgerPageRead,
  LedgerReader,
  LedgerSnapshot,
  LedgerStore,
  PageRequest,
} from './store';

/**
 * Created on first use by whichever process comes first (host/postgres.ts). `record` is text, not
 * jsonb, so its bytes are kept as written.
 */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS swoosh_ledger_records (
     mission text NOT NULL,
     index bigint NOT NULL CHECK (index >= 0),
     id text NOT NULL,
     kind text NOT NULL,
     record text NOT NULL,
     PRIMARY KEY (mission, index),
     UNIQUE (mission, id)
   )`,
  `CREATE TABLE IF NOT EXISTS swoosh_ledger_heads (
     mission text PRIMARY KEY,
     next_index bigint NOT NULL,
     last_hash text NOT NULL,
     head text,
     written_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS swoosh_ledger_heads_written_at ON swoosh_ledger_heads (written_at)`,
];
export type PostgresLedgerOptions = PostgresOptions;

export interface PostgresLedgerWriterOptions extends PostgresLedgerOptions {
  /** The orchestrator's key: signs every record and head. */
  signer: Signer;
  clock?: () => Date;
}

// Cursors name the mission they page, so one is refused on any other mission's ledger.
const missionTag = (mission: string) => createHash('sha256').update(mission).digest('hex').slice(0, 16);
const encodeCursor = (mission: string, index: number) =>
  Buffer.from(`p${index}.${missionTag(mission)}`).toString('base64url');
function decodeCursor(mission: string, cursor: string): number | undefined {
  const match = /^p(0|[1-9][0-9]{0,14})\.([0-9a-f]{16})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  return match && match[2] === missionTag(mission) ? Number(match[1]) : undefined;
}

function parseStored(mission: string, text: string): LedgerRecord {
  const record = parseRecordLine(text);
  if (!record) throw new LedgerCorruptError(mission, 'a stored row is not a ledger record');
  return record;
}

/** Reads ledgers from the database while writers append; creates the schema if it is not there. */
export class PostgresLedgerReader implements LedgerReader {
  readonly location: string;
  readonly #database: PostgresDatabase;

  constructor(options: PostgresLedgerOptions) {
    this.#database = new PostgresDatabase(options, SCHEMA, 'ledger database');
    this.location = this.#database.location;
  }

  /** A connection pool, opened on first use and again after `close`. */
  protected pool(): Promise<pg.Pool> {
    return this.#database.pool();
  }

  /** Closes the connections; a later call opens them again. */
  close(): Promise<void> {
    return this.#database.close();
  }

  async listMissions(): Promise<string[]> {
    const { rows } = await (
      await this.pool()
    ).query<{ mission: string }>('SELECT mission FROM swoosh_ledger_heads WHERE next_index > 0');
    return rows.map((r) => r.mission).sort();
  }

  async probe(): Promise<string> {
    await (await this.pool()).query('SELECT 1 FROM swoosh_ledger_heads LIMIT 1');
    return 'database answers';
  }

  async lastWritten(): Promise<string | undefined> {
    const { rows } = await (
      await this.pool()
    ).query<{ mission: string }>(
      'SELECT mission FROM swoosh_ledger_heads WHERE next_index > 0 ORDER BY written_at DESC LIMIT 1',
    );
    return rows[0]?.mission;
  }

  async head(mission: string): Promise<LedgerHead | undefined> {
    const { rows } = await (
      await this.pool()
    ).query<{ head: string | null }>('SELECT head FROM swoosh_ledger_heads WHERE mission = $1', [mission]);
    const text = rows[0]?.head;
    if (text === undefined || text === null) return undefined;
    const reading = readHeadSlot(text, mission);
    if (reading.state === 'foreign') throw new LedgerCorruptError(mission, reading.reason);
    if (reading.state === 'unreadable')
      throw new LedgerCorruptError(mission, 'its head is not a signed head');
    return reading.head;
  }

  async page(mission: string, { cursor, limit, kind }: PageRequest): Promise<LedgerPageRead> {
    const pool = await this.pool();
    const from = cursor === undefined ? 0 : decodeCursor(mission, cursor);
    if (from === undefined) throw new LedgerCursorError(mission);
    if (cursor !== undefined) {
      // A cursor names a record that was there when its page was read; records are never removed.
      const { rowCount } = await pool.query(
        'SELECT 1 FROM swoosh_ledger_records WHERE mission = $1 AND index = $2',
        [mission, from],
      );
      if (rowCount === 0) throw new LedgerCursorError(mission);
    }
    // One record past the page says whether there is a next.
    const { rows } = await pool.query<{ record: string }>(
      `SELECT record FROM swoosh_ledger_records
        WHERE mission = $1 AND index >= $2 AND ($3::text IS NULL OR kind = $3)
        ORDER BY index LIMIT $4`,
      [mission, from, kind ?? null, limit + 1],
    );
    const found = rows.map((r) => parseStored(mission, r.record));
    const page = found.slice(0, limit);
    const last = page.at(-1);
    return {
      records: page,
      ...(found.length > page.length && last && { next: encodeCursor(mission, last.index + 1) }),
    };
  }

  tail(mission: string, afterIndex = -1): LedgerFollower {
    let nextIndex = afterIndex + 1;
    return {
      next: async () => {
        // Rows appear only committed and in index order (one writer at a time per mission).
        const { rows } = await (
          await this.pool()
        ).query<{ record: string }>(
          'SELECT record FROM swoosh_ledger_records WHERE mission = $1 AND index >= $2 ORDER BY index',
          [mission, nextIndex],
        );
        const records = rows.map((r) => parseStored(mission, r.record));
        if (records.length > 0) nextIndex = records.at(-1)!.index + 1;
        return records;
      },
    };
  }

  async snapshot(mission: string): Promise<LedgerSnapshot | undefined> {
    // One snapshot of both tables: the head and the records as of the same commit.
    const { head, rows } = await inTransaction(
      await this.pool(),
      async (client) => ({
        head: await client.query<{ head: string | null }>(
          'SELECT head FROM swoosh_ledger_heads WHERE mission = $1',
          [mission],
        ),
        rows: (
          await client.query<{ record: string }>(
            'SELECT record FROM swoosh_ledger_records WHERE mission = $1 ORDER BY index',
            [mission],
          )
        ).rows,
      }),
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
    if (rows.length === 0) return undefined;
    const headText = head.rows[0]?.head;
    return {
      records: rows.map((r) => r.record),
      tornBytes: 0,
      headSlots: headText === undefined || headText === null ? undefined : [headText],
    };
  }
}

/** The PostgreSQL store (store.ts): appends in one transaction per record, reads as its reader. */
export class PostgresLedger extends PostgresLedgerReader implements LedgerStore {
  readonly #signer: Signer;
  readonly #clock: () => Date;

  constructor(options: PostgresLedgerWriterOptions) {
    super(options);
    this.#signer = options.signer;
    this.#clock = options.clock ?? (() => new Date());
  }

  async appendDecision(entry: DecisionEntry): Promise<DecisionRecord> {
    const parsed = DecisionEntry.parse(entry);
    const record = await this.#append('decision', parsed, Object.keys(DecisionEntry.shape), {
      ucxl: decisionId(parsed),
    });
    return record as DecisionRecord;
  }

  async appendAgentDeployment(entry: AgentDeploymentEntry): Promise<AgentDeploymentRecord> {
    const parsed = AgentDeploymentEntry.parse(entry);
    const record = await this.#append('agent-deployment', parsed, Object.keys(AgentDeploymentEntry.shape), {
      duration_ms: Date.parse(parsed.finished_at) - Date.parse(parsed.started_at),
    });
    return record as AgentDeploymentRecord;
  }

  async appendAgentLifecycle(event: AgentLifecycleEvent): Promise<AgentLifecycleRecord> {
    const entry = lifecycleEntryOf(AgentLifecycleEvent.parse(event));
    const record = await this.#append('agent-lifecycle', entry, Object.keys(AgentLifecycleEntry.shape), {});
    return record as AgentLifecycleRecord;
  }

  async appendTimerClosed(entry: TimerClosedEntry): Promise<TimerClosedRecord> {
    const parsed = TimerClosedEntry.parse(entry);
    const record = await this.#append('timer-closed', parsed, Object.keys(TimerClosedEntry.shape), {});
    return record as TimerClosedRecord;
  }

  /** Closed timers in order, each its own record, in one transaction per mission: all or none. */
  async appendTimersClosed(entries: readonly TimerClosedEntry[]): Promise<TimerClosedRecord[]> {
    const parsed = entries.map((entry) => TimerClosedEntry.parse(entry));
    const records = await byMission(parsed, (mission, group) =>
      this.#appendAll(
        mission,
        'timer-closed',
        group.map((entry) => ({ entry, derived: {} })),
        Object.keys(TimerClosedEntry.shape),
      ),
    );
    return records as TimerClosedRecord[];
  }

  async #append(
    kind: LedgerRecordKind,
    entry: Entry,
    entryKeys: string[],
    derived: Record<string, unknown>,
  ): Promise<LedgerRecord> {
    const [record] = await this.#appendAll(entry.mission, kind, [{ entry, derived }], entryKeys);
    return record!;
  }

  /** Entries of one mission in order, each its own record (or the one already stored for its id), in one transaction. */
  async #appendAll(
    mission: string,
    kind: LedgerRecordKind,
    items: readonly { entry: Entry; derived: Record<string, unknown> }[],
    entryKeys: string[],
  ): Promise<LedgerRecord[]> {
    const client = await (await this.pool()).connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      // The head row is the mission's lock: created once, then every writer waits its turn on it.
      await client.query(
        `INSERT INTO swoosh_ledger_heads (mission, next_index, last_hash) VALUES ($1, 0, $2)
         ON CONFLICT (mission) DO NOTHING`,
        [mission, GENESIS_HASH],
      );
      const locked = await client.query<{ next_index: string; last_hash: string }>(
        'SELECT next_index, last_hash FROM swoosh_ledger_heads WHERE mission = $1 FOR UPDATE',
        [mission],
      );
      const start = Number(locked.rows[0]!.next_index);
      let count = start;
      let lastHash = locked.rows[0]!.last_hash;
      const records: LedgerRecord[] = [];
      const fresh = new Map<string, LedgerRecord>();
      for (const { entry, derived } of items) {
        const id = recordId(kind, identityOf(entry));
        const stored = await client.query<{ record: string }>(
          'SELECT record FROM swoosh_ledger_records WHERE mission = $1 AND id = $2',
          [mission, id],
        );
        const existing = stored.rows[0] ? parseStored(mission, stored.rows[0].record) : fresh.get(id);
        if (existing) {
          records.push(sameEmission(existing, entry, entryKeys));
          continue;
        }
        // A ledger whose end does not verify is never extended; returning what it holds is fine.
        if (fresh.size === 0) await this.#checkEnd(client, mission, count, lastHash);
        const record = signedRecord(
          { index: count, lastHash },
          { id, kind, entry, derived },
          this.#signer,
          this.#clock(),
        );
        await client.query(
          'INSERT INTO swoosh_ledger_records (mission, index, id, kind, record) VALUES ($1, $2, $3, $4, $5)',
          [mission, count, id, kind, JSON.stringify(record)],
        );
        fresh.set(id, record);
        records.push(record);
        count += 1;
        lastHash = record.hash;
      }
      if (count === start) {
        await client.query('ROLLBACK');
        return records;
      }
      const head: LedgerHead = {
        mission,
        index: count - 1,
        hash: lastHash,
        orchestrator: this.#signer.keyId,
        signature: this.#signer.sign(headMessage(mission, count - 1, lastHash)),
      };
      await client.query(
        `UPDATE swoosh_ledger_heads SET next_index = $2, last_hash = $3, head = $4, written_at = now()
          WHERE mission = $1`,
        [mission, count, lastHash, JSON.stringify(head)],
      );
      // Acknowledged only once committed: a connection lost before this answers is an error, and
      // the caller's retry finds the records by their ids if the commit got through.
      await client.query('COMMIT');
      return records;
    } catch (error) {
      broken = !(await rollBack(client));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * A writer never extends a ledger whose end verify would refuse: the newest row must be the one
   * the head row names, with no row past it, its hash intact.
   */
  async #checkEnd(client: pg.PoolClient, mission: string, count: number, lastHash: string): Promise<void> {
    const { rows } = await client.query<{ record: string }>(
      'SELECT record FROM swoosh_ledger_records WHERE mission = $1 ORDER BY index DESC LIMIT 1',
      [mission],
    );
    const text = rows[0]?.record;
    if (text === undefined) {
      if (count !== 0 || lastHash !== GENESIS_HASH)
        throw new LedgerCorruptError(mission, `its head names record #${count - 1} but it has no records`);
      return;
    }
    const last = parseRecordLine(text);
    if (!last) throw new LedgerCorruptError(mission, 'its newest row is not a ledger record');
    if (last.index !== count - 1 || last.hash !== lastHash)
      throw new LedgerCorruptError(mission, `its newest record #${last.index} is not the one its head names`);
    if (hashCanonical(unsignedPart(last)) !== last.hash)
      throw new LedgerCorruptError(mission, `record #${last.index} does not match its hash`);
  }
}
