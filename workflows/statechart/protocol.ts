/**
 * The transition protocol (docs/design.md#proposals): the one path every transition takes, whether proposed from
 * outside or by the workflow itself — checks, guards, reduce, hash, decision record.
 *
 * Checks run in a fixed order and the first that fails decides the rejection:
 * schema → signature → signer authorisation → idempotency (a repeat returns the first outcome) →
 * stale `current_state_hash` → HLC order → transition enabled in the current phase → inputs →
 * guards → reduce → hash. A rejection returns no state: nothing changes. Idempotency comes before
 * the stale-hash check on purpose — a repeat of an applied proposal is necessarily stale, and must
 * still get its first outcome back rather than a conflict.
 */
import {
  TransitionProposalSchema,
  UnsignedTransitionProposalSchema,
  parseIdemKey,
  type UnsignedTransitionProposal,
} from '../../schemas/proposal';
import type { StateDocument } from '../../schemas/state-document';
import { CanonicalJsonError } from '../../schemas/canonical-json';
import type { MachineConfig } from './config';
import { TRANSITIONS, type GuardName, type TransitionName } from '../../schemas/statechart';
import { evaluateGuard, guardsOf } from './guards';
import { type Escalation, type GuardInputs, type GuardOutcome } from './guards/types';
import { GuardIOSchema, type GuardIO } from '../../schemas/guard-io';
import { decidedAt, type StatechartDecisionDraft } from '../../schemas/decision-record';
import { decisionId } from '../../schemas/decision-id';
import type { TransitionEvent } from './handlers';
import { hashCanonical, type Sha256 } from '../../schemas/hash';
import { compareOrder, formatHlc, parseHlc, tryParseHlc } from '../../schemas/hlc';
import { lookupIdempotency, recordIdempotency, type IdempotencyTable } from './idempotency';
import { parseInputs } from '../../schemas/transition-inputs';
import { isEnabled, reduceParsed } from './reducer';
import type { SignerRegistry } from './registry';
import { verifyDetached, verifyProposalSignature, type Verifier } from './signing';
import { stateHash } from './state';

/** Everything besides the state and the proposal that decides the outcome. */
export interface ApplyContext {
  readonly registry: SignerRegistry;
  readonly idempotency: IdempotencyTable;
  readonly config: MachineConfig;
  /** The orchestrator's deterministic clock (workflow time), Unix ms. */
  readonly now: number;
  /** Verdicts of I/O the caller ran for this proposal (licence, tool health, policy scan). */
  readonly io?: GuardIO;
  /**
   * The ed25519 verifier for the proposal and for signatures inside its inputs (votes); default
   * the strict `verifyDetached`. Replays of histories recorded before it pass the legacy one.
   */
  readonly verifier?: Verifier;
}

/** The protocol's own checks, named like guards so a rejection always names what failed. */
export const PROTOCOL_STAGES = [
  'schema',
  'signature',
  'authorisation',
  'idempotency',
  'concurrency',
  'hlc',
  'statechart',
  'inputs',
] as const;
export type ProtocolStage = (typeof PROTOCOL_STAGES)[number];
export type FailingGuard = ProtocolStage | GuardName;

export interface Accepted {
  readonly accepted: true;
  readonly duplicate: false;
  readonly state: StateDocument;
  readonly pre_hash: Sha256;
  readonly post_hash: Sha256;
  readonly outcomes: readonly GuardOutcome[];
  readonly decision: StatechartDecisionDraft;
  readonly idempotency: IdempotencyTable;
}

/** A repeat of an applied proposal: the first outcome, and the state and table unchanged. */
export interface Duplicate {
  readonly accepted: true;
  readonly duplicate: true;
  /** The state passed in, unchanged (the same object). */
  readonly state: StateDocument;
  /** The post-state hash of the first application (not necessarily HEAD any more). */
  readonly post_hash: Sha256;
  readonly outcomes: readonly GuardOutcome[];
  readonly seq: number;
  readonly decision_id: string;
  readonly idempotency: IdempotencyTable;
}

export interface Rejected {
  readonly accepted: false;
  readonly rejected: true;
  readonly failing_guard: FailingGuard;
  readonly reasons: readonly string[];
  /** Outcomes of the guards evaluated (empty when a protocol stage failed first). */
  readonly outcomes: readonly GuardOutcome[];
  /** A transition the orchestrator should take in response (a policy breach → Policy_Quarantine). */
  readonly escalation?: Escalation;
}

export type ApplyResult = Accepted | Duplicate | Rejected;

/**
 * Applies a signed proposal: verifies its ed25519 signature, then runs the protocol. Returns the
 * accepted state with its hash and decision draft, the first outcome of a repeat, or a rejection
 * naming the failing guard with its reasons. Never throws for a bad proposal; throws only when the
 * context itself is unusable (a non-integer clock).
 */
export function applyProposal(state: StateDocument, proposal: unknown, ctx: ApplyContext): ApplyResult {
  return apply(state, proposal, ctx, 'verify');
}

/**
 * The protocol for a proposal whose signature an earlier `applyProposal` on the same bytes already
 * verified: a Temporal Update handler, which runs only for an update its validator accepted (and,
 * on replay, only for one that history says was accepted). Every check that can change between
 * validation and application — HEAD, HLC, idempotency, guards fed by fresh I/O — runs again; the
 * signature, which cannot change, is not verified twice. The decision records it as verified.
 * Never route a proposal here that did not pass `applyProposal` first.
 */
export function applyValidatedProposal(
  state: StateDocument,
  proposal: unknown,
  ctx: ApplyContext,
): ApplyResult {
  return apply(state, proposal, ctx, 'validated');
}

/**
 * The same protocol without signature verification, for transitions the orchestrator takes itself
 * (it has no secret key inside the sandbox) and for benchmarking the rest of the path. The signer
 * is still checked against the registry and recorded, and a `signature`, if present, is recorded
 * but not verified — so never route an outside proposal here.
 */
export function applyTrustedProposal(
  state: StateDocument,
  proposal: unknown,
  ctx: ApplyContext,
): ApplyResult {
  return apply(state, proposal, ctx, 'trusted');
}

function reject(
  failing_guard: FailingGuard,
  reasons: readonly string[],
  outcomes: readonly GuardOutcome[] = [],
): Rejected {
  return { accepted: false, rejected: true, failing_guard, reasons, outcomes };
}

function issues(
  error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] },
  prefix: string,
): string[] {
  return error.issues.map(
    (i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '$'}: ${i.message}`,
  );
}

/**
 * How the signature is treated: verified here, already verified by the caller's validator, or
 * absent because the orchestrator itself proposes.
 */
type SignatureMode = 'verify' | 'validated' | 'trusted';

function apply(state: StateDocument, raw: unknown, ctx: ApplyContext, mode: SignatureMode): ApplyResult {
  if (!Number.isSafeInteger(ctx.now) || ctx.now < 0)
    throw new RangeError(`ctx.now must be a non-negative integer ms: ${ctx.now}`);

  // 1. Schema: field formats, the inputs hash, the op class named by the idem_key, the caller's I/O.
  const parsed =
    mode === 'trusted' ? TrustedProposalSchema.safeParse(raw) : TransitionProposalSchema.safeParse(raw);
  if (!parsed.success) return reject('schema', issues(parsed.error, ''));
  const proposal = parsed.data;
  const def = TRANSITIONS[proposal.transition];
  let inputsHash: Sha256;
  try {
    inputsHash = hashCanonical(proposal.inputs);
  } catch (error) {
    if (error instanceof CanonicalJsonError) return reject('schema', [`inputs: ${error.message}`]);
    throw error;
  }
  const schemaReasons: string[] = [];
  if (inputsHash !== proposal.inputs_hash) {
    schemaReasons.push(`inputs_hash ${proposal.inputs_hash} does not match the inputs (${inputsHash})`);
  }
  const opClass = parseIdemKey(proposal.idem_key)?.opClass;
  if (opClass !== def.class) {
    schemaReasons.push(
      `idem_key op class '${opClass ?? '?'}' is not ${proposal.transition}'s class '${def.class}'`,
    );
  }
  const io = GuardIOSchema.safeParse(ctx.io ?? {});
  if (!io.success) schemaReasons.push(...issues(io.error, 'io'));
  if (schemaReasons.length > 0 || !io.success) return reject('schema', schemaReasons);

  // 2. Signature over the canonical proposal without `signature`.
  const signature = typeof proposal.signature === 'string' ? proposal.signature : null;
  const verifier = ctx.verifier ?? verifyDetached;
  if (mode === 'verify') {
    const check = verifyProposalSignature({ ...proposal, signature: signature ?? '' }, verifier);
    if (!check.ok) return reject('signature', [check.reason]);
  }

  // 3. The signer is registered and authorised for this transition class.
  const denied = ctx.registry.authorise(proposal.signer, def.class);
  if (denied !== null) return reject('authorisation', [denied]);

  // 4. Idempotency: a repeat gets its first outcome; a reused key with other content is refused.
  const unsigned: UnsignedTransitionProposal = {
    current_state_hash: proposal.current_state_hash,
    transition: proposal.transition,
    inputs_hash: proposal.inputs_hash,
    signer: proposal.signer,
    idem_key: proposal.idem_key,
    hlc: proposal.hlc,
    window_id: proposal.window_id,
    evidence: proposal.evidence,
    inputs: proposal.inputs,
  };
  // The digest of the signed bytes (= canonical JSON of the unsigned proposal) identifies the content.
  const digest = hashCanonical(unsigned);
  const seen = lookupIdempotency(ctx.idempotency, def.class, proposal.idem_key);
  if (seen !== undefined) {
    if (seen.digest !== digest) {
      return reject('idempotency', [
        `idem_key ${proposal.idem_key} was already used by a different proposal (decision ${seen.seq}, ${seen.transition})`,
      ]);
    }
    return {
      accepted: true,
      duplicate: true,
      state,
      post_hash: seen.post_hash,
      outcomes: seen.guards.map((guard) => ({ guard, ok: true, reasons: [] })),
      seq: seen.seq,
      decision_id: decisionId({
        mission: state.meta.mission_id,
        region: TRANSITIONS[seen.transition].region,
        transition: seen.transition,
        seq: seen.seq,
      }),
      idempotency: ctx.idempotency,
    };
  }

  // 5. Optimistic concurrency: the proposal was made against HEAD.
  const preHash = stateHash(state);
  if (proposal.current_state_hash !== preHash) {
    return reject('concurrency', [
      `stale current_state_hash ${proposal.current_state_hash}: HEAD is ${preHash}; re-read the state and resubmit`,
    ]);
  }

  // 6. HLC order: after the last applied proposal (ties by signer, then idem_key), not ahead of our clock.
  const hlc = parseHlc(proposal.hlc);
  const hlcReasons: string[] = [];
  if (hlc.wall > ctx.now + ctx.config.hlcMaxDriftMs) {
    hlcReasons.push(
      `hlc ${proposal.hlc} is more than ${ctx.config.hlcMaxDriftMs} ms ahead of the orchestrator clock`,
    );
  }
  const last = state.hlc_last === null ? null : tryParseHlc(state.hlc_last);
  if (last !== null) {
    const order = compareOrder(
      { hlc, signer: proposal.signer, idem_key: proposal.idem_key },
      { hlc: last, signer: state.head.signer ?? '', idem_key: state.head.idem_key ?? '' },
    );
    if (order <= 0) {
      hlcReasons.push(
        hlc.wall === last.wall && hlc.counter === last.counter
          ? `hlc ${formatHlc(hlc)} equals the last applied HLC and (signer, idem_key) does not sort after the last applied`
          : `hlc ${formatHlc(hlc)} is before the last applied HLC ${state.hlc_last}`,
      );
    }
  }
  if (hlcReasons.length > 0) return reject('hlc', hlcReasons);

  // 7. The transition is enabled in its region's current phase.
  if (!isEnabled(state, proposal.transition)) {
    const phase = state[def.region].phase;
    return reject('statechart', [
      `${proposal.transition} is not enabled: ${def.region} is ${phase}, it runs from ${def.from.join(' | ')}`,
    ]);
  }

  // 8. Inputs parse against the transition's schema, once: guards and the reducer get the typed value.
  const inputs = parseInputs(proposal.transition, proposal.inputs);
  if (!inputs.ok) return reject('inputs', inputs.reasons);

  // 9. Guards: all are evaluated so the record (or rejection) carries every reason; the first failing one names it.
  const gi: GuardInputs = {
    transition: proposal.transition,
    inputs: inputs.value,
    signer: proposal.signer,
    window_id: proposal.window_id,
    evidence: proposal.evidence,
    now: ctx.now,
    io: io.data,
    verify: verifier,
  };
  const outcomes: GuardOutcome[] = [];
  let escalation: Escalation | undefined;
  for (const name of guardsOf(proposal.transition)) {
    const result = evaluateGuard(name, state, gi, ctx.config);
    outcomes.push({ guard: name, ok: result.ok, reasons: result.ok ? [] : [...result.reasons] });
    if (!result.ok && result.escalation !== undefined && escalation === undefined)
      escalation = result.escalation;
  }
  const firstFailure = outcomes.find((o) => !o.ok);
  if (firstFailure !== undefined) {
    const rejected = reject(
      firstFailure.guard,
      outcomes.flatMap((o) => o.reasons),
      outcomes,
    );
    return escalation === undefined ? rejected : { ...rejected, escalation };
  }

  // 10. Reduce, hash, and draft the decision record.
  const event: TransitionEvent = {
    name: proposal.transition,
    inputs: proposal.inputs,
    signer: proposal.signer,
    idem_key: proposal.idem_key,
    hlc: proposal.hlc,
    window_id: proposal.window_id,
    evidence: proposal.evidence,
    at_ms: ctx.now,
  };
  const next = reduceParsed(state, event, inputs.value as never, ctx.config);
  const postHash = stateHash(next);
  const seq = next.head.seq;
  // In the record's own names (schemas/decision-record.ts): the ledger adds, never renames.
  const decision: StatechartDecisionDraft = {
    mission: state.meta.mission_id,
    seq,
    region: def.region,
    transition: proposal.transition,
    guards: outcomes,
    signer: proposal.signer,
    proposal_signature: signature,
    signature_verified: mode !== 'trusted',
    pre_state_hash: preHash,
    post_state_hash: postHash,
    inputs_hash: proposal.inputs_hash,
    idem_key: proposal.idem_key,
    hlc: formatHlc(hlc),
    window_id: proposal.window_id,
    evidence: [...proposal.evidence],
    decided_at: decidedAt(ctx.now),
  };
  const idempotency = recordIdempotency(
    ctx.idempotency,
    def.class,
    {
      idem_key: proposal.idem_key,
      digest,
      seq,
      transition: proposal.transition,
      post_hash: postHash,
      guards: outcomes.map((o) => o.guard),
    },
    ctx.config.idempotencyCapacity,
  );
  return {
    accepted: true,
    duplicate: false,
    state: next,
    pre_hash: preHash,
    post_hash: postHash,
    outcomes,
    decision,
    idempotency,
  };
}

/** Proposals the orchestrator takes itself: the signature may be absent (it is not verified). */
const TrustedProposalSchema = UnsignedTransitionProposalSchema.extend({
  signature: TransitionProposalSchema.shape.signature.optional(),
});

/** A proposal before signing, as the caller describes it. */
export interface ProposalDraft {
  readonly transition: TransitionName;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly signer: string;
  readonly idem_key: string;
  readonly hlc: string;
  readonly window_id: string;
  readonly evidence?: readonly string[];
}

/**
 * Fills in `current_state_hash` (HEAD of `state`) and `inputs_hash` for a draft, giving the unsigned
 * proposal to sign (or to apply as a trusted proposal). Saves every caller from re-deriving the two
 * hashes, which is where hand-built proposals most often go wrong.
 */
export function buildProposal(state: StateDocument, draft: ProposalDraft): UnsignedTransitionProposal {
  return {
    current_state_hash: stateHash(state),
    transition: draft.transition,
    inputs_hash: hashCanonical(draft.inputs),
    signer: draft.signer,
    idem_key: draft.idem_key,
    hlc: draft.hlc,
    window_id: draft.window_id,
    evidence: [...(draft.evidence ?? [])],
    inputs: { ...draft.inputs },
  };
}
