/**
 * How `swoosh` ends: its exit codes, one per kind of outcome a script may want to tell apart, and
 * the usage error that maps to 64 (sysexits' EX_USAGE).
 */
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong, including a ledger that does not verify. */
  failure: 1,
  /** `licence status`: the licence is DEGRADED. */
  degraded: 2,
  /** A guard refused the proposal or vote (a closed window, not enabled in this phase, not a member…). */
  refused: 3,
  /** HEAD kept moving: every retry was stale. */
  stale: 4,
  /** No token, an unknown one, or a role the route does not admit (401 / 403). */
  unauthorised: 5,
  /** The gateway could not be reached, or the mission behind it did not answer (503 / 504). */
  unreachable: 6,
  usage: 64,
} as const;

export class UsageError extends Error {}
