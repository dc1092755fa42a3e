/**
 * A mission whose beats run a declared agent that is not the default echo (docs/agents.md): the
 * `greeter`, declared in the mission's own catalogue. Shared by the dev-server test and the
 * recorded history `mission-statechart-declared-agents`.
 */
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { AgentDeclarationInput, AgentEnvValue } from '../../../schemas/agent-catalogue';
import { missionWorkflowId } from '../../../schemas/mission';
import type { MissionConfigInput } from '../../../schemas/mission-config';
import { FAST_SCHEDULE } from '../../lifecycle/support/missions';

/** What the greeter prints: its greeting, role and task, and only the length of its token. */
const GREETER_SCRIPT = [
  "const inputs = JSON.parse(process.env.SWOOSH_INPUTS || '{}');",
  'const token = process.env.GREETER_TOKEN;',
  "console.log(`greeter says ${process.env.GREETING} as ${process.env.SWOOSH_AGENT_ROLE} to ${inputs.task}${token ? ` with a token of ${token.length} characters` : ''}`);",
].join('\n');

export function greeter(extraEnv: Record<string, AgentEnvValue> = {}): AgentDeclarationInput {
  return {
    description: 'Greets its task: a declared agent that is not the default echo.',
    image: 'registry.example.org/swoosh/greeter:1',
    command: ['node'],
    args: ['-e', GREETER_SCRIPT],
    env: { GREETING: 'hello from the catalogue', ...extraEnv },
    resources: { limits: { cpu: '250m', memory: '128Mi' } },
    capabilityProfile: { role: 'greeter', capabilities: ['greet'] },
    energyBudget: { wallClockSeconds: 60 },
    timeouts: { activeDeadlineSeconds: 120, heartbeatSeconds: 10 },
  };
}

/**
 * An agent that prints an AWS-key-like string, assembled at run time so that its declaration (in
 * the mission's input) never holds it: its output breaches the default policy (SHHH-SECRET-CONTENT).
 */
export const LEAKED_KEY = ['AKIA', 'QX7P', 'EXAMPLE0', 'KEY1'].join('');
export function leaker(): AgentDeclarationInput {
  return {
    ...greeter(),
    description: 'Prints an AWS-key-like string: an agent that leaks a credential.',
    args: ['-e', "console.log('deploying with ' + ['AKIA', 'QX7P', 'EXAMPLE0', 'KEY1'].join(''))"],
  };
}

/** One beat (auto-approved, 4-second bar) whose task runs the leaker. */
export const leakerConfig = (): MissionConfigInput => ({
  autoApprove: true,
  maxBeats: 1,
  schedule: FAST_SCHEDULE,
  agents: { catalogue: { agents: { leaker: leaker() } }, beat: 'leaker' },
});

/** One beat, orchestrator alone, auto-approved, on a 4-second bar; every task runs the greeter. */
export function declaredAgentConfig(extraEnv: Record<string, AgentEnvValue> = {}): MissionConfigInput {
  return {
    autoApprove: true,
    maxBeats: 1,
    schedule: FAST_SCHEDULE,
    agents: { catalogue: { agents: { greeter: greeter(extraEnv) } }, beat: 'greeter' },
  };
}

export function startDeclaredAgentMission(
  client: Client,
  taskQueue: string,
  missionId: string,
  config: MissionConfigInput = declaredAgentConfig(),
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(missionId),
    taskQueue,
    args: [
      {
        id: missionId,
        objective: 'Greet every task with the declared agent',
        priority: 'P1',
        originatingSpec: 'https://specs.example.org/declared-agents',
        createdAt: '2026-12-02T09:00:00.000Z',
      },
      { config },
    ],
  });
}
