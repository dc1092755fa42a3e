/**
 * Decoded ed25519 public keys with window tables, for the strict verifier (`signing.ts`).
 *
 * The worker preloads this module (`bundlerOptions` in workers/worker.ts), so one cache serves
 * every workflow run on a workflow thread: a signer's table is built once per thread, not once per
 * mission started, continued as new or replayed. Sharing is safe because the cache changes no
 * verdict, only its cost, and holds nothing a run could tell apart from a fresh decode. It imports
 * the curve module alone, so preloading it shares nothing else.
 */
import { ed25519 } from '@noble/curves/ed25519.js';

export type Point = InstanceType<typeof ed25519.Point>;

/**
 * A 6-bit window makes A·k about 1.5 times faster than a 4-bit one for a table about 350 KB in
 * size; an 8-bit table on the base point (once per thread, about 1 MB) does the same for S·B.
 */
const KEY_WINDOW = 6;
const BASE_WINDOW = 8;
/** Signers kept; past this the least recently used goes (about 22 MB of tables at most). */
const KEYS_KEPT = 64;

ed25519.Point.BASE.precompute(BASE_WINDOW);

const points = new Map<string, Point | null>();

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}

/**
 * The point of a 32-byte public key, carrying its window table, or null for a key that does not
 * decode strictly (non-canonical encoding) or is of small order; a refusal is remembered too.
 */
export function publicPoint(publicKey: Uint8Array): Point | null {
  const id = hex(publicKey);
  let point = points.get(id);
  if (point !== undefined) {
    points.delete(id);
    points.set(id, point);
    return point;
  }
  try {
    const decoded = ed25519.Point.fromBytes(publicKey, false);
    point = decoded.isSmallOrder() ? null : decoded.precompute(KEY_WINDOW);
  } catch {
    point = null;
  }
  if (points.size >= KEYS_KEPT) points.delete(points.keys().next().value!);
  points.set(id, point);
  return point;
}
