/**
 * Signed proposals with a secret in them (docs/design.md#guards). An update's arguments are
 * written to history once its validator accepts it, so a proposal carrying a secret must never be
 * accepted by any update; and a quarantine must be triggered by something that carries no secret
 * yet is authorised. Hence two updates, both checked by validators:
 *
 * - `screenProposal` carries the proposal and the gateway's findings (rule, pattern, field). Its
 *   validator verifies the signature, that the signer is registered for this mission and that the
 *   proposal is on HEAD, and that every finding names a string of the proposal; it keeps the
 *   breach report it confirmed and always refuses, so nothing of it reaches history.
 * - `proposalBreach` carries only that report. Its validator accepts exactly a report confirmed
 *   here on the current HEAD; its handler takes Policy_Quarantine from the report alone.
 *
 * The confirmations live in validator memory, which is never replayed and never affects a
 * handler: a worker that lost them (a restart, an eviction) refuses the report, failing closed.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { canonicalJson } from '../../schemas/canonical-json';
import { hashCanonical } from '../../schemas/hash';
import { TRANSITION_REJECTED, type TransitionRejection } from '../../schemas/mission';
import { stringLeaves } from '../../schemas/policy';
import { TransitionProposalSchema } from '../../schemas/proposal';
import {
  PROPOSAL_BREACH_CONFIRMED,
  ProposalBreachReport,
  ProposalScreening,
} from '../../schemas/proposal-breach';
import type { StateDocument } from '../../schemas/state-document';
import { verifyDetached, verifyProposalSignature } from '../statechart';
import type { MissionEngine } from './engine';

/** Confirmations kept; more are waiting only when screenings pile up faster than their reports. */
const CONFIRMED_KEPT = 64;

export class ProposalBreaches {
  readonly #m: MissionEngine;
  /** Confirmed reports (canonical JSON) by proposal hash, with the state they were confirmed on. */
  readonly #confirmed = new Map<string, { report: string; state: StateDocument }>();

  constructor(m: MissionEngine) {
    this.#m = m;
  }

  #refuse(reasons: string[]): never {
    const details: TransitionRejection = { failing_guard: 'policy-scan', reasons, head: this.#m.hash };
    throw ApplicationFailure.create({
      type: TRANSITION_REJECTED,
      message: `rejected by policy-scan: ${reasons.join('; ')}`,
      nonRetryable: true,
      details: [details],
    });
  }

  /** `screenProposal` validator: confirms the breach or refuses; throws either way. */
  screen(raw: unknown): never {
    const m = this.#m;
    const parsed = ProposalScreening.safeParse(raw);
    if (!parsed.success) this.#refuse(['not a proposal screening (proposal, findings)']);
    const proposal = TransitionProposalSchema.safeParse(parsed.data.proposal);
    // Reasons name fields only: a message about a value could quote the secret.
    if (!proposal.success)
      this.#refuse([
        `not a valid proposal at ${proposal.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      ]);
    const p = proposal.data;
    const signature = verifyProposalSignature(p, verifyDetached);
    if (!signature.ok) this.#refuse([`signature: ${signature.reason}`]);
    if (!m.registry.isRegistered(p.signer)) this.#refuse([`signer ${p.signer} is not registered`]);
    // On HEAD only, so a captured proposal cannot be replayed to quarantine the mission again.
    if (p.current_state_hash !== m.hash) this.#refuse([`the proposal is not on HEAD ${m.hash}`]);
    if (m.state.policy.phase !== 'CLEAR' || m.terminated) this.#refuse(['the mission is not CLEAR']);
    const strings = new Set([
      ...stringLeaves(p.inputs, 'inputs').map(([at]) => at),
      ...stringLeaves(p.evidence, 'evidence').map(([at]) => at),
    ]);
    const unknown = parsed.data.findings.filter((f) => !strings.has(f.field)).map((f) => f.field);
    if (unknown.length > 0) this.#refuse([`no string at ${unknown.join(', ')}`]);
    const report: ProposalBreachReport = {
      proposal_hash: hashCanonical(p),
      transition: p.transition,
      signer: p.signer,
      findings: parsed.data.findings,
    };
    this.#confirmed.set(report.proposal_hash, { report: canonicalJson(report), state: m.state });
    if (this.#confirmed.size > CONFIRMED_KEPT) this.#confirmed.delete(this.#confirmed.keys().next().value!);
    throw ApplicationFailure.create({
      type: PROPOSAL_BREACH_CONFIRMED,
      message: `proposal ${p.transition} breaches the policy; send the report to quarantine the mission`,
      nonRetryable: true,
      details: [report],
    });
  }

  /** `proposalBreach` validator: only a report confirmed here, with HEAD unmoved since. */
  validateReport(raw: unknown): void {
    const parsed = ProposalBreachReport.safeParse(raw);
    if (!parsed.success) this.#refuse(['not a proposal breach report']);
    const kept = this.#confirmed.get(parsed.data.proposal_hash);
    if (kept === undefined || kept.report !== canonicalJson(parsed.data))
      this.#refuse(['no such breach was confirmed by screenProposal here: screen the proposal again']);
    if (kept.state !== this.#m.state) this.#refuse(['HEAD moved since the breach was confirmed']);
  }

  /** `proposalBreach` handler: Policy_Quarantine naming the transition, signer, rules and fields. */
  handleReport(raw: unknown): Promise<{ quarantined: boolean }> {
    const m = this.#m;
    const report = ProposalBreachReport.parse(raw);
    this.#confirmed.delete(report.proposal_hash);
    const found = report.findings.map((f) => `${f.rule_id} (${f.pattern} at ${f.field})`);
    const rationale =
      `proposal ${report.transition} signed by ${report.signer} breaches the policy: ${found.join('; ')}`.slice(
        0,
        1024,
      );
    const breaches = [...new Set(report.findings.map((f) => `${f.rule_id} at ${f.field}`))];
    return m.exclusive(async () => {
      if (m.state.policy.phase !== 'CLEAR' || m.terminated) return { quarantined: false };
      const r = await m.takeLocked(
        'Policy_Quarantine',
        { rationale, breaches },
        { io: { policy: { breach: true, breaches, rationale } } },
      );
      return { quarantined: r.accepted };
    });
  }
}
