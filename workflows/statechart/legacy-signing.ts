/**
 * The tweetnacl verifier the sandbox used before the strict `@noble/curves` one
 * (`STRICT_SIGNATURES_PATCH` in the mission engine). Both agree on every signature an honest key
 * makes and on every forged, truncated or malleated one (tests/statechart/signing.test.ts); they
 * can differ only on crafted edge cases (small-order keys, non-canonical point encodings, torsion
 * in R), and a history recorded with tweetnacl's verdicts must replay with them. Remove this file
 * once no such history can run.
 *
 * tweetnacl probes for a random source when it loads (`self.crypto`, then `require('crypto')`); in
 * the sandbox neither exists, which leaves key generation disabled and verification working. The
 * Temporal bundler flags that `require('crypto')`, so the worker lists `crypto` under
 * `bundlerOptions.ignoreModules`.
 */
import nacl from 'tweetnacl';
import { verifyWith, type Verifier } from './signing';

/** tweetnacl's cofactorless check behind the shared format and scalar checks. */
export const verifyDetachedLegacy: Verifier = verifyWith((signature, message, publicKey) =>
  nacl.sign.detached.verify(message, signature, publicKey),
);
