/**
 * The environment contract every agent runs under, whichever backend runs it. An agent reads
 * its inputs and identity from these variables only, so the same command behaves the same as a
 * Kubernetes Job and as a local process.
 */
import type { AgentJobSpec } from '../../schemas/agent-job';

export interface AgentDirs {
  /** A writable scratch folder for the run; also HOME. */
  workdir: string;
  tmpdir: string;
}

/**
 * The variables an agent sees: the spec's own `env`, the values its `envFrom` references
 * resolved to (`resolved`, read by ./env.ts), then the contract, which wins (the schema already
 * refuses `SWOOSH_*` names in `env` and `envFrom`, so only HOME and TMPDIR can be overridden away).
 *
 * - `SWOOSH_JOB_NAME`, `SWOOSH_MISSION_ID`, `SWOOSH_REGION`, `SWOOSH_WINDOW_ID`,
 *   `SWOOSH_AGENT_ID`, `SWOOSH_AGENT_ROLE`: who the agent is and what it works for;
 * - `SWOOSH_INPUTS`: the spec's inputs as JSON;
 * - `SWOOSH_ACTIVE_DEADLINE_SECONDS`: how long it has before it is stopped;
 * - `SWOOSH_WORKDIR`, `HOME`, `TMPDIR`: where it may write.
 */
export function agentEnvironment(
  spec: AgentJobSpec,
  jobName: string,
  dirs: AgentDirs,
  resolved: Record<string, string> = {},
): Record<string, string> {
  return {
    ...spec.env,
    ...resolved,
    SWOOSH_JOB_NAME: jobName,
    SWOOSH_MISSION_ID: spec.mission,
    SWOOSH_REGION: spec.region,
    SWOOSH_WINDOW_ID: spec.windowId,
    SWOOSH_AGENT_ID: spec.agentId,
    SWOOSH_AGENT_ROLE: spec.capabilityProfile.role,
    SWOOSH_INPUTS: JSON.stringify(spec.inputs),
    SWOOSH_ACTIVE_DEADLINE_SECONDS: String(spec.timeouts.activeDeadlineSeconds),
    SWOOSH_WORKDIR: dirs.workdir,
    HOME: dirs.workdir,
    TMPDIR: dirs.tmpdir,
  };
}
