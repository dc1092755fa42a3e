/** The job spec of a declared agent (docs/agents.md), for a beat's task or a plan's. */
import { ApplicationFailure } from '@temporalio/workflow';
import type { AgentJobSpecInput } from '../../schemas/agent-job';
import { beatAgent, splitEnv } from '../../schemas/agent-catalogue';
import type { MissionEngine } from './engine';

/** What a task adds to its agent's declaration: who it is in the mission and what it is given. */
export type TaskPart = Pick<AgentJobSpecInput, 'mission' | 'region' | 'windowId' | 'agentId' | 'inputs'> &
  Partial<Pick<AgentJobSpecInput, 'attachments'>>;

/**
 * `agentId`'s declaration in the mission's catalogue, run as `task`. `agentDeadline` is the owner's
 * `agent` latency budget in force now: it caps the declaration's own deadline.
 */
export function declaredAgentSpec(
  m: MissionEngine,
  agentId: string | undefined,
  task: TaskPart,
  agentDeadline: number,
): { spec: AgentJobSpecInput; agent: string } {
  const agent = beatAgent({ ...m.config.agents, ...(agentId !== undefined && { beat: agentId }) });
  // The config check (missionConfigProblems) refused an undeclared agent before the mission started.
  if (agent === undefined)
    throw ApplicationFailure.nonRetryable(`no agent ${agentId ?? m.config.agents?.beat} is declared`);
  const { declaration: d } = agent;
  const { activeDeadlineSeconds, ...timeouts } = d.timeouts;
  return {
    agent: agent.id,
    spec: {
      ...task,
      capabilityProfile: d.capabilityProfile,
      energyBudget: d.energyBudget,
      image: d.image,
      command: d.command,
      args: d.args,
      // References only: their values are read where the run is spawned (activities/jobs/env.ts).
      ...splitEnv(d.env),
      ...(d.resources && { resources: d.resources }),
      timeouts: {
        ...timeouts,
        activeDeadlineSeconds: Math.min(activeDeadlineSeconds ?? agentDeadline, agentDeadline),
      },
    },
  };
}
