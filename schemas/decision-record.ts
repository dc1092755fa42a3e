/**
 * The decision ledger's record contract (docs/design.md#the-decision-ledger). A mission's ledger holds decisions (one per
 * accepted transition), agent deployments (one per agent run: the cost and efficiency facts) and
 * agent lifecycle events (an AgentLifecycleEvent in the record's names; docs/design.md#interfaces). Decision fields follow the
 * transition proposal's wire format (docs/design.md#proposals: `idem_key`, `window_id`, …) so a record reads as the
 * proposal it settled. Records on disk are parsed strictly: an unknown field is an edit. The
 * workflow's draft of a decision is a projection of the record, so one vocabulary runs from the
 * protocol to the file; the record's bytes are hashed and signed, so its field names never change.
 */
import { z } from 'zod';
import { AgentLifecycle, type AgentLifecycleEvent, CapabilityProfile, EnergyBudget } from './evidence';
import { formatInstant } from './hlc';
import { OwnerCommandProof } from './owner-controls';
import { SignatureSchema, SignerKeySchema, Sha256Schema } from './proposal';
import { TimerId } from './timer';
import type { GuardName, Region, TransitionName } from './statechart';

const Name = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only');

export const LedgerRecordKind = z.enum(['decision', 'agent-deployment', 'agent-lifecycle', 'timer-closed']);
export type LedgerRecordKind = z.infer<typeof LedgerRecordKind>;

export const GuardOutcome = z.strictObject({
  guard: z.string().min(1),
  ok: z.boolean(),
  reasons: z.array(z.string()),
});
export type GuardOutcome = z.infer<typeof GuardOutcome>;

/**
 * Who emitted a decision or deployment: the record id derives from `workflow_id` and `seq`, which
 * makes an append retried by Temporal idempotent.
 */
const EntryIdentity = {
  mission: Name,
  workflow_id: z.string().min(1).max(400),
  seq: z.int().nonnegative(),
};

export const DecisionEntry = z.strictObject({
  ...EntryIdentity,
  region: Name,
  transition: Name,
  guards: z.array(GuardOutcome),
  /** The proposal's signer, or the orchestrator's key for transitions a workflow takes itself. */
  signer: SignerKeySchema,
  /** The proposal's own signature, kept so the record proves who asked; null when unsigned. */
  proposal_signature: SignatureSchema.nullable(),
  signature_verified: z.boolean(),
  pre_state_hash: Sha256Schema,
  post_state_hash: Sha256Schema,
  inputs_hash: Sha256Schema,
  idem_key: z.string().min(1),
  hlc: z.string().min(1),
  window_id: z.string().min(1),
  evidence: z.array(z.string().min(1)),
  /** The workflow's (deterministic) time of the decision; `timestamp` is when it was recorded. */
  decided_at: z.iso.datetime({ offset: true }),
  /**
   * Owner records of signed commands only (absent on every other record, and on owner records
   * from before it): the signed command and its signatures, which `ledger verify` checks.
   */
  owner_command: OwnerCommandProof.optional(),
});
export type DecisionEntry = z.infer<typeof DecisionEntry>;

export const AgentOutcome = z.enum(['succeeded', 'failed', 'timed-out', 'cancelled']);
export type AgentOutcome = z.infer<typeof AgentOutcome>;

/** One agent run (a Kubernetes Job or a local process): the facts cost reports are made of. */
export const AgentDeploymentEntry = z
  .strictObject({
    ...EntryIdentity,
    job_id: z.string().min(1),
    runner: z.enum(['kubernetes', 'local']),
    region: Name.optional(),
    window_id: z.string().min(1).optional(),
    role: z.string().min(1).optional(),
    started_at: z.iso.datetime({ offset: true }),
    finished_at: z.iso.datetime({ offset: true }),
    outcome: AgentOutcome,
    exit_code: z.int().optional(),
  })
  .refine((e) => Date.parse(e.finished_at) >= Date.parse(e.started_at), {
    message: 'finished_at must not precede started_at',
    path: ['finished_at'],
  });
export type AgentDeploymentEntry = z.infer<typeof AgentDeploymentEntry>;

/** What the ledger adds to an entry: position, chain link, time, hash and its own signature. */
const Envelope = {
  v: z.literal(1),
  id: z.string().regex(/^rec-[0-9a-f]{32}$/),
  index: z.int().nonnegative(),
  timestamp: z.iso.datetime({ offset: true }),
  prev_hash: Sha256Schema,
  hash: Sha256Schema,
  orchestrator: SignerKeySchema,
  signature: SignatureSchema,
};

export const DecisionRecord = z.strictObject({
  ...DecisionEntry.shape,
  ...Envelope,
  kind: z.literal('decision'),
  /**
   * `decisionId(record)` (schemas/decision-id.ts): the id the workflow answered for this decision.
   * A regex rather than startsWith, which JSON Schema renders as a format no validator knows.
   */
  ucxl: z.string().regex(/^ucxl:\/\/swoosh:/),
});
export type DecisionRecord = z.infer<typeof DecisionRecord>;

/**
 * What the `recordDecision` activity answers: where the record stands in the chain, not the
 * record. A local activity's answer is stored in the mission's history for every transition, and
 * the mission needs only to know that the record is durable.
 */
export interface DecisionReceipt {
  readonly id: string;
  readonly index: number;
  readonly hash: string;
}

export const AgentDeploymentRecord = z.strictObject({
  ...AgentDeploymentEntry.shape,
  ...Envelope,
  kind: z.literal('agent-deployment'),
  duration_ms: z.int().nonnegative(),
});
export type AgentDeploymentRecord = z.infer<typeof AgentDeploymentRecord>;

/**
 * An agent's spawn, escalation or retirement (docs/design.md#interfaces) as the ledger records it:
 * the AgentLifecycleEvent with the names lifecycle records have always had, since their bytes are
 * signed (`lifecycle` is `event`, `missionId` is `mission`, `timestamp` is `at`; the record's own
 * `timestamp` is when it was recorded). So ledgers from before the seed names still verify, and
 * the same event still makes the same record.
 */
export const AgentLifecycleEntry = z.strictObject({
  event: AgentLifecycle,
  mission: z.string().min(1),
  agentId: z.string().min(1),
  jobId: z.string().min(1).optional(),
  capabilityProfile: CapabilityProfile,
  energyBudget: EnergyBudget,
  reason: z.string().optional(),
  at: z.iso.datetime({ offset: true }),
});
export type AgentLifecycleEntry = z.infer<typeof AgentLifecycleEntry>;

/** The ledger's entry for an event: the event's fields under the record's names. */
export function lifecycleEntryOf(event: AgentLifecycleEvent): AgentLifecycleEntry {
  const { lifecycle, missionId, timestamp, ...same } = event;
  return { event: lifecycle, mission: missionId, ...same, at: timestamp };
}

export const AgentLifecycleRecord = z.strictObject({
  ...AgentLifecycleEntry.shape,
  ...Envelope,
  kind: z.literal('agent-lifecycle'),
});
export type AgentLifecycleRecord = z.infer<typeof AgentLifecycleRecord>;

/**
 * A timer that closed (settled or cancelled), archived by its shard, which keeps only a digest of
 * it (docs/timers.md#compact-shards). A shard's ledger is `timer-shard-<n>`. `timer` is the full
 * record's canonical JSON (webhook header values redacted) kept as text, so the record's hash covers
 * exactly the bytes stored; `TimerRecord` reads it.
 */
export const TimerClosedEntry = z.strictObject({
  mission: Name,
  timer_id: TimerId,
  outcome: z.enum(['Settled', 'Cancelled']),
  closed_at: z.iso.datetime({ offset: true }),
  /** `sha256-<hex>` of the canonical JSON of the timer's spec, as the shard's digest keeps it. */
  spec_hash: Sha256Schema,
  timer: z.string().min(2),
});
export type TimerClosedEntry = z.infer<typeof TimerClosedEntry>;

export const TimerClosedRecord = z.strictObject({
  ...TimerClosedEntry.shape,
  ...Envelope,
  kind: z.literal('timer-closed'),
});
export type TimerClosedRecord = z.infer<typeof TimerClosedRecord>;

export const LedgerRecord = z.discriminatedUnion('kind', [
  DecisionRecord,
  AgentDeploymentRecord,
  AgentLifecycleRecord,
  TimerClosedRecord,
]);
export type LedgerRecord = z.infer<typeof LedgerRecord>;

/**
 * The signed pointer to a mission's last record, rewritten after each append. The chain alone
 * cannot show that records were cut from its end; the head can.
 */
export const LedgerHead = z.strictObject({
  mission: z.string().min(1),
  index: z.int().nonnegative(),
  hash: Sha256Schema,
  orchestrator: SignerKeySchema,
  signature: SignatureSchema,
});
export type LedgerHead = z.infer<typeof LedgerHead>;

/**
 * One guard's verdict as the protocol reports it: a record's guard outcome, named by the
 * statechart's own guard names.
 */
export type GuardVerdict = GuardOutcome & { readonly guard: GuardName };

/**
 * What a workflow hands the ledger for one decision (docs/design.md#the-decision-ledger): the record's own fields, in the
 * record's own names, less what others add. The `recordDecision` activity adds `workflow_id`
 * (from its context; the record id derives from it), the ledger adds the envelope and `ucxl`
 * (docs/ledger.md). Everything decided is here.
 */
export type DecisionDraft = Omit<DecisionEntry, 'workflow_id'>;

/**
 * The `decided_at` of a decision taken at `ms` (Unix ms, years 0–9999): the text
 * `new Date(ms).toISOString()` gives, which is what records have always held, computed without
 * `Date` so that the statechart core can draft it (the core constructs no Date).
 */
export function decidedAt(ms: number): string {
  return `${formatInstant(ms).slice(0, -'+00:00'.length)}Z`;
}

/** A decision the statechart core drafted: the draft, with the statechart's names for what it names. */
export interface StatechartDecisionDraft extends DecisionDraft {
  readonly region: Region;
  readonly transition: TransitionName;
  readonly guards: GuardVerdict[];
}
