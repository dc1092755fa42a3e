/**
 * Continue-as-new on history, beats or not (docs/lifecycle.md#history-driven-continue-as-new). A
 * mission that takes many outside transitions but completes no beat would otherwise never continue
 * as new; its history grows until a worker that has to replay it (after a crash, or to take it
 * over) cannot within the workflow task timeout, and the mission stalls.
 */
import { condition, patched, workflowInfo } from '@temporalio/workflow';
import * as z from 'zod';
import type { MissionEngine } from './engine';

/** The patch that lets a long history continue the mission as new at its next safe point. */
export const HISTORY_CONTINUE_AS_NEW_PATCH = 'swoosh-history-continue-as-new-v1';

/**
 * When a run's history counts as long: at Temporal's own suggestion, or at `maxEvents` events or
 * `maxBytes` bytes, whichever comes first. The defaults keep a replay of one run well inside the
 * workflow task timeout on a loaded worker: chaos runs on a busy 2-core machine saw missions of
 * 700–1,900 events that a worker could no longer replay in 10 s (docs/chaos.md#what-it-found).
 */
export const HistoryLimits = z.strictObject({
  maxEvents: z.int().min(100).max(50_000).default(400),
  maxBytes: z
    .int()
    .min(64 * 1024)
    .max(50 * 1024 * 1024)
    .default(4 * 1024 * 1024),
});
export type HistoryLimits = z.infer<typeof HistoryLimits>;

/** How much further a history recorded before the patch grows before it is looked at again. */
const RECHECK_EVENTS = 100;

function historyIsLong(limits: HistoryLimits): boolean {
  const info = workflowInfo();
  return (
    info.continueAsNewSuggested ||
    info.historyLength >= limits.maxEvents ||
    info.historySize >= limits.maxBytes
  );
}

/**
 * Resolves once the run's history is long and no agent of the mission is running, so the caller
 * can continue as new. On a history recorded before the patch it never resolves there: it looks
 * again each time that history has grown by RECHECK_EVENTS, so a mission replayed from before the
 * patch continues as new once it runs live on a worker that has it.
 */
export async function historyGrewLong(m: MissionEngine, limits: HistoryLimits): Promise<'history'> {
  for (;;) {
    await condition(() => historyIsLong(limits) && m.quiet());
    if (patched(HISTORY_CONTINUE_AS_NEW_PATCH)) return 'history';
    const seen = workflowInfo().historyLength;
    await condition(() => workflowInfo().historyLength >= seen + RECHECK_EVENTS);
  }
}
