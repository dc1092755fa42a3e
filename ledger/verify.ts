/**
 * Verification (docs/ledger.md, "Verification"): checks a mission's ledger as an outsider would,
 * trusting nothing but the orchestrator keys it is given. An edit, deletion, insertion,
 * reordering, or cut from the end of a well-formed ledger is reported, naming the first bad record.
 * Reads only, so it runs while workers append.
 */
import { hashCanonical } from '../host/digest';
import { utf8Bytes, verifySignature } from '../host/keys';
import { LedgerRecord } from '../schemas/decision-record';
import { missionFiles, readIfPresent, splitLines } from './files';
import { headSlotTexts, readHeadSlot } from './head';
import { GENESIS_HASH, identityOf, recordId, unsignedPart } from './records';

export interface BadRecord {
  /** Position in the file (0-based); for a record missing from the end, the first missing index. */
  index: number;
  id?: string;
  seq?: number;
  transition?: string;
  reason: string;
}

export interface LedgerVerification {
  mission: string;
  ok: boolean;
  /** Records that passed every check before the first bad one. */
  verified: number;
  firstBad?: BadRecord;
  notes: string[];
}

/**
 * Checks a mission's ledger: every line a well-formed record, its hash recomputed, its
 * signature by a trusted orchestrator key, its id derived from (workflow, kind, seq), its index
 * and link continuing the chain, no id repeated, and the signed head agreeing with the end.
 * Stops at, and names, the first bad record.
 */
export async function verifyLedger(
  dir: string,
  mission: string,
  trustedKeys: readonly string[],
): Promise<LedgerVerification> {
  if (trustedKeys.length === 0)
    throw new Error('verifying a ledger needs at least one trusted orchestrator key');
  const file = missionFiles(dir, mission);
  // Head first: a writer appends the record, then the head, so a head read first never runs ahead.
  const headBytes = await readIfPresent(file.head);
  const bytes = await readIfPresent(file.records);
  if (bytes === undefined) throw new Error(`no ledger for mission ${mission} in ${dir}`);
  const { lines, tornBytes } = splitLines(bytes);
  const notes: string[] = [];
  if (tornBytes > 0) {
    notes.push(
      `ignored an incomplete final line (${tornBytes} bytes): a write in progress or torn by a crash`,
    );
  }
  const fail = (bad: BadRecord, verified: number): LedgerVerification => ({
    mission,
    ok: false,
    verified,
    firstBad: bad,
    notes,
  });

  const records: LedgerRecord[] = [];
  const seen = new Set<string>();
  let prevHash = GENESIS_HASH;
  for (const [index, line] of lines.entries()) {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return fail({ index, reason: 'line is not valid JSON' }, index);
    }
    const parsed = LedgerRecord.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
        .join('; ');
      return fail({ index, reason: `not a valid record (${where})` }, index);
    }
    const record = parsed.data;
    const named = {
      index,
      id: record.id,
      ...('seq' in record && { seq: record.seq }),
      ...(record.kind === 'decision' && { transition: record.transition }),
    };
    const problem = recordProblem(record, { index, mission, prevHash, seen, trustedKeys });
    if (problem) return fail({ ...named, reason: problem }, index);
    records.push(record);
    seen.add(record.id);
    prevHash = record.hash;
  }

  const headProblem = checkHead(headBytes, records, mission, trustedKeys, notes);
  if (headProblem) return fail(headProblem, records.length);
  return { mission, ok: true, verified: records.length, notes };
}

function recordProblem(
  record: LedgerRecord,
  at: { index: number; mission: string; prevHash: string; seen: Set<string>; trustedKeys: readonly string[] },
): string | undefined {
  if (record.mission !== at.mission) return `belongs to mission ${record.mission}`;
  if (hashCanonical(unsignedPart(record)) !== record.hash) return 'content does not match its hash (edited)';
  if (!at.trustedKeys.includes(record.orchestrator)) return `signed by untrusted key ${record.orchestrator}`;
  if (!verifySignature(record.orchestrator, utf8Bytes(record.hash), record.signature)) {
    return 'orchestrator signature does not verify (edited)';
  }
  if (record.id !== recordId(record.kind, identityOf(record))) {
    return 'id does not derive from the identity of its emission (edited)';
  }
  if (at.seen.has(record.id)) return 'repeats an earlier record id (inserted copy)';
  if (record.index > at.index) {
    return `carries index ${record.index} at position ${at.index}: records before it were deleted or moved`;
  }
  if (record.index < at.index) {
    return `carries index ${record.index} at position ${at.index}: a record was inserted or moved before it`;
  }
  if (record.prev_hash !== at.prevHash) {
    return 'does not link to the record before it (deleted, inserted or reordered records)';
  }
  return undefined;
}

function checkHead(
  headBytes: Buffer | undefined,
  records: LedgerRecord[],
  mission: string,
  trustedKeys: readonly string[],
  notes: string[],
): BadRecord | undefined {
  const count = records.length;
  // Empty is absent: the head file is created whole, and in-place writes never shorten it.
  if (headBytes === undefined || headBytes.length === 0) {
    // Only the first append can crash before any head exists.
    if (count <= 1) {
      if (count === 1) notes.push('no head yet: the first append was interrupted before writing it');
      return undefined;
    }
    return {
      index: count,
      reason: 'the signed head is missing, so records cut from the end would go unseen',
    };
  }
  const readings = headSlotTexts(headBytes, mission).map((text) => readHeadSlot(text, mission, trustedKeys));
  const foreign = readings.find((r) => r.state === 'foreign');
  if (foreign) return { index: count, reason: foreign.reason };
  const heads = readings
    .flatMap((r) => (r.state === 'intact' ? [r.head] : []))
    .sort((a, b) => b.index - a.index);
  if (heads.length === 0) {
    return {
      index: count,
      reason: 'the head file holds no intact head signed by a trusted orchestrator key',
    };
  }
  if (heads.length < readings.length) {
    notes.push(
      'one head slot is unreadable (a write in progress or torn by a crash); the other stands for the head',
    );
  }
  for (const head of heads) {
    const headed = records[head.index];
    if (!headed) {
      return {
        index: count,
        reason: `the head names record #${head.index} but the ledger ends at #${count - 1}: records were deleted from the end`,
      };
    }
    if (headed.hash !== head.hash) {
      return { index: head.index, id: headed.id, reason: 'is not the record the head signed (replaced)' };
    }
  }
  const newest = heads[0]!.index;
  if (newest < count - 1) {
    notes.push(`the head covers records up to #${newest}; a crash can leave it behind the records`);
  }
  return undefined;
}
