/**
 * The `transition` update: signed proposals from outside. Its validator runs the pure protocol
 * synchronously against HEAD with the I/O verdicts already held, so most rejections never reach
 * history, and it is the trust boundary for the proposal's signature. Its handler, under the
 * engine's mutex, fetches the verdicts the transition's guards declare, applies the proposal again
 * (HEAD, HLC, idempotency and I/O can change in between) and records the decision.
 */
import { decisionId } from '../../schemas/decision-id';
import { ApplicationFailure, currentUpdateInfo, patched } from '@temporalio/workflow';
import type { GuardIO } from '../../schemas/guard-io';
import {
  TRANSITION_REJECTED,
  type TransitionOutcome,
  type TransitionRejection,
  TransitionRequest,
} from '../../schemas/mission';
import type { StateDocument } from '../../schemas/state-document';
import { guardIO } from '../../schemas/statechart';
import { observeRejectedTransition } from '../observability';
import {
  applyProposal,
  applyValidatedProposal,
  verifyDetached,
  type Accepted,
  type ApplyResult,
  type Duplicate,
  type FailingGuard,
  type IdempotencyTable,
  type Rejected,
  type Verifier,
} from '../statechart';
import type { MissionEngine } from './engine';
import { fetchGuardIO, needsGuardIO } from './guard-io';
import { undeclaredAgents } from './plan';
import { MissionPlan } from '../../schemas/mission-plan';

/** Outcomes carry the `request_id` their update named (docs/api.md, "Idempotency"). */
export const REQUEST_ECHO_PATCH = 'swoosh-transition-request-echo-v1';

/** Validator results kept for their handlers; more are waiting only when updates pile up. */
const VALIDATED_KEPT = 64;

/** An accepted validation and everything it read, so the handler can tell whether it still holds. */
interface Validated {
  readonly result: Accepted;
  readonly state: StateDocument;
  readonly idempotency: IdempotencyTable;
  readonly io: GuardIO;
  readonly now: number;
}

function rejection(r: Rejected, head: string): ApplicationFailure {
  const details: TransitionRejection = { failing_guard: r.failing_guard, reasons: [...r.reasons], head };
  return ApplicationFailure.create({
    type: TRANSITION_REJECTED,
    message: `rejected by ${r.failing_guard}: ${r.reasons.join('; ')}`,
    nonRetryable: true,
    details: [details],
  });
}

/** A refusal the update decides itself, beside the protocol's (no guard outcomes to report). */
function refusal(failing_guard: FailingGuard, reasons: string[]): Rejected {
  return { accepted: false, rejected: true, failing_guard, reasons, outcomes: [] };
}

export class TransitionUpdates {
  readonly #m: MissionEngine;
  /** Accepted validations by update id (see `#reuseValidated`). */
  readonly #validated = new Map<string, Validated>();
  /**
   * The state each accepted update was validated against, until its handler ends. While one is
   * pending on HEAD, another proposal on the same HEAD would pass its validator only to be refused
   * as stale by its handler, leaving events in history; its validator refuses it instead.
   */
  readonly #claims = new Map<string, StateDocument>();

  constructor(m: MissionEngine) {
    this.#m = m;
  }

  /**
   * Update validator: synchronous, and changes nothing of the mission (it only keeps an accepted
   * result for its handler). Throws to keep a rejection out of history. It is the trust boundary
   * for the proposal's signature: the handler does not verify it again.
   */
  validate(proposal: unknown, request?: unknown): void {
    const m = this.#m;
    if (request !== undefined && !TransitionRequest.safeParse(request).success) {
      this.#refuse(
        refusal('schema', ['request: expected { request_id: a string of 1 to 128 characters } or nothing']),
        proposal,
      );
    }
    const now = Date.now();
    const r = applyProposal(m.state, proposal, m.context(now));
    if (r.accepted) {
      const id = currentUpdateInfo()?.id;
      const unplannable = r.duplicate ? [] : newPlanProblems(m, proposal);
      if (unplannable.length > 0) this.#refuse(refusal('inputs', unplannable), proposal);
      if (!r.duplicate && id !== undefined) {
        // A step already queued (an owner command that arrived in the same workflow task, the
        // mission's own transition) runs before this handler and may move HEAD: refused here, not
        // by the handler, so the refusal leaves no trace in history.
        const busy = this.#claimedByAnother(id) || m.stepsPending > 0;
        if (busy) {
          this.#refuse(
            refusal('concurrency', [
              `HEAD ${m.hash} is being moved by another accepted proposal or a step of the mission; read it again`,
            ]),
            proposal,
          );
        }
        this.#claims.set(id, m.state);
        this.#validated.set(id, {
          result: r,
          state: m.state,
          idempotency: m.idempotency,
          io: m.io,
          now,
        });
        if (this.#validated.size > VALIDATED_KEPT)
          this.#validated.delete(this.#validated.keys().next().value!);
      }
      return;
    }
    // A guard that decides on I/O is judged by the handler, on verdicts fetched fresh.
    if (guardIO(r.failing_guard) !== undefined) return;
    observeRejectedTransition(r, { mission: m.missionId, head: m.hash, proposal });
    throw rejection(r, m.hash);
  }

  /**
   * Update handler: fetch the I/O the guards declare, apply, record; a repeat returns the first
   * outcome. The signature was verified by `validate` (Temporal runs this only for an update it
   * accepted), so it is not verified again; HEAD, HLC and the guards are, since they can change in
   * between.
   */
  handle(proposal: unknown, request?: TransitionRequest): TransitionOutcome | Promise<TransitionOutcome> {
    const outcome = this.#handle(proposal);
    // Only updates that name a request carry one back, so histories recorded before it replay as
    // they were; the patch marks the runs whose outcomes may carry one.
    if (request === undefined || !patched(REQUEST_ECHO_PATCH)) return outcome;
    const echo = (o: TransitionOutcome): TransitionOutcome => ({ ...o, request_id: request.request_id });
    return outcome instanceof Promise ? outcome.then(echo) : echo(outcome);
  }

  #handle(proposal: unknown): TransitionOutcome | Promise<TransitionOutcome> {
    const id = currentUpdateInfo()?.id;
    const release = () => {
      if (id !== undefined) this.#claims.delete(id);
    };
    if (!this.#m.promptSteps) return this.#apply(proposal).finally(release);
    const requestedAtMs = Date.now();
    let outcome: TransitionOutcome | Promise<TransitionOutcome>;
    try {
      outcome = this.#m.promptly(() => this.#step(proposal, requestedAtMs));
    } catch (error) {
      release();
      throw error;
    }
    if (outcome instanceof Promise) return outcome.finally(release);
    release();
    return outcome;
  }

  /** Whether an update other than `id` was accepted on the current HEAD and has not ended. */
  #claimedByAnother(id: string): boolean {
    for (const [other, state] of this.#claims) if (other !== id && state === this.#m.state) return true;
    return false;
  }

  /** The handler's step in runs recorded before PROMPT_STEPS_PATCH: queued, awaiting throughout. */
  #apply(proposal: unknown): Promise<TransitionOutcome> {
    const m = this.#m;
    const requestedAtMs = Date.now();
    return m.exclusive(async () => {
      const fresh = await fetchGuardIO(m, transitionOf(proposal));
      const r = this.#judge(proposal, fresh);
      if (!r.accepted) {
        const escalated = this.#escalate(r);
        if (escalated) await escalated;
        this.#refuse(r, proposal);
      }
      if (r.duplicate) return duplicateOutcome(r);
      await m.commit(r, { requestedAtMs });
      return this.#accepted(r, proposal);
    });
  }

  /**
   * The handler's step under PROMPT_STEPS_PATCH: the same decision, awaiting only what it must — the
   * verdicts its guards declare, an escalation, a quarantine — so that most proposals are decided
   * and committed without a promise.
   */
  #step(proposal: unknown, requestedAtMs: number): TransitionOutcome | Promise<TransitionOutcome> {
    const transition = transitionOf(proposal);
    if (!needsGuardIO(transition)) return this.#decide(proposal, {}, requestedAtMs);
    return fetchGuardIO(this.#m, transition).then((fresh) => this.#decide(proposal, fresh, requestedAtMs));
  }

  #decide(
    proposal: unknown,
    fresh: GuardIO,
    requestedAtMs: number,
  ): TransitionOutcome | Promise<TransitionOutcome> {
    const r = this.#judge(proposal, fresh);
    if (!r.accepted) {
      const escalated = this.#escalate(r);
      if (escalated) return escalated.then(() => this.#refuse(r, proposal));
      this.#refuse(r, proposal);
    }
    if (r.duplicate) return duplicateOutcome(r);
    const committed = this.#m.commitNow(r, { requestedAtMs });
    if (committed === undefined) return this.#accepted(r, proposal);
    return committed.then(() => this.#accepted(r, proposal));
  }

  /**
   * Applies the proposal against HEAD with the verdicts just fetched held. The signature is not
   * checked again: the validator did, and Temporal runs the handler only for an update it accepted.
   */
  #judge(proposal: unknown, fresh: GuardIO): ApplyResult {
    const m = this.#m;
    m.hold(fresh);
    const now = Date.now();
    const verifier = m.verifier();
    return (
      this.#reuseValidated(now, fresh, verifier) ??
      applyValidatedProposal(m.state, proposal, m.context(now, fresh, verifier))
    );
  }

  /** Takes the orchestrator's transition a refusal escalates to, while the policy region is clear. */
  #escalate(r: Rejected): Promise<unknown> | undefined {
    const m = this.#m;
    if (!r.escalation || m.state.policy.phase !== 'CLEAR') return undefined;
    const { transition, inputs } = r.escalation;
    return m.takeLocked(transition, { ...inputs, breaches: [...inputs.breaches] });
  }

  #refuse(r: Rejected, proposal: unknown): never {
    const m = this.#m;
    observeRejectedTransition(r, { mission: m.missionId, head: m.hash, proposal });
    throw rejection(r, m.hash);
  }

  #accepted(r: Accepted, proposal: unknown): TransitionOutcome {
    const plan = newPlanOf(proposal);
    if (r.decision.transition === 'Execution_Replan' && plan !== undefined) {
      // The beat runs the new plan from PLAN on; what the old one found is not this plan's verdict.
      this.#m.plan = { ...this.#m.plan, current: plan, verdict: null };
    }
    return { post_hash: r.post_hash, decision_id: decisionId(r.decision), duplicate: false };
  }

  /**
   * The validator's result for the running update, when applying the proposal now is the very
   * computation the validator did: same state, idempotency table and I/O verdicts (no fresh I/O),
   * same workflow clock and verifier. The protocol is a pure function of those and the proposal, so
   * the result is identical, and skipping the second computation halves a transition's CPU. On
   * replay validators do not run, nothing is kept, and the handler computes it again.
   */
  #reuseValidated(now: number, fresh: GuardIO, verifier: Verifier): Accepted | undefined {
    const m = this.#m;
    const id = currentUpdateInfo()?.id;
    if (id === undefined) return undefined;
    const kept = this.#validated.get(id);
    this.#validated.delete(id);
    const same =
      kept !== undefined &&
      Object.keys(fresh).length === 0 &&
      verifier === verifyDetached &&
      kept.state === m.state &&
      kept.idempotency === m.idempotency &&
      kept.io === m.io &&
      kept.now === now;
    return same ? kept.result : undefined;
  }
}

function transitionOf(proposal: unknown): unknown {
  return (proposal as { transition?: unknown } | null)?.transition;
}

function duplicateOutcome(r: Duplicate): TransitionOutcome {
  return { post_hash: r.post_hash, decision_id: r.decision_id, duplicate: true };
}

/** The plan a proposed Execution_Replan brings, parsed with its defaults; undefined for anything else. */
function newPlanOf(proposal: unknown): MissionPlan | undefined {
  const p = proposal as { transition?: unknown; inputs?: { plan?: unknown } } | null;
  if (p?.transition !== 'Execution_Replan' || p.inputs?.plan === undefined) return undefined;
  const parsed = MissionPlan.safeParse(p.inputs.plan);
  return parsed.success ? parsed.data : undefined;
}

/** Why a new plan cannot run here (an agent the mission's catalogue does not declare); empty if it can. */
function newPlanProblems(m: MissionEngine, proposal: unknown): string[] {
  const plan = newPlanOf(proposal);
  return plan === undefined ? [] : undeclaredAgents(m, plan);
}
