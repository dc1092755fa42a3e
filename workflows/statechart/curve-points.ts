/**
 * Decoded ed25519 public keys with window tables, for the strict verifier (`signing.ts`).
 *
 * The worker preloads this module (`bundlerOptions` in workers/worker.ts), so one cache serves
 * every workflow run on a workflow thread: a signer's table is built once per thread, not once per
 * mission started, continued as new or replayed. Sharing is safe because the cache changes no
 * verdict, only its cost, and holds nothing a run could tell apart from a fresh decode. It imports
 * only the curve module and the base64 helpers, so preloading it shares nothing else.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64Encode } from '../../schemas/base64';

export type Point = InstanceType<typeof ed25519.Point>;

/**
 * A 4-bit table makes A·k about 3.5 times faster than on a bare point, costs ~6 ms to build and
 * holds 520 points (~130 KB); an 8-bit table on the base point (once per thread, ~1 MB) does the
 * same for S·B.
 */
const KEY_WINDOW = 4;
const BASE_WINDOW = 8;
/** Signers holding a table at once: at most ~33 MB of tables per workflow thread. */
const TABLES_KEPT = 256;
/** Signers remembered at all (decoded, or refused); past this the least recently used goes. */
const KEYS_KEPT = 4096;

ed25519.Point.BASE.precompute(BASE_WINDOW);

interface Signer {
  /** The decoded key, or null for one that does not decode strictly or is of small order. */
  readonly point: Point | null;
  tabled: boolean;
  uses: number;
}

const signers = new Map<string, Signer>();
let tables = 0;

function decode(publicKey: Uint8Array): Point | null {
  try {
    const point = ed25519.Point.fromBytes(publicKey, false);
    return point.isSmallOrder() ? null : point;
  } catch {
    return null;
  }
}

function untable(signer: Signer): void {
  signer.point!.precompute(1);
  signer.tabled = false;
  tables--;
}

/**
 * Gives `signer` a table while fewer than TABLES_KEPT signers hold one. Past that it takes the
 * table of the least used holder only once it has been used twice as often, so that more signers
 * in steady use than there are tables share what there is instead of rebuilding tables in turn.
 */
function admit(signer: Signer): void {
  if (tables >= TABLES_KEPT) {
    let least: Signer | undefined;
    for (const s of signers.values()) if (s.tabled && (least === undefined || s.uses < least.uses)) least = s;
    if (least === undefined || least.uses * 2 > signer.uses) return;
    untable(least);
  }
  signer.point!.precompute(KEY_WINDOW);
  signer.tabled = true;
  tables++;
}

/**
 * The point of a 32-byte public key, carrying its window table when it has one, or null for a key
 * that does not decode strictly (non-canonical encoding) or is of small order; a refusal is
 * remembered too.
 */
export function publicPoint(publicKey: Uint8Array): Point | null {
  const id = base64Encode(publicKey);
  let signer = signers.get(id);
  if (signer === undefined) {
    signer = { point: decode(publicKey), tabled: false, uses: 0 };
    if (signers.size >= KEYS_KEPT) {
      const [oldest, forgotten] = signers.entries().next().value!;
      if (forgotten.tabled) untable(forgotten);
      signers.delete(oldest);
    }
  } else {
    signers.delete(id);
  }
  signers.set(id, signer);
  signer.uses++;
  if (signer.point !== null && !signer.tabled) admit(signer);
  return signer.point;
}
