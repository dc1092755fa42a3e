/**
 * Workflows the timer tests and the benchmark need besides the shard: a target that receives
 * a timer's signal or update (as a mission receives an approval deadline), and the baseline the
 * benchmark compares shards with, one plain workflow sleep per timer.
 */
import { condition, defineQuery, defineSignal, defineUpdate, setHandler, sleep } from '@temporalio/workflow';

export const approvalDeadlineSignal = defineSignal<[string]>('approvalDeadline');
export const expireApprovalUpdate = defineUpdate<string, [string]>('expireApproval');
export const receivedQuery = defineQuery<string[]>('received');

/** Records every deadline it is told about; an update carrying `refuse` is rejected. */
export async function approvalTargetWorkflow(): Promise<void> {
  const received: string[] = [];
  setHandler(approvalDeadlineSignal, (reason) => {
    received.push(`signal:${reason}`);
  });
  setHandler(
    expireApprovalUpdate,
    (reason) => {
      received.push(`update:${reason}`);
      return 'expired';
    },
    {
      validator: (reason) => {
        if (reason === 'refuse') throw new Error('this approval cannot expire');
      },
    },
  );
  setHandler(receivedQuery, () => received);
  // Lives until the test terminates it, like a mission waiting for approvals.
  await condition(() => false);
}

/** The benchmark baseline: one workflow, one durable sleep, woken at `dueAt` (epoch ms). */
export async function sleepUntilWorkflow(dueAt: number): Promise<{ dueAt: number; firedAt: number }> {
  await sleep(Math.max(1, dueAt - Date.now()));
  return { dueAt, firedAt: Date.now() };
}
