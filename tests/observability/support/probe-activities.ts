/** The probe workflow's activity: stands in for an agent Job and records its metrics. */
import { recordAgentJob } from '../../../activities/telemetry';
import type { AgentOutcome } from '../../../schemas/decision-record';

export function createProbeActivities() {
  return {
    runProbeJob(job: { outcome: AgentOutcome; durationMs: number }): Promise<void> {
      recordAgentJob(job.outcome, job.durationMs);
      return Promise.resolve();
    },
  };
}
