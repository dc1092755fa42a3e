/**
 * Verification (docs/ledger.md, "Verification"): checks a mission's ledger as an outsider would,
 * trusting nothing but the orchestrator keys it is given. An edit, deletion, insertion,
 * reordering, or cut from the end of a well-formed ledger is reported, naming the first bad record.
 * Reads only, so it runs while workers append, and reads through the storage contract (store.ts),
 * so it judges a ledger the same whichever store holds it.
 */
import { hashCanonical } from '../host/digest';
import { utf8Bytes, verifySignature } from '../host/keys';
import { type DecisionRecord, LedgerRecord } from '../schemas/decision-record';
import { OWNER_CONTROL_TRANSITIONS } from '../schemas/owner-controls';
import { ownerCommandSigningBytes } from '../schemas/signed-bytes';
import { readerOf } from './read';
import { readHeadSlot } from './head';
import { GENESIS_HASH, identityOf, recordId, unsignedPart } from './records';
import type { LedgerReader } from './store';

export interface BadRecord {
  /** Position in the file (0-based); for a record missing from the end, the first missing index. */
  index: number;
  id?: string;
  seq?: number;
  transition?: string;
  /** The timer a timer ledger's record archives. */
  timerId?: string;
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
 * Checks a mission's ledger, in a ledger folder or any store: every stored record well-formed,
 * its hash recomputed, its signature by a trusted orchestrator key, its id derived from
 * (workflow, kind, seq), its index and link continuing the chain, no id repeated, and the signed head agreeing with the end.
 * Stops at, and names, the first bad record.
 */
export async function verifyLedger(
  source: string | LedgerReader,
  mission: string,
  trustedKeys: readonly string[],
  options: VerifyOptions = {},
): Promise<LedgerVerification> {
  if (trustedKeys.length === 0)
    throw new Error('verifying a ledger needs at least one trusted orchestrator key');
  const reader = readerOf(source);
  const snapshot = await reader.snapshot(mission);
  if (snapshot === undefined) throw new Error(`no ledger for mission ${mission} in ${reader.location}`);
  const { records: lines, tornBytes, headSlots } = snapshot;
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
      ...(record.kind === 'timer-closed' && { timerId: record.timer_id }),
    };
    const problem =
      recordProblem(record, { index, mission, prevHash, seen, trustedKeys }) ??
      (record.kind === 'decision' ? ownerCommandProblem(record, options.ownerKeys) : undefined);
    if (problem) return fail({ ...named, reason: problem }, index);
    if (record.kind === 'decision' && record.owner_command) {
      const [countersigner, ...owners] = record.owner_command.signatures;
      const by =
        owners.length > 0 ? `owner key(s) ${owners.map((o) => o.signer).join(', ')}` : 'no owner key';
      notes.push(
        `#${index} ${record.transition} ${record.owner_command.command.id} by ${record.owner_command.command.actor}: ` +
          `signatures verified (countersigned by ${countersigner!.signer}, signed by ${by})`,
      );
    }
    records.push(record);
    seen.add(record.id);
    prevHash = record.hash;
  }

  const headProblem = checkHead(headSlots, records, mission, trustedKeys, notes);
  if (headProblem) return fail(headProblem, records.length);
  return { mission, ok: true, verified: records.length, notes };
}

export interface VerifyOptions {
  /**
   * The deployment's owner keys: when given, every owner signature an owner record carries
   * besides its countersignature must be by one of them.
   */
  ownerKeys?: readonly string[];
}

/**
 * An owner command's record keeps the signed command and its signatures (`owner_command`): each
 * must verify over the command's bytes, and the command must be the one the record settled.
 */
function ownerCommandProblem(
  record: DecisionRecord,
  ownerKeys: readonly string[] | undefined,
): string | undefined {
  const proof = record.owner_command;
  if (proof === undefined) return undefined;
  const { command } = proof;
  if (record.transition !== OWNER_CONTROL_TRANSITIONS[command.action])
    return `holds a ${command.action} owner command but records ${record.transition}`;
  if (record.idem_key !== `owner:${command.id}`)
    return `holds owner command ${command.id} but records ${record.idem_key}`;
  if (proof.mission_id !== null && proof.mission_id !== record.mission)
    return `holds an owner command signed for mission ${proof.mission_id}`;
  const bytes = ownerCommandSigningBytes(proof);
  for (const s of proof.signatures) {
    if (!verifySignature(s.signer, bytes, s.signature))
      return `owner command signature by ${s.signer} does not verify (edited or forged)`;
  }
  const [countersigner, ...owners] = proof.signatures;
  const envelope = {
    command,
    mission_id: proof.mission_id,
    issued_at_ms: proof.issued_at_ms,
    signer: countersigner!.signer,
    signature: countersigner!.signature,
    ...(owners.length > 0 && { endorsements: owners }),
  };
  if (hashCanonical(envelope) !== record.inputs_hash)
    return 'owner command does not match the inputs hash of its record (edited)';
  const stranger = ownerKeys && owners.find((o) => !ownerKeys.includes(o.signer));
  if (stranger) return `owner command signed by ${stranger.signer}, not one of the given owner keys`;
  return undefined;
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
  headSlots: string[] | undefined,
  records: LedgerRecord[],
  mission: string,
  trustedKeys: readonly string[],
  notes: string[],
): BadRecord | undefined {
  const count = records.length;
  if (headSlots === undefined) {
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
  const readings = headSlots.map((text) => readHeadSlot(text, mission, trustedKeys));
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
