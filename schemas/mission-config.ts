/**
 * What a mission is started with beside its prompt (SPEC §3, §4): who may propose which
 * transitions, the council to elect, the BACKBEAT schedule and the quorum/approval thresholds.
 * Everything here is configuration the protocol needs to give the same answer on replay, so it
 * travels in the workflow's input (and across continue-as-new), never read from the environment
 * inside a workflow. The orchestrator's own PUBLIC key is resolved once by an activity and pinned
 * here; its secret key never enters a workflow.
 */
import { z } from 'zod';
import { EvidenceUriSchema, SignerKeySchema } from './proposal';

export const SignerEntryInput = z.strictObject({
  key: SignerKeySchema,
  classes: z.array(z.string().min(1)).min(1),
  label: z.string().min(1).max(128).optional(),
});
export type SignerEntryInput = z.infer<typeof SignerEntryInput>;

export const ScheduleInput = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
  tempoBpm: z.number().positive(),
  barBeats: z.int().positive(),
  phases: z.strictObject({
    PLAN: z.number().positive(),
    WORK: z.number().positive(),
    REVIEW: z.number().positive(),
    REVERB: z.number().positive(),
  }),
  amplitude: z.number().min(0).max(1),
  backoffBaseMs: z.int().positive(),
  backoffMaxMs: z.int().positive(),
});
export type ScheduleInput = z.infer<typeof ScheduleInput>;

/** Development default: 4-minute bars (PLAN 48 s, WORK 2 min, REVIEW 48 s, REVERB 24 s). */
export const DEV_SCHEDULE: ScheduleInput = {
  name: 'backbeat',
  tempoBpm: 30,
  barBeats: 120,
  phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
  amplitude: 0.25,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
};

export const CouncilMemberInput = z.strictObject({ id: z.string().min(1).max(128), key: SignerKeySchema });

export const MissionConfigInput = z.strictObject({
  /** Signers besides the orchestrator (which is always registered with every class). */
  signers: z.array(SignerEntryInput).max(64).default([]),
  /** The council to elect. Empty: the orchestrator alone, voting through an activity. */
  council: z
    .strictObject({
      roles: z.array(z.string().min(1).max(128)).min(1).max(64).default(['planner', 'reviewer']),
      members: z.array(CouncilMemberInput).max(64).default([]),
    })
    .prefault({}),
  quorumSize: z.int().positive().optional(),
  approvalsRequired: z.int().positive().default(1),
  /** The orchestrator approves each beat's evidence itself (dev missions without human reviewers). */
  autoApprove: z.boolean().default(false),
  schedule: ScheduleInput.default(DEV_SCHEDULE),
  /** Extra ingestion sources (file:// URIs); the prompt's originatingSpec is always one. */
  sources: z.array(EvidenceUriSchema).max(64).default([]),
  /** Agent tasks per beat (each one agentJobWorkflow child). */
  tasksPerBeat: z.int().min(1).max(8).default(1),
  /** Stop after this many completed beats (0: run until cancelled). */
  maxBeats: z.int().nonnegative().default(0),
  /** Continue-as-new after this many beats in one run (history stays bounded). */
  continueAsNewEveryBeats: z.int().positive().default(25),
});
export type MissionConfigInput = z.input<typeof MissionConfigInput>;
export type MissionConfig = z.output<typeof MissionConfigInput>;

/** The config after the orchestrator key was resolved: what the workflow actually runs under. */
export interface ResolvedMissionConfig extends MissionConfig {
  orchestratorKey: string;
}
