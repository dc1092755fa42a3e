/**
 * Guard vocabulary. A guard is a pure function `(state, inputs, invariants) → { ok, reasons }`
 * (SPEC §4). Anything that needs I/O — the licence server, tool servers, the policy scanner — runs
 * as an activity first, and its verdict reaches the guard as `io`. Reasons explain failures (an
 * `ok` outcome has none) and are copied verbatim into rejections and decision records.
 */
import * as z from 'zod';
import { Sha256Schema } from '../../../schemas/proposal';
import type { StateDocument } from '../../../schemas/state-document';
import type { MachineConfig } from '../config';
import type { GuardName, TransitionName } from '../definition';
import type { Verifier } from '../signing';
import { ToolStatusSchema } from '../inputs';

/** KACHING licence verdict, from the licence activity. */
export const LicenceVerdictSchema = z.strictObject({
  status: z.enum(['valid', 'denied', 'unreachable']),
  expires_at_ms: z.number().int().nonnegative().nullable(),
  token_digest: Sha256Schema.nullable(),
  detail: z.string().max(1024).nullable().default(null),
});
export type LicenceVerdict = z.input<typeof LicenceVerdictSchema>;

/** SHHH policy verdict, from the policy scanner activity. */
export const PolicyVerdictSchema = z.strictObject({
  breach: z.boolean(),
  breaches: z.array(z.string().min(1).max(1024)).max(64).default([]),
  rationale: z.string().max(1024).nullable().default(null),
  /** Set when the policy owner confirmed that a quarantine is a permanent block. */
  confirmed_block: z.boolean().default(false),
  /** The policy version the scan ran under. */
  policy_version: z.string().max(128).nullable().default(null),
});
export type PolicyVerdict = z.input<typeof PolicyVerdictSchema>;

/** Results of I/O the caller performed for this proposal. */
export const GuardIOSchema = z.strictObject({
  licence: LicenceVerdictSchema.optional(),
  tools: z.array(ToolStatusSchema).max(256).optional(),
  policy: PolicyVerdictSchema.optional(),
});
export type GuardIO = z.input<typeof GuardIOSchema>;
export type ParsedGuardIO = z.output<typeof GuardIOSchema>;

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
export interface GuardOutcome {
  readonly guard: GuardName;
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

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
