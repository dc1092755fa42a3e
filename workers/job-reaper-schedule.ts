/**
 * The Temporal Schedule that runs `jobReaperWorkflow`. `ensureJobReaperSchedule` is idempotent:
 * the first call creates the Schedule, later calls (every worker start) bring its interval,
 * age and task queue up to date, so configuration changes take effect without manual steps.
 */
import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleHandle,
  ScheduleOverlapPolicy,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { jobReaperWorkflow } from '../workflows/job-reaper';

export const JOB_REAPER_SCHEDULE_ID = 'swoosh-job-reaper';

export interface JobReaperScheduleOptions {
  taskQueue: string;
  /** Default `swoosh-job-reaper`; tests use their own. */
  scheduleId?: string;
  /**
   * How often the reaper runs: milliseconds or an ms-style string such as `10m` (the default).
   * Typed as string here: the SDK's Duration refers to `ms` types that its package map hides.
   */
  every?: string | number;
  /** Finished runs older than this are reaped (default 1 hour). */
  olderThanSeconds?: number;
}

export async function ensureJobReaperSchedule(
  client: Client,
  options: JobReaperScheduleOptions,
): Promise<ScheduleHandle> {
  const scheduleId = options.scheduleId ?? JOB_REAPER_SCHEDULE_ID;
  const spec: ScheduleSpec = { intervals: [{ every: options.every ?? '10m' }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof jobReaperWorkflow> = {
    type: 'startWorkflow',
    workflowType: jobReaperWorkflow,
    args: [{ olderThanSeconds: options.olderThanSeconds ?? 3600 }],
    taskQueue: options.taskQueue,
    // The Schedule appends the start time, so each pass is its own workflow named after the reaper.
    workflowId: scheduleId,
    workflowExecutionTimeout: '30m',
  };
  // One pass at a time; a pass missed while Temporal was down is not worth running late.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' };
  try {
    return await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies,
      state: { note: 'Deletes finished SWOOSH agent runs after exporting their telemetry.' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(scheduleId);
    await handle.update((previous) => ({ ...previous, spec, action, policies }));
    return handle;
  }
}
