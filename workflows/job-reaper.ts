import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { SwooshActivities } from '../activities';
import type { ReapFinishedJobsInput, ReapFinishedJobsResult } from '../schemas/agent-job';

const { reapFinishedJobs } = proxyActivities<SwooshActivities>({
  // One pass over every run; each deletion may wait out a grace period, hence minutes.
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', maximumInterval: '1m', maximumAttempts: 5 },
});

/**
 * The reaper, started by the `swoosh-job-reaper` Schedule (workers/job-reaper-schedule.ts):
 * deletes finished agent runs older than `olderThanSeconds` after exporting their telemetry, so
 * neither a crashed worker nor a workflow that was terminated leaves runs behind. Runs still
 * going are left alone; their deadline ends them and a later pass reaps them.
 */
export async function jobReaperWorkflow(input: ReapFinishedJobsInput): Promise<ReapFinishedJobsResult> {
  if (!Number.isInteger(input.olderThanSeconds) || input.olderThanSeconds < 0) {
    throw ApplicationFailure.create({
      type: 'InvalidReaperInput',
      message: `olderThanSeconds must be a non-negative integer, got ${input.olderThanSeconds}`,
      nonRetryable: true,
    });
  }
  return reapFinishedJobs(input);
}
