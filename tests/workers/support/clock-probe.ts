/**
 * A workflow whose every step records the workflow clock it ran at, for the stale-clock test
 * (tests/workers/stale-clock-guard.test.ts): each `tick` runs the `touch` activity and then
 * upserts a memo holding `Date.now()`, which history keeps beside the start time of the workflow
 * task that recorded it. The `clock` query lets the test send queries the server dispatches
 * directly to a worker.
 */
import {
  condition,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  upsertMemo,
} from '@temporalio/workflow';

export interface ClockProbeActivities {
  touch(): Promise<void>;
}

export const tick = defineSignal('tick');
export const clock = defineQuery<number>('clock');

const { touch } = proxyActivities<ClockProbeActivities>({
  startToCloseTimeout: '4s',
  retry: { initialInterval: '100ms' },
});

export async function clockProbe(): Promise<void> {
  let ticks = 0;
  setHandler(tick, () => {
    ticks += 1;
  });
  setHandler(clock, () => Date.now());
  for (;;) {
    await condition(() => ticks > 0);
    ticks -= 1;
    await touch();
    upsertMemo({ clock: Date.now() });
  }
}
