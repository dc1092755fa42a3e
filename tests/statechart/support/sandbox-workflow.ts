/**
 * A minimal workflow module that imports the statechart core, for the test that runs Temporal's
 * own workflow bundler over it: whatever the bundler refuses here, it would refuse in the worker.
 */
import { initialState, stateHash } from '../../../workflows/statechart';
import { DEFINITION_HASH } from '../../../schemas/statechart';

export async function statechartProbe(missionId: string): Promise<{ schemaHash: string; hash: string }> {
  return Promise.resolve({ schemaHash: DEFINITION_HASH, hash: stateHash(initialState(missionId)) });
}
