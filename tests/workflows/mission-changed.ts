import { sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { MissionPrompt } from '../../schemas/mission';
import { PhaseKey } from '../../schemas/search-attributes';

/**
 * missionWorkflow with an unversioned change: it starts a timer before entering LICENSE_CHECK.
 * Replaying real histories against it must fail; that proves the replay fixtures bite.
 */
export async function missionWorkflow(_prompt: MissionPrompt): Promise<void> {
  await sleep('1 second');
  upsertSearchAttributes([{ key: PhaseKey, value: 'LICENSE_CHECK' }]);
}
