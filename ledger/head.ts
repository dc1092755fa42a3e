/**
 * The signed head (docs/ledger.md, "The head"): the index and hash of a mission's newest record,
 * signed, in two sector-sized slots written in turn. The chain alone cannot show records cut from
 * its end; the head can. The writer and verify both judge slots here, so that a writer never
 * extends a ledger whose head verify would refuse.
 */
import { utf8Bytes, verifySignature } from '../host/keys';
import { canonicalJson } from '../schemas/canonical-json';
import { LedgerHead } from '../schemas/decision-record';
import { GENESIS_HASH } from './records';

/** The bytes a head's signature covers. */
export const headMessage = (mission: string, index: number, hash: string) =>
  utf8Bytes(canonicalJson({ mission, index, hash }));

/** The head file holds two slots, written in turn, so a torn write spares the other one. */
export const HEAD_SLOTS = 2;
/** Slots are whole sectors, so writing one rewrites no sector of the other, even if torn. */
const SECTOR_BYTES = 512;

/** The size of one head slot of `mission`: its longest possible head line, in whole sectors. */
export function headSlotSize(mission: string): number {
  const longest: LedgerHead = {
    mission,
    index: Number.MAX_SAFE_INTEGER,
    hash: GENESIS_HASH,
    orchestrator: `ed25519:${'A'.repeat(43)}=`,
    signature: `${'A'.repeat(86)}==`,
  };
  return SECTOR_BYTES * Math.ceil((Buffer.byteLength(JSON.stringify(longest)) + 1) / SECTOR_BYTES);
}

/** One slot's bytes: the head's JSON padded with spaces to the slot size, ending in a newline. */
export function headSlot(head: LedgerHead, size: number): Buffer {
  const slot = Buffer.alloc(size, ' ');
  slot.write(JSON.stringify(head));
  slot[size - 1] = 0x0a;
  return slot;
}

/**
 * The texts of a head file's slots: two of the mission's slot size, or else the whole file as
 * one, which is how heads were written before slots (one JSON line, replaced by rename). A
 * one-line head can never have the two-slot size, which is more than twice its longest line.
 */
export function headSlotTexts(bytes: Buffer, mission: string): string[] {
  const size = headSlotSize(mission);
  if (bytes.length !== HEAD_SLOTS * size) return [bytes.toString('utf8')];
  return Array.from({ length: HEAD_SLOTS }, (_, i) =>
    bytes.subarray(i * size, (i + 1) * size).toString('utf8'),
  );
}

type SlotReading =
  { state: 'intact'; head: LedgerHead } | { state: 'foreign'; reason: string } | { state: 'unreadable' };

/**
 * One head slot judged. A slot whose signature verifies was written whole, so one that names
 * another mission or an untrusted key is foreign: put there, not torn. Anything else that fails
 * (bad JSON, bad fields, a signature that does not verify) is unreadable, as a torn write or a
 * read racing a write leaves a slot; the other slot then stands for the head.
 */
export function readHeadSlot(text: string, mission: string, trustedKeys?: readonly string[]): SlotReading {
  let head: LedgerHead;
  try {
    head = LedgerHead.parse(JSON.parse(text));
  } catch {
    return { state: 'unreadable' };
  }
  if (!verifySignature(head.orchestrator, headMessage(head.mission, head.index, head.hash), head.signature)) {
    return { state: 'unreadable' };
  }
  if (head.mission !== mission)
    return { state: 'foreign', reason: `the head belongs to mission ${head.mission}` };
  if (trustedKeys && !trustedKeys.includes(head.orchestrator)) {
    return { state: 'foreign', reason: `the head is signed by untrusted key ${head.orchestrator}` };
  }
  return { state: 'intact', head };
}
