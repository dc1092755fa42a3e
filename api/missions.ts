/** Mission operations on Temporal, kept apart from HTTP so the CLI and tests can reuse them. */
import { isDeepStrictEqual } from 'node:util';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import {
  missionWorkflowId,
  type MissionPrompt,
  type MissionStarted,
  type MissionView,
} from '../schemas/mission';
import type { MissionConfigInput } from '../schemas/mission-config';
import { MissionIdKey, PhaseKey, PriorityKey } from '../schemas/search-attributes';
import { stateQuery } from '../workflows/definitions';

export class MissionConflictError extends Error {}
export class MissionNotFoundError extends Error {}

/**
 * Starts `missionWorkflow` for a prompt, exactly once per mission id: a repeat with the same
 * prompt returns the existing run, a repeat with a different prompt is a conflict. The prompt
 * is kept in the memo so the comparison needs no worker.
 */
export async function startMission(
  client: Client,
  taskQueue: string,
  prompt: MissionPrompt,
  config?: MissionConfigInput,
): Promise<MissionStarted> {
  const workflowId = missionWorkflowId(prompt.id);
  try {
    const handle = await client.workflow.start('missionWorkflow', {
      workflowId,
      taskQueue,
      args: [prompt, config === undefined ? {} : { config }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: MissionIdKey, value: prompt.id },
        { key: PhaseKey, value: 'UNINITIALIZED' },
        { key: PriorityKey, value: prompt.priority },
      ],
      memo: { prompt },
      staticSummary: `${prompt.priority} mission: ${prompt.objective.slice(0, 120)}`,
      staticDetails: `Objective: ${prompt.objective}\n\nSpec: ${prompt.originatingSpec}\n\nCreated: ${prompt.createdAt}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId, created: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const existing = await client.workflow.getHandle(workflowId).describe();
    if (!isDeepStrictEqual(existing.memo?.prompt, prompt)) {
      throw new MissionConflictError(`mission ${prompt.id} already exists with a different prompt`);
    }
    return { workflowId, runId: existing.runId, created: false };
  }
}

/** The mission's current state, read from the workflow itself through the state query. */
export async function readMission(client: Client, missionId: string): Promise<MissionView> {
  try {
    return await client.workflow.getHandle(missionWorkflowId(missionId)).query(stateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new MissionNotFoundError(`mission ${missionId} not found`);
    throw err;
  }
}
