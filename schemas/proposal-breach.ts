/**
 * A signed proposal with a secret in it (docs/design.md#guards): the gateway's policy scan finds
 * it, the mission checks the signature and refuses it (so neither it nor its secret reaches
 * history), then the breach — rule, pattern and field, no value — quarantines the mission.
 */
import { z } from 'zod';
import { Sha256Schema, SignerKeySchema, TransitionNameSchema } from './proposal';

/** Where a secret rule matched in a proposal: `inputs…` or `evidence[i]`, never the value. */
export const ProposalFinding = z.strictObject({
  rule_id: z.string().min(1).max(128),
  pattern: z.string().min(1).max(128),
  field: z
    .string()
    .max(512)
    .regex(/^(?:inputs|evidence)(?:[.[].*)?$/, 'a field of the proposal: inputs… or evidence[i]'),
});
export type ProposalFinding = z.infer<typeof ProposalFinding>;

const Findings = z.array(ProposalFinding).min(1).max(64);

/** What the `screenProposal` update is sent: the proposal as signed and what the scan found in it. */
export const ProposalScreening = z.strictObject({ proposal: z.unknown(), findings: Findings });
export type ProposalScreening = z.infer<typeof ProposalScreening>;

/** The breach a screening confirmed, free of the secret: what `proposalBreach` records. */
export const ProposalBreachReport = z.strictObject({
  /** `hashCanonical` of the signed proposal: names it without carrying it. */
  proposal_hash: Sha256Schema,
  transition: TransitionNameSchema,
  signer: SignerKeySchema,
  findings: Findings,
});
export type ProposalBreachReport = z.infer<typeof ProposalBreachReport>;

/**
 * How `screenProposal` fails: `ProposalBreachConfirmed` (details: the report to send on) when the
 * proposal is signed by a signer of the mission against HEAD; `TransitionRejected` otherwise.
 */
export const PROPOSAL_BREACH_CONFIRMED = 'ProposalBreachConfirmed';
