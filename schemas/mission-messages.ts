/**
 * Names and argument types of every signal, query and update SWOOSH workflows expose. The gateway
 * imports this module without pulling in workflow code, so the names live in exactly one place.
 * An argument type states the contract — what the gateway sends after its own parse — so a typed
 * caller that sends something else fails to compile. It guarantees nothing at run time: any
 * Temporal client can send any payload, so the workflow still parses each argument (an update's
 * in its validator, a signal's or query's in its handler).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ControlCommand, MissionView, TransitionOutcome, TransitionRequest } from './mission';
import type { OwnerControlCommand, SignedOwnerCommand } from './owner-controls';
import type { TransitionProposal, Vote } from './proposal';
import type { ProposalBreachReport, ProposalScreening } from './proposal-breach';

export const stateQuery = defineQuery<MissionView>('state');

/**
 * What a query fails with when a worker refused to answer it at a stale workflow clock
 * (workflows/stale-clock-guard.ts); the run is replayed meanwhile, so asking again gets an answer.
 */
export const STALE_CLOCK_MESSAGE = 'stale workflow clock';

/**
 * Proposals (docs/design.md#proposals). The update id is the proposal's idem_key, so Temporal itself deduplicates a
 * retried proposal and returns its first outcome. Rejections fail the update with an
 * ApplicationFailure of type `TransitionRejected` whose details are a TransitionRejection. A sender
 * may name its request (`TransitionRequest`); the outcome carries the first sender's.
 */
export const transitionUpdate = defineUpdate<
  TransitionOutcome,
  [proposal: TransitionProposal, request?: TransitionRequest]
>('transition');

export const voteUpdate = defineUpdate<{ accepted: number; required: number }, [vote: Vote]>('vote');

/**
 * Pause or resume this one mission: a `SignedOwnerCommand` whose `mission_id` is this mission,
 * signed by one of its controllers, applied by the orchestrator with its own key and recorded in
 * the ledger with the verified signer and actor. The unsigned `{ action, reason, actor }` is
 * accepted only by missions started before signed owner commands.
 */
export const controlSignal = defineSignal<[SignedOwnerCommand | ControlCommand]>('control');

/**
 * Owner controls (schemas/owner-controls.ts `OwnerControlCommand`), signed (`SignedOwnerCommand`,
 * `mission_id` null for a batch): pause, resume, reroute future agent work to another task queue,
 * change latency budgets. Fire-and-forget so a gateway can send it in batch over a visibility
 * query; the mission verifies it, applies it to future work only and records it in the decision
 * ledger with signer, actor and reason (query `state` → `controls`). Unsigned commands are
 * accepted only by missions started before signed owner commands.
 */
export const ownerControlSignal = defineSignal<[SignedOwnerCommand | OwnerControlCommand]>('ownerControl');

/**
 * A proposal the gateway's policy scan found secrets in (schemas/proposal-breach.ts). Always
 * refused by its validator, so it never reaches history: `ProposalBreachConfirmed` (details: the
 * ProposalBreachReport) when its signature verifies for a signer of the mission on HEAD.
 */
export const screenProposalUpdate = defineUpdate<never, [screening: ProposalScreening]>('screenProposal');

/**
 * Quarantines the mission for a breach `screenProposal` confirmed on this worker, unchanged and
 * with HEAD unmoved since; anything else is refused by its validator.
 */
export const proposalBreachUpdate = defineUpdate<{ quarantined: boolean }, [report: ProposalBreachReport]>(
  'proposalBreach',
);
