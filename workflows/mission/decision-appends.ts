/**
 * The decision ledger's append queue (docs/lifecycle.md#the-ledger-append). Under
 * DEFERRED_APPEND_PATCH a transition is acknowledged once the workflow task that accepted it
 * completes: that task schedules the append of its decision, or the decision waits here behind an
 * append already running and goes with the next one. History, not the ledger's fsync, makes an
 * accepted decision durable; the ledger receives every decision history holds, in history's
 * order, one batch at a time, and never one that history lacks.
 */
import { condition, log } from '@temporalio/workflow';
import type { DecisionDraft } from '../../schemas/decision-record';
import { ledger } from './activities';

/**
 * The patch that took the ledger append off the transition's path: before it, a transition's
 * Update answered only after its decision's append activity had completed, which cost a second
 * workflow task per transition.
 */
export const DEFERRED_APPEND_PATCH = 'swoosh-deferred-ledger-append-v1';

/** Decisions per append activity: keeps one batch's payload far below Temporal's limits. */
const BATCH = 50;

export class DecisionAppends {
  readonly #pending: DecisionDraft[] = [];
  #running = false;

  /** No decision waits and no append runs: what history holds is all in the ledger. */
  get idle(): boolean {
    return !this.#running && this.#pending.length === 0;
  }

  /** Queues a decision behind those accepted before it; the append starts in this workflow task. */
  push(draft: DecisionDraft): void {
    this.#pending.push(draft);
    if (!this.#running) void this.#drain();
  }

  /** Resolves once every queued decision is in the ledger (before the run ends or continues as new). */
  async drained(): Promise<void> {
    if (!this.idle) await condition(() => this.idle);
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, BATCH);
        await ledger(summaryOf(batch)).recordDecisions(batch);
        this.#pending.splice(0, batch.length);
      }
    } catch (error) {
      // Only a refusal retrying cannot fix ends here (the append is retried until it lands). The
      // batch stays queued and nothing after it is appended: a gap in the chain would hide it. The
      // failed workflow task keeps the mission where /health lists it.
      log.error('the decision ledger refused an append for good', { error: String(error) });
      throw new Error(`decision ledger append refused: ${String(error)}`);
    } finally {
      this.#running = false;
    }
  }
}

function summaryOf(batch: readonly DecisionDraft[]): string {
  const first = batch[0]!;
  if (batch.length === 1) return `record ${first.transition} #${first.seq}`;
  return `record ${batch.length} decisions, ${first.transition} #${first.seq} to #${batch.at(-1)!.seq}`;
}
