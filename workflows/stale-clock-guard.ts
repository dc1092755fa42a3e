/**
 * Workflow interceptors module every SWOOSH worker loads: refuses an activation whose clock is
 * stale, so the worker evicts the run and replays it from history (docs/chaos.md, "What it
 * found", the stale-clock guard).
 *
 * The SDK's core (`@temporalio/core-bridge` 1.24) can hand a workflow new events at the previous
 * workflow task's clock. A query dispatched directly to a worker that does not cache the run
 * (the server does so when no workflow task is pending) carries the history as of when the worker
 * polls it; events that arrived in between (an activity's completion, with its workflow task
 * still scheduled) are then applied while answering the query, at the start time of the last task
 * in history, and the run is kept in the cache. When the scheduled task reaches that worker, the
 * commands the workflow issued under the old clock are sent, whereas replay gives those events the
 * task's own clock: a window, a deadline or a timestamp in the state differs, and replay fails or
 * ends at another hash.
 *
 * Such an activation is the only live one whose history grew while its clock did not: a new
 * workflow task always starts later than the one before it. Throwing from it fails the query (the
 * caller sees the message and asks again), and the failed activation makes the worker evict the
 * run, so the pending task replays the whole history with the right clock. Replay is left alone.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import type { WorkflowInterceptorsFactory, WorkflowInternalsInterceptor } from '@temporalio/workflow';
import { STALE_CLOCK_MESSAGE } from '../schemas/mission-messages';

export class StaleClockGuard implements WorkflowInternalsInterceptor {
  #historyLength = 0;
  #clockMs = Number.NEGATIVE_INFINITY;

  activate: NonNullable<WorkflowInternalsInterceptor['activate']> = (input, next) => {
    const { activation, batchIndex } = input;
    // Only activations that apply events count; a second batch repeats the first one's clock.
    if (batchIndex === 0 && activation.timestamp != null) {
      const clockMs = tsToMs(activation.timestamp);
      const historyLength = activation.historyLength ?? 0;
      const stale =
        !activation.isReplaying && historyLength > this.#historyLength && clockMs <= this.#clockMs;
      const before = this.#historyLength;
      this.#historyLength = historyLength;
      this.#clockMs = clockMs;
      if (stale) {
        throw new Error(
          `${STALE_CLOCK_MESSAGE}: history grew from ${before} to ${historyLength} events but the clock stayed at ${clockMs}; the run is evicted and replayed`,
        );
      }
    }
    next(input);
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ internals: [new StaleClockGuard()] });
