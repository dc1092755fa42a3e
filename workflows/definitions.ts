/**
 * Names of every signal, query and update SWOOSH workflows expose. The gateway imports this
 * module without pulling in workflow code, so the names live in exactly one place.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ControlCommand, MissionView, TransitionOutcome } from '../schemas/mission';

export const stateQuery = defineQuery<MissionView>('state');

/**
 * SPEC §3 proposals. The update id is the proposal's idem_key, so Temporal itself deduplicates a
 * retried proposal and returns its first outcome. Rejections fail the update with an
 * ApplicationFailure of type `TransitionRejected` whose details are a TransitionRejection.
 */
export const transitionUpdate = defineUpdate<TransitionOutcome, [proposal: unknown]>('transition');

/** A signed council vote `{ member, council_set_hash, signature }`; refused unless it verifies. */
export const voteUpdate = defineUpdate<{ accepted: number; required: number }, [vote: unknown]>('vote');

/** Owner control: pause or resume, applied by the orchestrator with its own key (fire-and-forget). */
export const controlSignal = defineSignal<[ControlCommand]>('control');
