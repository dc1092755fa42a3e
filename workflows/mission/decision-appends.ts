/**
 * The decision ledger's append queue (docs/lifecycle.md#the-ledger-append). Under
 * DEFERRED_APPEND_PATCH a transition is acknowledged once the workflow task that accepted it
 * completes: that task schedules the append of its decision, or the decision waits here behind an
 * append already running (or, under COALESCED_APPEND_PATCH, gathering) and goes with the next one.
 * History, not the ledger's fsync, makes an accepted decision durable; the ledger receives every
 * decision history holds, in history's order, one batch at a time, and never one that history
 * lacks.
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

/**
 * The patch that gathers decisions before an append: the first decision queued while no append
 * runs waits up to COALESCE_MS for those that follow it, so a busy mission spends one activity and
 * one workflow task per batch rather than per decision (docs/lifecycle.md#the-ledger-append). A
 * busy mission's queue is then seldom empty, so a continue-as-new that finds no moment without
 * appends within SEAL_WAIT_MS drains it inside the mutex (`MissionEngine.seal`).
 */
export const COALESCED_APPEND_PATCH = 'swoosh-coalesced-ledger-append-v1';

/**
 * The patch that spaces the appends after the first: under COALESCED_APPEND_PATCH alone, a mission
 * taking decisions faster than an append's round trip found some queued whenever an append
 * completed and appended them at once, an activity and a workflow task every few decisions. Now
 * what queued while an append ran goes at least COALESCE_MS after that append began (unless the
 * batch is full or the appends are hurried). The first batch after a quiet spell still gathers for
 * COALESCE_MS, as before.
 */
export const SPACED_APPENDS_PATCH = 'swoosh-spaced-ledger-appends-v1';

/** Which appends wait to gather decisions: the patches above, as the run decided them at start. */
export type Gathering = 'none' | 'first-batch' | 'spaced';

/** How long the ledger may trail an answered transition before its append starts. */
export const COALESCE_MS = 1000;

/**
 * How long after its second a spaced append waits for a transition to send it before its timer
 * does: a busy mission's next transition comes sooner and cancels the timer, so the wait costs no
 * workflow task of its own; a timer due at the second itself would fire first nearly every time.
 */
export const SPACING_GRACE_MS = 500;

/**
 * How long a continue-as-new waits for a moment with no append queued before its seal drains the
 * queue inside the mutex, refusing proposals for that append's round trip.
 */
export const SEAL_WAIT_MS = 2000;

/** Decisions per append activity: keeps one batch's payload far below Temporal's limits. */
export const BATCH = 50;

export class DecisionAppends {
  readonly #pending: DecisionDraft[] = [];
  #running = false;
  #hurried = false;
  readonly #gathering: Gathering;
  /** Workflow time when the last append was scheduled (spaced appends). */
  #lastSentAt = Number.NEGATIVE_INFINITY;
  /**
   * A decision was queued at least COALESCE_MS after the last append was scheduled. Decided where
   * the clock is read, in the task that queued it, so that the condition waiting on it reads no
   * clock (a version whose condition read it did not replay; docs/lifecycle.md#the-ledger-append).
   */
  #due = false;

  constructor(gathering: Gathering) {
    this.#gathering = gathering;
  }

  /** No decision waits and no append runs: what history holds is all in the ledger. */
  get idle(): boolean {
    return !this.#running && this.#pending.length === 0;
  }

  /** Queues a decision behind those accepted before it, for the append running or the next one. */
  push(draft: DecisionDraft): void {
    this.#pending.push(draft);
    if (this.#gathering === 'spaced' && Date.now() - this.#lastSentAt >= COALESCE_MS) this.#due = true;
    if (!this.#running) void this.#drain();
  }

  /** From now on in this run, appends what is queued without waiting to gather more. */
  hurry(): void {
    this.#hurried = true;
  }

  /**
   * Resolves once every queued decision is in the ledger (before the run ends or continues as new),
   * hurried.
   */
  async drained(): Promise<void> {
    this.hurry();
    if (!this.idle) await condition(() => this.idle);
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      if (this.#gathering !== 'none' && !this.#hurried)
        await condition(() => this.#hurried || this.#pending.length >= BATCH, COALESCE_MS);
      for (let first = true; this.#pending.length > 0; first = false) {
        // What queued while an append ran waits out the second since that append began.
        if (!first && this.#gathering === 'spaced') await this.#spaced();
        const batch = this.#pending.slice(0, BATCH);
        this.#lastSentAt = Date.now();
        this.#due = false;
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

  /**
   * Waits until COALESCE_MS have passed since the last append was scheduled, the batch is full or
   * the appends are hurried. In a busy mission the transition whose task finds the second up ends
   * the wait (and cancels the timer) itself; the timer, SPACING_GRACE_MS later, covers a mission
   * that went quiet.
   */
  async #spaced(): Promise<void> {
    const ready = () => this.#hurried || this.#due || this.#pending.length >= BATCH;
    const wait = this.#lastSentAt + COALESCE_MS - Date.now();
    if (wait > 0 && !ready()) await condition(ready, wait + SPACING_GRACE_MS);
  }
}

function summaryOf(batch: readonly DecisionDraft[]): string {
  const first = batch[0]!;
  if (batch.length === 1) return `record ${first.transition} #${first.seq}`;
  return `record ${batch.length} decisions, ${first.transition} #${first.seq} to #${batch.at(-1)!.seq}`;
}
