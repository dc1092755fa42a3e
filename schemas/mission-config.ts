/**
 * What a mission is started with beside its prompt (docs/design.md#proposals, docs/design.md#guards): who may propose which
 * transitions, the council to elect, the BACKBEAT schedule and the quorum/approval thresholds.
 * Everything here is configuration the protocol needs to give the same answer on replay, so it
 * travels in the workflow's input (and across continue-as-new), never read from the environment
 * inside a workflow. The orchestrator's own PUBLIC key is resolved once by an activity and pinned
 * here; its secret key never enters a workflow.
 *
 * What the gateway accepts, the workflow runs: `RunnableMissionConfig` adds the checks a mission
 * needs to be able to run at all (a schedule that defines windows, a reachable quorum and approval
 * count, known signer classes, no key listed twice, a beat agent the catalogue declares), from `missionConfigProblems`, which the
 * workflow runs too before it does anything else, so a config is refused at the door with a 400
 * naming the field rather than failing the mission later.
 */
import { z } from 'zod';
import { beatAgent, missionCatalogue, MissionAgentsInput } from './agent-catalogue';
import { MissionPlan } from './mission-plan';
import { EvidenceUriSchema, SignerKeySchema } from './proposal';
import { TRANSITION_CLASSES } from './transition-classes';

export const SignerEntryInput = z.strictObject({
  key: SignerKeySchema,
  classes: z.array(z.string().min(1)).min(1),
  label: z.string().min(1).max(128).optional(),
});
export type SignerEntryInput = z.infer<typeof SignerEntryInput>;

export const ScheduleInput = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
  tempoBpm: z.number().positive(),
  barBeats: z.int().positive(),
  phases: z.strictObject({
    PLAN: z.number().positive(),
    WORK: z.number().positive(),
    REVIEW: z.number().positive(),
    REVERB: z.number().positive(),
  }),
  amplitude: z.number().min(0).max(1),
  backoffBaseMs: z.int().positive(),
  backoffMaxMs: z.int().positive(),
});
export type ScheduleInput = z.infer<typeof ScheduleInput>;

/** Development default: 4-minute bars (PLAN 48 s, WORK 2 min, REVIEW 48 s, REVERB 24 s). */
export const DEV_SCHEDULE: ScheduleInput = {
  name: 'backbeat',
  tempoBpm: 30,
  barBeats: 120,
  phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
  amplitude: 0.25,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
};

export const CouncilMemberInput = z.strictObject({ id: z.string().min(1).max(128), key: SignerKeySchema });

export const MissionConfigInput = z.strictObject({
  /** Signers besides the orchestrator (which is always registered with every class). */
  signers: z.array(SignerEntryInput).max(64).default([]),
  /** The council to elect. Empty: the orchestrator alone, voting through an activity. */
  council: z
    .strictObject({
      roles: z.array(z.string().min(1).max(128)).min(1).max(64).default(['planner', 'reviewer']),
      members: z.array(CouncilMemberInput).max(64).default([]),
    })
    .prefault({}),
  quorumSize: z.int().positive().optional(),
  approvalsRequired: z.int().positive().default(1),
  /** The orchestrator approves each beat's evidence itself (dev missions without human reviewers). */
  autoApprove: z.boolean().default(false),
  schedule: ScheduleInput.default(DEV_SCHEDULE),
  /** Extra ingestion sources (file:// or http(s):// URIs); the prompt's originatingSpec is always one. */
  sources: z.array(EvidenceUriSchema).max(64).default([]),
  /**
   * Which agents run: the mission's own catalogue over the default one, and the agent each beat
   * task runs (docs/agents.md). Absent: every task runs the default catalogue's `echo`.
   */
  agents: MissionAgentsInput.optional(),
  /**
   * The tasks of every beat, each naming its agent, inputs and the tasks it follows
   * (docs/agents.md#a-plan-of-tasks). Absent: `tasksPerBeat` tasks of the beat agent.
   */
  plan: MissionPlan.optional(),
  /** Agent tasks per beat (each one agentJobWorkflow child) when there is no plan. */
  tasksPerBeat: z.int().min(1).max(8).default(1),
  /** Stop after this many completed beats (0: run until cancelled). */
  maxBeats: z.int().nonnegative().default(0),
  /** Continue-as-new after this many beats in one run (history stays bounded). */
  continueAsNewEveryBeats: z.int().positive().default(25),
});
export type MissionConfigInput = z.input<typeof MissionConfigInput>;
export type MissionConfig = z.output<typeof MissionConfigInput>;

/** The config after the orchestrator key was resolved: what the workflow actually runs under. */
export interface ResolvedMissionConfig extends MissionConfig {
  orchestratorKey: string;
  /**
   * The keys that may sign this mission's owner commands (schemas/owner-controls.ts
   * `Controllers`), from its start input and pinned for its life. Undefined only for missions
   * started before signed owner commands, which accept unsigned commands as unverified.
   */
  controllers?: string[];
}

/** One reason a config cannot run, with the path of the field it is about. */
export interface ConfigProblem {
  path: (string | number)[];
  message: string;
}

const SCHEDULE_PHASES = ['PLAN', 'WORK', 'REVIEW', 'REVERB'] as const;
const SCHEDULE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const DAY_MS = 86_400_000;

/** A bar's length in whole milliseconds, as the window core computes it. */
export function scheduleBarLengthMs(schedule: { tempoBpm: number; barBeats: number }): number {
  return Math.round((schedule.barBeats * 60_000) / schedule.tempoBpm);
}

/**
 * Why a schedule cannot define windows (empty when it can). The window core
 * (workflows/statechart/window.ts `defineSchedule`) refuses exactly these, so the gateway and
 * the workflow cannot disagree about a schedule.
 */
export function scheduleProblems(schedule: ScheduleInput): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: (string | number)[], message: string) => problems.push({ path, message });
  if (!SCHEDULE_NAME.test(schedule.name))
    add(['name'], `name ${JSON.stringify(schedule.name)} must match ${SCHEDULE_NAME}`);
  if (!(schedule.tempoBpm > 0) || !Number.isFinite(schedule.tempoBpm))
    add(['tempoBpm'], 'tempoBpm must be > 0');
  if (!(schedule.barBeats > 0) || !Number.isFinite(schedule.barBeats))
    add(['barBeats'], 'barBeats must be > 0');
  let sum = 0;
  for (const phase of SCHEDULE_PHASES) {
    const f = schedule.phases[phase];
    if (!(f > 0) || !Number.isFinite(f)) add(['phases', phase], `phase ${phase} fraction must be > 0`);
    sum += f;
  }
  if (Math.abs(sum - 1) > 1e-9) add(['phases'], `phase fractions sum to ${sum}, not 1`);
  if (!(schedule.amplitude >= 0 && schedule.amplitude <= 1))
    add(['amplitude'], 'amplitude must be in [0, 1]');
  if (!(schedule.backoffBaseMs > 0)) add(['backoffBaseMs'], 'backoffBaseMs must be > 0');
  if (!(schedule.backoffMaxMs >= schedule.backoffBaseMs))
    add(['backoffMaxMs'], 'backoffMaxMs must be ≥ backoffBaseMs');
  if (problems.length === 0) {
    const bar = scheduleBarLengthMs(schedule);
    if (bar < SCHEDULE_PHASES.length) add(['barBeats'], `bar length ${bar} ms is too short`);
    if (bar > DAY_MS) add(['barBeats'], `bar length ${bar} ms exceeds a day`);
  }
  return problems;
}

/**
 * Everything that would stop a mission from running under `config` (empty when it can run).
 * `orchestratorKey`, once resolved, is left out of the approver count (a signer with the
 * orchestrator's own key is the orchestrator).
 */
export function missionConfigProblems(config: MissionConfig, orchestratorKey?: string): ConfigProblem[] {
  const problems: ConfigProblem[] = scheduleProblems(config.schedule).map((p) => ({
    path: ['schedule', ...p.path],
    message: p.message,
  }));
  const add = (path: (string | number)[], message: string) => problems.push({ path, message });
  const known = new Set<string>([...TRANSITION_CLASSES, '*']);
  const keys = new Set<string>();
  config.signers.forEach((signer, i) => {
    if (keys.has(signer.key)) add(['signers', i, 'key'], 'this key is listed twice');
    keys.add(signer.key);
    signer.classes.forEach((cls, j) => {
      if (!known.has(cls))
        add(
          ['signers', i, 'classes', j],
          `unknown transition class ${JSON.stringify(cls)}; one of ${[...known].join(', ')}`,
        );
    });
  });
  const ids = new Set<string>();
  const memberKeys = new Set<string>();
  config.council.members.forEach((member, i) => {
    if (ids.has(member.id)) add(['council', 'members', i, 'id'], 'this member id is listed twice');
    if (memberKeys.has(member.key)) add(['council', 'members', i, 'key'], 'this key is listed twice');
    ids.add(member.id);
    memberKeys.add(member.key);
  });
  // An empty council is the orchestrator alone.
  const members = Math.max(1, config.council.members.length);
  if (config.quorumSize !== undefined && config.quorumSize > members) {
    add(
      ['quorumSize'],
      `a quorum of ${config.quorumSize} can never be reached by ${members} council member(s)`,
    );
  }
  // One approval per signer per beat: the orchestrator plus every other signer that may approve.
  const approvers =
    1 +
    new Set(
      config.signers
        .filter(
          (s) => s.key !== orchestratorKey && (s.classes.includes('approval') || s.classes.includes('*')),
        )
        .map((s) => s.key),
    ).size;
  if (config.approvalsRequired > approvers) {
    add(
      ['approvalsRequired'],
      `${config.approvalsRequired} approvals can never be given by ${approvers} approver(s) (the orchestrator and signers with the approval class)`,
    );
  }
  if (config.agents !== undefined && beatAgent(config.agents) === undefined) {
    const known = Object.keys(missionCatalogue(config.agents.catalogue).agents);
    add(
      ['agents', 'beat'],
      `agent ${JSON.stringify(config.agents.beat)} is not in the catalogue; one of ${known.join(', ')}`,
    );
  }
  config.plan?.tasks.forEach((task, i) => {
    if (beatAgent({ ...config.agents, beat: task.agent }) === undefined) {
      const known = Object.keys(missionCatalogue(config.agents?.catalogue).agents);
      add(
        ['plan', 'tasks', i, 'agent'],
        `agent ${JSON.stringify(task.agent)} is not in the catalogue; one of ${known.join(', ')}`,
      );
    }
  });
  if (config.plan !== undefined && config.agents?.beat !== undefined) {
    add(
      ['agents', 'beat'],
      'a mission with a plan names the agent of each task in the plan, not a beat agent',
    );
  }
  return problems;
}

/** A config the workflow can run: the shape, plus `missionConfigProblems` (the gateway parses with this). */
export const RunnableMissionConfig = MissionConfigInput.superRefine((config, ctx) => {
  for (const problem of missionConfigProblems(config)) {
    ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  }
});
