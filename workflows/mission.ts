import { condition, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MissionPhase, MissionPrompt, MissionView } from '../schemas/mission';
import { PhaseKey } from '../schemas/search-attributes';
import { stateQuery } from './definitions';

/**
 * The mission entity workflow (id `mission-<id>`). It enters BOOT and waits at LICENSE_CHECK;
 * the licence gate and the lifecycle regions build on this.
 */
export async function missionWorkflow(prompt: MissionPrompt): Promise<void> {
  const view: MissionView = {
    missionId: prompt.id,
    workflowId: workflowInfo().workflowId,
    phase: 'UNINITIALIZED',
    prompt,
  };
  setHandler(stateQuery, () => view);

  const enter = (phase: MissionPhase): void => {
    view.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
  };

  enter('LICENSE_CHECK');
  await condition(() => view.phase === 'TERMINATED');
}
