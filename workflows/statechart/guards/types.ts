/**
 * Guard vocabulary. A guard is a pure function `(state, inputs, invariants) → { ok, reasons }`
 * (SPEC §4). Anything that needs I/O — the licence server, tool servers, the policy scanner — runs
 * as an activity first, and its verdict reaches the guard as `io`. Reasons explain failures (an
 * `ok` outcome has none) and are copied verbatim into rejections and decision records.
 */
import type { ParsedGuardIO } from '../../../schemas/guard-io';
import type { StateDocument } from '../../../schemas/state-document';
import type { MachineConfig } from '../config';
import type { TransitionName } from '../../../schemas/statechart';
import type { Verifier } from '../signing';

/** What a guard sees of the proposal under evaluation, plus the caller's I/O and clock. */
export interface GuardInputs {
  readonly transition: TransitionName;
  /** The proposal's `inputs` object (already validated by the protocol, but guards re-check shape). */
  readonly inputs: unknown;
  readonly signer: string;
  readonly window_id: string;
  readonly evidence: readonly string[];
  /** The orchestrator's deterministic clock, in Unix milliseconds. */
  readonly now: number;
  readonly io: ParsedGuardIO;
  /** The ed25519 verifier for signatures inside the inputs (council votes); default strict. */
  readonly verify?: Verifier;
}

/** A follow-up transition a guard asks the orchestrator to take (a policy breach → QUARANTINED). */
export interface Escalation {
  readonly transition: 'Policy_Quarantine';
  readonly inputs: { readonly rationale: string; readonly breaches: readonly string[] };
}

export interface GuardResult {
  readonly ok: boolean;
  readonly reasons: readonly string[];
  readonly escalation?: Escalation;
}

/** A guard result labelled with its guard: the unit of a decision record's guard outcomes. */
export type { GuardVerdict as GuardOutcome } from '../../../schemas/decision-record';

export type Guard = (state: StateDocument, inputs: GuardInputs, invariants: MachineConfig) => GuardResult;

export const PASS: GuardResult = Object.freeze({ ok: true, reasons: Object.freeze([]) });

/** A failing result with the given reasons. */
export function fail(...reasons: string[]): GuardResult {
  return { ok: false, reasons };
}

/** Passes when `reasons` is empty, fails with them otherwise. */
export function verdict(reasons: readonly string[]): GuardResult {
  return reasons.length === 0 ? PASS : { ok: false, reasons };
}
