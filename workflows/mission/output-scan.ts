/**
 * Agent outputs under the SHHH policy (docs/design.md#guards): `storeArtifact` screens every
 * output with the policy's secret rules and reports what matched (rule, pattern, line; the run
 * already withheld the text itself). A breach quarantines the mission, naming the task and rules,
 * as an ingestion breach does.
 */
import { patched } from '@temporalio/workflow';
import type { SecretFinding } from '../../schemas/policy';
import type { MissionEngine } from './engine';

/**
 * The patch that quarantines a mission whose agent output breaches the policy; histories from
 * before it never carry breaches, and they replay as they were recorded.
 */
export const OUTPUT_SCAN_PATCH = 'swoosh-output-scan-v1';

/** Policy_Quarantine naming `task` and the rules its output breached; once, however many tasks breach. */
export async function quarantineOnBreach(
  m: MissionEngine,
  task: string,
  breaches: readonly SecretFinding[] | undefined,
): Promise<void> {
  if (breaches === undefined || breaches.length === 0 || !patched(OUTPUT_SCAN_PATCH)) return;
  const found = breaches.map((b) => `${b.ruleId} (${b.pattern} at ${b.at})`);
  const rationale = `the output of task ${task} breaches the policy: ${found.join('; ')}`.slice(0, 1024);
  const named = [...new Set(breaches.map((b) => `${b.ruleId} in task ${task}`))].slice(0, 64);
  await m.exclusive(async () => {
    if (m.state.policy.phase !== 'CLEAR' || m.terminated) return;
    await m.takeLocked(
      'Policy_Quarantine',
      { rationale, breaches: named },
      { io: { policy: { breach: true, breaches: named, rationale } } },
    );
  });
}
