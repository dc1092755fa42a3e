/**
 * Evidence and agent data contracts (docs/design.md#interfaces), in the field names of the
 * AgentNexus seed contracts (ArtifactEvidence, ValidationReport, AgentLifecycleEvent; MissionPrompt
 * is schemas/mission.ts). tests/schemas/seed-contracts.test.ts pins those names.
 *
 * Evidence is stored content-addressed: a ledger record or a proposal refers to it by its
 * `sha256-<hex>` checksum, never by a mutable path. The evidence store tells its two kinds apart by
 * `kind`, a field SWOOSH adds beside the seed fields so that none of them is renamed.
 */
import { z } from 'zod';
import { hashCanonical, SHA256_PREFIX } from './hash';
import { Sha256Schema } from './proposal';

const Timestamp = z.iso.datetime({ offset: true });
const Id = z.string().min(1).max(200);

/** A file or blob an agent or ingestion produced; `checksum` addresses its bytes in the store. */
export const ArtifactEvidence = z.strictObject({
  kind: z.literal('artifact'),
  /** Given by the producer; SWOOSH names its own artifacts `artifactIdOf(checksum)`. */
  artifactId: Id,
  missionId: z.string().min(1),
  /** What the artifact is, e.g. `agent-output`, `document-index`, `source`. */
  type: z.string().min(1).max(100),
  /** Where the artifact came from or belongs, e.g. a repository path or a source URL. */
  uri: z.string().min(1),
  checksum: Sha256Schema,
  /** The job, agent or SWOOSH step that produced it. */
  producedBy: z.string().min(1),
  sizeBytes: z.int().nonnegative(),
  mediaType: z.string().min(1),
  createdAt: Timestamp,
});
export type ArtifactEvidence = z.infer<typeof ArtifactEvidence>;

/** The id of an artifact SWOOSH produced: its content's, so the same bytes are the same artifact. */
export function artifactIdOf(checksum: string): string {
  return `artifact-${checksum.slice(SHA256_PREFIX.length)}`;
}

/** One check a reviewer made; `detail` says why it failed, never quoting secret-like content. */
export const ValidationFinding = z.strictObject({
  id: z.string().min(1),
  ok: z.boolean(),
  detail: z.string(),
});
export type ValidationFinding = z.infer<typeof ValidationFinding>;

/** A reviewer's verdict on one artifact (an agent's output, an index, fetched sources). */
export const ValidationReport = z.strictObject({
  kind: z.literal('validation-report'),
  reportId: Id,
  missionId: z.string().min(1),
  /** The `artifactId` of what was validated. */
  artifactId: Id,
  reviewer: z.string().min(1),
  result: z.enum(['pass', 'fail']),
  /**
   * The share (0..1) of the checks the reviewer applies to this artifact that reached a verdict:
   * 1 when every one could judge it, less when some could not (a format it could not read).
   */
  coverage: z.number().min(0).max(1),
  findings: z.array(ValidationFinding),
  createdAt: Timestamp,
});
export type ValidationReport = z.infer<typeof ValidationReport>;

/** The id of a report SWOOSH writes: from who reviewed what and when, so each review has its own. */
export function reportIdOf(report: Pick<ValidationReport, 'reviewer' | 'artifactId' | 'createdAt'>): string {
  const digest = hashCanonical([report.reviewer, report.artifactId, report.createdAt]);
  return `report-${digest.slice(SHA256_PREFIX.length, SHA256_PREFIX.length + 32)}`;
}

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

export const AgentLifecycle = z.enum(['spawned', 'escalated', 'retired']);
export type AgentLifecycle = z.infer<typeof AgentLifecycle>;

/**
 * An agent's spawn, escalation or retirement. The ledger keeps it in its own record names
 * (schemas/decision-record.ts, AgentLifecycleEntry), which are signed and never change.
 */
export const AgentLifecycleEvent = z.strictObject({
  agentId: z.string().min(1),
  missionId: z.string().min(1),
  lifecycle: AgentLifecycle,
  capabilityProfile: CapabilityProfile,
  energyBudget: EnergyBudget,
  /** When it happened (not when it was recorded). */
  timestamp: Timestamp,
  jobId: z.string().min(1).optional(),
  reason: z.string().optional(),
});
export type AgentLifecycleEvent = z.infer<typeof AgentLifecycleEvent>;
