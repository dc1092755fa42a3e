/** The mission contract: what a person or a system submits to start work. */
import { z } from 'zod';

export const Priority = z.enum(['P0', 'P1', 'P2']);
export type Priority = z.infer<typeof Priority>;

export const MissionPrompt = z.strictObject({
  id: z.uuid(),
  objective: z.string().trim().min(1, 'must not be empty').max(10_000),
  priority: Priority,
  originatingSpec: z.url(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type MissionPrompt = z.infer<typeof MissionPrompt>;

export const MissionIdParam = z.strictObject({ id: z.uuid() });

/** Phases of the top-level statechart as the mission reports them (SPEC §2). */
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

export const MissionView = z.object({
  missionId: z.uuid(),
  workflowId: z.string(),
  phase: MissionPhase,
  prompt: MissionPrompt,
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
