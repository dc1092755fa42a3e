/** The mission contract: what a person or a system submits to start work. */
import { z } from 'zod';
import { MissionControls } from './owner-controls';

export const Priority = z.enum(['P0', 'P1', 'P2']);
export type Priority = z.infer<typeof Priority>;

/**
 * A mission's Temporal task priority (`priorityKey`, 1 dispatched first) by its priority. Set on the
 * mission's start; its workflow tasks, activities and agent-job children inherit it. P2 is the
 * server's default (3), so work started without one (timer shards, schedules) ranks with P2.
 */
export const TASK_PRIORITY_KEY: Record<Priority, number> = { P0: 1, P1: 2, P2: 3 };

export const MissionPrompt = z.strictObject({
  id: z.uuid(),
  // `\S` states `min(1)` after trim() in JSON Schema, which cannot trim.
  objective: z.string().trim().min(1, 'must not be empty').max(10_000).regex(/\S/, 'must not be empty'),
  priority: Priority,
  originatingSpec: z.url(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type MissionPrompt = z.infer<typeof MissionPrompt>;

export const MissionIdParam = z.strictObject({ id: z.uuid() });

/** Phases of the top-level statechart as the mission reports them (docs/design.md#the-statechart). */
export const MissionPhase = z.enum([
  'UNINITIALIZED',
  'LICENSE_CHECK',
  'PROJECT_LIFECYCLE',
  'EXECUTION',
  'PAUSED',
  'RECOVERY',
  'DEGRADED',
  'QUARANTINED',
  'TERMINATED',
]);
export type MissionPhase = z.infer<typeof MissionPhase>;

/** One stay in RECOVERY: entered when the council lost its quorum, left on a new certificate. */
export const RecoveryEpisode = z.strictObject({
  reason: z.string(),
  entered_at_ms: z.number(),
  /** null while the mission is still recovering. */
  left_at_ms: z.number().nullable(),
  /** Workflow time spent in RECOVERY (what `swoosh_recovery_time_seconds` observes). */
  seconds: z.number().nonnegative().nullable(),
});
export type RecoveryEpisode = z.infer<typeof RecoveryEpisode>;

export const RecoveryView = z.strictObject({
  /** The open episode's entry time, or null when the mission is not recovering. */
  since_ms: z.number().nullable(),
  /** The most recent episodes, oldest first (bounded). */
  episodes: z.array(RecoveryEpisode),
});
export type RecoveryView = z.infer<typeof RecoveryView>;

/** A failure for good the mission compensated and is still retrying (docs/design.md#compensation). */
export const OpenFault = z.strictObject({
  /** What failed: a lifecycle region (`ingestion`, `council`, `environment`) or `execution`. */
  fault: z.string(),
  /** The failure and the compensation taken, as the ledger's Control_Degrade or rollback records it. */
  reason: z.string(),
  since_ms: z.number(),
});
export type OpenFault = z.infer<typeof OpenFault>;

export const FaultsView = z.strictObject({
  /** Failures not yet recovered from, oldest first. */
  open: z.array(OpenFault),
  /** The reason of the Control_Degrade the orchestrator took for them, while that degrade holds. */
  degraded_with: z.string().nullable(),
});
export type FaultsView = z.infer<typeof FaultsView>;

export const MissionView = z.object({
  missionId: z.uuid(),
  workflowId: z.string(),
  phase: MissionPhase,
  prompt: MissionPrompt,
  /** HEAD: the state hash of `state` (absent on missions started before the statechart). */
  hash: z.string().optional(),
  /** The composed state document (docs/design.md#state-and-hashes). */
  state: z.record(z.string(), z.unknown()).optional(),
  /** Owner controls in force for future work (absent on missions started before them). */
  controls: MissionControls.optional(),
  /** Automatic RECOVERY after lost quorums (absent on missions started before it). */
  recovery: RecoveryView.optional(),
  /** Compensated failures the mission is still retrying (docs/design.md#compensation). */
  faults: FaultsView.optional(),
});
export type MissionView = z.infer<typeof MissionView>;

export const MissionStarted = z.object({
  workflowId: z.string(),
  runId: z.string(),
  created: z.boolean(),
});
export type MissionStarted = z.infer<typeof MissionStarted>;

export function missionWorkflowId(missionId: string): string {
  return `mission-${missionId}`;
}

/** What an accepted transition returns (docs/design.md#proposals: 202 with the post-state hash and record id). */
export interface TransitionOutcome {
  post_hash: string;
  decision_id: string;
  /** True when this was a repeat of an applied proposal: the first outcome, nothing changed. */
  duplicate: boolean;
  /**
   * The `request_id` the update's sender named (`TransitionRequest`). Temporal answers every sender
   * of one update id with the first outcome, so a sender that finds another request's id here
   * repeated a proposal that was already sent.
   */
  request_id?: string;
}

/**
 * The `transition` update's optional second argument: an id of the sender's own request, echoed in
 * the outcome, which is how the gateway tells a first proposal from a repeat without asking
 * Temporal about the update first (docs/api.md, "Idempotency").
 */
export const TransitionRequest = z.strictObject({ request_id: z.string().min(1).max(128) });
export type TransitionRequest = z.infer<typeof TransitionRequest>;

/** Details of a rejected transition (the ApplicationFailure `TransitionRejected`). */
export interface TransitionRejection {
  failing_guard: string;
  reasons: string[];
  /** HEAD when the proposal was rejected: a stale caller re-reads and resubmits against it. */
  head: string;
}

export const TRANSITION_REJECTED = 'TransitionRejected';

export type { ControlCommand } from './owner-controls';

/** One ingested source as the fetch activity stored it (content-addressed). */
export interface FetchedSource {
  uri: string;
  path: string;
  checksum: string;
  sizeBytes: number;
  mediaType: string;
}
