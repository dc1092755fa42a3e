/**
 * The raw-Temporal baseline for `npm run bench:transitions`: an entity workflow with no SWOOSH
 * code, taking the same kind of request a mission takes (an Update) and doing the least a durable
 * transition must do — append a line with fsync in a local activity — or nothing at all. The
 * ratios the bench prints are SWOOSH against this.
 */
import {
  condition,
  defineSignal,
  defineUpdate,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { RawActivities } from './activities';

/** Appends the line through one local activity (write + fsync); answers the entity's count. */
export const appendUpdate = defineUpdate<number, [string]>('append');
/** Does nothing but count: the floor of an Update round trip. */
export const emptyUpdate = defineUpdate<number, []>('empty');
export const stopSignal = defineSignal('stop');

const { appendLine } = proxyLocalActivities<RawActivities>({ startToCloseTimeout: '30s' });

export async function rawEntityWorkflow(): Promise<number> {
  let count = 0;
  let stopped = false;
  setHandler(appendUpdate, async (line) => {
    await appendLine(line);
    return ++count;
  });
  setHandler(emptyUpdate, () => ++count);
  setHandler(stopSignal, () => {
    stopped = true;
  });
  await condition(() => stopped);
  return count;
}
