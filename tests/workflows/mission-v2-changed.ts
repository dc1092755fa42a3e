import { sleep } from '@temporalio/workflow';
import type { MissionPrompt } from '../../schemas/mission';
import { missionWorkflow as current, type MissionStart } from '../../workflows/mission/workflow';

export { agentJobWorkflow } from '../../workflows/agent-job';

/**
 * The statechart mission with an unversioned change: a timer before anything else. Replaying the
 * recorded statechart histories against it must fail, proving those fixtures bite too.
 */
export async function missionWorkflow(
  prompt: MissionPrompt,
  start?: MissionStart,
): ReturnType<typeof current> {
  await sleep('1 second');
  return current(prompt, start);
}
