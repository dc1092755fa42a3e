/**
 * Export (docs/ledger.md, "Export"): a mission's ledger, from any store, written out in the files
 * store's format, so that it verifies offline with nothing but the orchestrator's public key. The
 * stored texts are copied byte for byte, never parsed and written again, so an export verifies
 * exactly as the store it came from does: a row edited in the database is an edited line here.
 */
import { mkdir, open } from 'node:fs/promises';
import { fsyncDir } from '../host/durable-fs';
import { missionFiles } from './files';
import { HEAD_SLOTS, headSlotSize } from './head';
import type { LedgerReader } from './store';

export interface LedgerExport {
  /** The records file written. */
  records: string;
  /** The head file written, absent when the store had no head. */
  head?: string;
  /** Complete records copied. */
  count: number;
  /** Bytes of an incomplete final record left out, as verify ignores them (files store only). */
  tornBytes: number;
}

/**
 * Writes `mission`'s ledger from `reader` into the ledger folder `dir`: `<m>.jsonl` with each
 * stored record on its line, and `<m>.head.json` with the stored head slots (a database's one head
 * in both). Refuses to
 * write over files already there, so an export never replaces a ledger, nor a live one's head.
 */
export async function exportLedger(
  reader: LedgerReader,
  mission: string,
  dir: string,
): Promise<LedgerExport> {
  const snapshot = await reader.snapshot(mission);
  if (snapshot === undefined) throw new Error(`no ledger for mission ${mission} in ${reader.location}`);
  const files = missionFiles(dir, mission);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Records before the head, as a writer writes them: an export cut short reads as a crash would.
  await writeNew(files.records, snapshot.records.map((line) => `${line}\n`).join(''));
  const { headSlots } = snapshot;
  if (headSlots !== undefined) await writeNew(files.head, headFile(headSlots, mission));
  await fsyncDir(dir);
  return {
    records: files.records,
    ...(headSlots !== undefined && { head: files.head }),
    count: snapshot.records.length,
    tornBytes: snapshot.tornBytes,
  };
}

/**
 * Head slots in the files store's format, each as stored without its padding. A text too long for
 * a slot was not written by a writer; it is kept whole, as one line (the format heads had before
 * slots), for verify to judge.
 */
function headFile(texts: string[], mission: string): string {
  const size = headSlotSize(mission);
  const slots = texts.map((t) => t.trimEnd());
  if (slots.some((t) => Buffer.byteLength(t) + 1 > size)) return `${slots.join('\n')}\n`;
  return Array.from({ length: HEAD_SLOTS }, (_, i) => {
    const text = slots[i % slots.length]!;
    return `${text}${' '.repeat(size - Buffer.byteLength(text) - 1)}\n`;
  }).join('');
}

async function writeNew(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
