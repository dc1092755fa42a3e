/**
 * Names of every signal, query and update SWOOSH workflows expose. The gateway imports this
 * module without pulling in workflow code, so the names live in exactly one place.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ControlCommand, MissionView, TransitionOutcome } from './mission';
import type { OwnerControlCommand } from './owner-controls';

export const stateQuery = defineQuery<MissionView>('state');

/**
 * SPEC §3 proposals. The update id is the proposal's idem_key, so Temporal itself deduplicates a
 * retried proposal and returns its first outcome. Rejections fail the update with an
 * ApplicationFailure of type `TransitionRejected` whose details are a TransitionRejection.
 */
export const transitionUpdate = defineUpdate<TransitionOutcome, [proposal: unknown]>('transition');

/**
 * The first outcome of a proposal that repeats an applied one, or null (never changes anything):
 * the gateway asks before the `transition` update so a retry is answered `duplicate: true`.
 */
export const proposalRepeatQuery = defineQuery<TransitionOutcome | null, [proposal: unknown]>(
  'proposalRepeat',
);

/** A signed council vote `{ member, council_set_hash, signature }`; refused unless it verifies. */
export const voteUpdate = defineUpdate<{ accepted: number; required: number }, [vote: unknown]>('vote');

/**
 * Owner control: pause or resume `{ action, reason, actor }`, applied by the orchestrator with its
 * own key (fire-and-forget) and recorded in the ledger with the actor.
 */
export const controlSignal = defineSignal<[ControlCommand]>('control');

/**
 * Owner controls (schemas/owner-controls.ts `OwnerControlCommand`): pause, resume, reroute future
 * agent work to another task queue, change latency budgets. Fire-and-forget so a gateway can send
 * it in batch over a visibility query; the mission parses it, applies it to future work only and
 * records it in the decision ledger with actor and reason (query `state` → `controls`).
 */
export const ownerControlSignal = defineSignal<[OwnerControlCommand]>('ownerControl');
