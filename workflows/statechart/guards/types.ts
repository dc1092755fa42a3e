/**
 * Guard vocabulary. A guard is a pure function `(state, inputs, config) → { ok, reasons }`
 * (docs/design.md#guards). The protocol parses a proposal's inputs once, against its transition's schema, and
 * hands guards the typed value; a guard that reads inputs is typed for exactly the transitions that
 * name it in the statechart, so it can neither parse again nor be given inputs it does not know.
 * Anything that needs I/O — the licence server, tool servers, the policy scanner — runs as an
 * activity first, and its verdict reaches the guard as `io`. Reasons explain failures (an `ok`
 * outcome has none) and are copied verbatim into rejections and decision records.
 */
import type { ParsedGuardIO } from '../../../schemas/guard-io';
import type { StateDocument } from '../../../schemas/state-document';
import type { MachineConfig } from '../config';
import type { GLOBAL_GUARDS, GuardName, TransitionDef, TransitionName } from '../../../schemas/statechart';
import type { InputOf } from '../../../schemas/transition-inputs';
import type { Verifier } from '../signing';

/** What a guard sees of a proposal of transition `K`, plus the caller's I/O and clock. */
export interface GuardInputs<K extends TransitionName = TransitionName> {
  readonly transition: K;
  /** The proposal's `inputs` as the protocol parsed them for `transition`. */
  readonly inputs: InputOf<K>;
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

/** A guard over proposals of transitions `K`; the default, any transition, is for guards that ignore inputs. */
export type Guard<K extends TransitionName = TransitionName> = (
  state: StateDocument,
  inputs: GuardInputs<K>,
  config: MachineConfig,
) => GuardResult;

/** The transitions that run guard `G`: every one for a global guard, else those that list it. */
export type TransitionsGuardedBy<G extends GuardName> = G extends (typeof GLOBAL_GUARDS)[number]
  ? TransitionName
  : { [K in TransitionName]: G extends TransitionDef<K>['guards'][number] ? K : never }[TransitionName];

/**
 * Guard `G` typed from the statechart: it accepts the parsed inputs of every transition that names
 * it. Naming a guard in one more transition whose inputs it does not handle is a compile error.
 */
export type GuardFor<G extends GuardName> = Guard<TransitionsGuardedBy<G>>;

export const PASS: GuardResult = Object.freeze({ ok: true, reasons: Object.freeze([]) });

/** A failing result with the given reasons. */
export function fail(...reasons: string[]): GuardResult {
  return { ok: false, reasons };
}

/** Passes when `reasons` is empty, fails with them otherwise. */
export function verdict(reasons: readonly string[]): GuardResult {
  return reasons.length === 0 ? PASS : { ok: false, reasons };
}
