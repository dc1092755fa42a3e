import { sleep } from '@temporalio/workflow';

/** Sleeps a day of workflow time; proves the time-skipping server skips it. */
export async function sleeperWorkflow(): Promise<string> {
  await sleep('24 hours');
  return 'woke';
}
