/**
 * Evidence and agent data contracts (docs/design.md#interfaces). Evidence is stored content-addressed: a ledger
 * record or a proposal refers to it by its `sha256-<hex>` checksum, never by a mutable path.
 */
import { z } from 'zod';
import { Sha256Schema } from './proposal';

const Timestamp = z.iso.datetime({ offset: true });

/** A file or blob an agent or ingestion produced; `checksum` addresses its bytes in the store. */
export const ArtifactEvidence = z.strictObject({
  kind: z.literal('artifact'),
  mission: z.string().min(1),
  /** Where the artifact came from or belongs, e.g. a repository path or a source URL. */
  uri: z.string().min(1),
  checksum: Sha256Schema,
  sizeBytes: z.int().nonnegative(),
  mediaType: z.string().min(1),
  /** The job that produced it, when an agent did. */
  producedBy: z.string().min(1).optional(),
  createdAt: Timestamp,
});
export type ArtifactEvidence = z.infer<typeof ArtifactEvidence>;

export const ValidationCheck = z.strictObject({
  id: z.string().min(1),
  ok: z.boolean(),
  detail: z.string(),
});
export type ValidationCheck = z.infer<typeof ValidationCheck>;

/** The outcome of validating a subject (an artifact, an index version, a plan). */
export const ValidationReport = z.strictObject({
  kind: z.literal('validation-report'),
  mission: z.string().min(1),
  /** Checksum of what was validated. */
  subject: Sha256Schema,
  validator: z.string().min(1),
  outcome: z.enum(['pass', 'fail']),
  checks: z.array(ValidationCheck),
  createdAt: Timestamp,
});
export type ValidationReport = z.infer<typeof ValidationReport>;

/** What the evidence store accepts. */
export const Evidence = z.discriminatedUnion('kind', [ArtifactEvidence, ValidationReport]);
export type Evidence = z.infer<typeof Evidence>;

export const CapabilityProfile = z.strictObject({
  role: z.string().min(1),
  capabilities: z.array(z.string().min(1)),
  model: z.string().min(1).optional(),
});
export type CapabilityProfile = z.infer<typeof CapabilityProfile>;

/** Limits an agent runs under; any omitted dimension is unbounded. */
export const EnergyBudget = z.strictObject({
  tokens: z.int().positive().optional(),
  wallClockSeconds: z.int().positive().optional(),
  costUnits: z.number().nonnegative().optional(),
});
export type EnergyBudget = z.infer<typeof EnergyBudget>;

export const AgentLifecycleEvent = z.strictObject({
  event: z.enum(['spawned', 'escalated', 'retired']),
  mission: z.string().min(1),
  agentId: z.string().min(1),
  jobId: z.string().min(1).optional(),
  capabilityProfile: CapabilityProfile,
  energyBudget: EnergyBudget,
  reason: z.string().optional(),
  at: Timestamp,
});
export type AgentLifecycleEvent = z.infer<typeof AgentLifecycleEvent>;
