/**
 * Exactly-once application per op class (docs/design.md#proposals). Each accepted proposal leaves an entry keyed by
 * its `idem_key` under its op class; a repeat of the same proposal returns the first outcome and
 * changes nothing, and reusing a key for a different proposal is refused.
 *
 * The table lives beside the state document rather than inside it: an entry records the post-state
 * hash of the transition that created it, and a document cannot contain its own hash. It is plain
 * JSON and bounded (`idempotencyCapacity` entries per class, oldest dropped first) so it can travel
 * in a continue-as-new snapshot. Dropping old entries is safe: every accepted transition advances an
 * epoch and so changes the state hash, so a forgotten repeat carries a stale `current_state_hash`
 * and is rejected by the concurrency check without changing anything.
 */
import * as z from 'zod';
import { IdemKeySchema, Sha256Schema, TransitionNameSchema } from '../../schemas/proposal';
import {
  GUARD_NAMES,
  TRANSITION_CLASSES,
  type GuardName,
  type TransitionClass,
  type TransitionName,
} from '../../schemas/statechart';
import type { Sha256 } from '../../schemas/hash';

/** What a repeat needs to get the first outcome back. */
export interface IdemEntry {
  readonly idem_key: string;
  /** Hash of the proposal's signed bytes: tells a true repeat from a reused key. */
  readonly digest: Sha256;
  readonly seq: number;
  readonly transition: TransitionName;
  readonly post_hash: Sha256;
  /** Guards that passed (all of them, since only accepted proposals are recorded). */
  readonly guards: readonly GuardName[];
}

/** Entries per op class, oldest first. */
export type IdempotencyTable = { readonly [C in TransitionClass]?: readonly IdemEntry[] };

export const EMPTY_IDEMPOTENCY: IdempotencyTable = Object.freeze({});

/** The entry for `idemKey` under `opClass`, if it is still remembered. */
export function lookupIdempotency(
  table: IdempotencyTable,
  opClass: TransitionClass,
  idemKey: string,
): IdemEntry | undefined {
  const entries = table[opClass];
  if (entries === undefined) return undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (entry.idem_key === idemKey) return entry;
  }
  return undefined;
}

/** A new table with `entry` appended under `opClass`, trimmed to `capacity`; the input is untouched. */
export function recordIdempotency(
  table: IdempotencyTable,
  opClass: TransitionClass,
  entry: IdemEntry,
  capacity: number,
): IdempotencyTable {
  const entries = table[opClass] ?? [];
  const kept = entries.length >= capacity ? entries.slice(entries.length - capacity + 1) : entries;
  return Object.freeze({ ...table, [opClass]: Object.freeze([...kept, Object.freeze(entry)]) });
}

const IdemEntrySchema = z.strictObject({
  idem_key: IdemKeySchema,
  digest: Sha256Schema,
  seq: z.number().int().positive(),
  transition: TransitionNameSchema,
  post_hash: Sha256Schema,
  guards: z.array(z.enum(GUARD_NAMES)),
});
const IdempotencyTableSchema = z.partialRecord(z.enum(TRANSITION_CLASSES), z.array(IdemEntrySchema));

/** Validates a table restored from a snapshot. Throws with the zod issues when it is malformed. */
export function parseIdempotencyTable(value: unknown): IdempotencyTable {
  return IdempotencyTableSchema.parse(value) as IdempotencyTable;
}
