/**
 * A mission continued from a snapshot that breaks a state invariant: its council set hash names
 * members it does not have. Continue-as-new input is parsed and its hash checked, but the
 * invariants are only checked after a transition, so the mission's first transition is where it
 * is found. This is how a snapshot written by a buggy older worker would look; the invariant
 * test and the recorded fixture both start missions this way, through the ordinary start input.
 */
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { missionWorkflowId } from '../../schemas/mission';
import type { MissionSnapshot } from '../../workflows/mission/engine';
import { EMPTY_IDEMPOTENCY, initialState, memberSetHash, stateHash } from '../../workflows/statechart';
import { FAST_SCHEDULE, newSigner, prompt } from '../lifecycle/support/missions';

export function brokenSnapshot(missionId: string): MissionSnapshot {
  const fresh = initialState(missionId);
  const state = {
    ...fresh,
    council: { ...fresh.council, council_set_hash: memberSetHash([{ id: 'ghost', key: newSigner().key }]) },
  };
  return {
    state,
    hash: stateHash(state),
    idempotency: EMPTY_IDEMPOTENCY,
    io: {},
    sources: [],
    votes: [],
    beatsCompleted: 0,
  };
}

export function startFromBrokenSnapshot(
  client: Client,
  taskQueue: string,
  missionId: string,
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(missionId),
    taskQueue,
    args: [
      prompt(missionId, { objective: 'Recorded fixture: a snapshot that breaks an invariant' }),
      {
        config: { autoApprove: true, maxBeats: 1, schedule: FAST_SCHEDULE },
        snapshot: brokenSnapshot(missionId),
      },
    ],
  });
}
