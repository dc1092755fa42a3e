/**
 * The example reviewer agent (docs/agents.md#the-example-agents): checks the artifact in its
 * inputs (or, without one, the mission's objective) against its rules and the deployment's SHHH
 * policy, and writes the ValidationReport to `<SWOOSH_WORKDIR>/report.json` and stdout. A failing
 * review is still a finished run (exit 0): the report's `result` says what it found.
 */
import { loadPolicyFile } from '../activities/policy';
import { ReviewerInputs } from '../schemas/example-agents';
import { defaultPolicyFile } from '../host/data-dir';
import { readInputs, runAgent, writeResult } from './agent-io';
import { reviewArtifact } from './review-artifact';

runAgent('reviewer', async () => {
  const inputs = readInputs(ReviewerInputs);
  const mission = process.env.SWOOSH_MISSION_ID ?? 'unknown';
  const report = reviewArtifact({
    missionId: mission,
    reviewer: process.env.SWOOSH_JOB_NAME ?? 'reviewer',
    artifact: inputs.artifact ?? { uri: `swoosh://${mission}/objective`, text: inputs.objective ?? '' },
    rules: inputs.rules,
    policy: await loadPolicyFile(defaultPolicyFile),
    now: new Date(),
  });
  await writeResult('report.json', report);
});
