/**
 * WORK under a plan of tasks (docs/agents.md#a-plan-of-tasks): every task of the plan runs its
 * agent as an agentJobWorkflow child once the tasks it follows succeeded, with the ingested
 * sources, the previous beat's evidence and those tasks' outputs as attachments. Each output is
 * stored as evidence; an output that is a ValidationReport is the reviewer's verdict, which the
 * orchestrator's own decision on the beat carries into REVIEW.
 */
import { CancellationScope, ChildWorkflowFailure, executeChild } from '@temporalio/workflow';
import type { EvidenceRef } from '../../schemas/agent-job';
import { beatAgent } from '../../schemas/agent-catalogue';
import { ValidationReport } from '../../schemas/evidence';
import { type MissionPlan, type PlanTask, planOrder } from '../../schemas/mission-plan';
import type { MissionPrompt } from '../../schemas/mission';
import { agentJobWorkflow } from '../agent-job';
import type { MissionEngine } from './engine';
import { declaredAgentSpec } from './agent-spec';
import { quarantineOnBreach } from './output-scan';

const EVIDENCE_PREFIX = 'bubble://evidence/';

/** The orchestrator's decision on a planned beat, taken in REVIEW. */
export interface BeatVerdict {
  decision: 'approve' | 'reject';
  /** The evidence it rests on: the reports, and the output of every task that failed. */
  evidence: string[];
  reasons: string[];
  /** The tasks that failed or could not run, each with why: what the mission degrades for. */
  failures: string[];
}

/** What a planned beat leaves for the next steps; crosses continue-as-new. */
export interface PlanProgress {
  /** The verdict of this beat's reports and failures (null before WORK finished, or with neither). */
  verdict: BeatVerdict | null;
  /** The evidence of the last beat that reached REVERB, for tasks with `documents: previous-beat`. */
  previousBeat: string[];
  /** The plan a signed Execution_Replan put in place of the config's (absent: the config's). */
  current?: MissionPlan;
}

export const emptyPlanProgress = (): PlanProgress => ({ verdict: null, previousBeat: [] });

/**
 * The agent's result in its output: the last line that is a JSON object (the example agents write
 * one; a backend may add lines of its own), else the whole output.
 */
export function agentResult(output: string): string {
  const lines = output.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    try {
      JSON.parse(line);
      return line;
    } catch {
      // Not JSON after all: keep looking.
    }
  }
  return output;
}

/** Why an agent's run failed: the child workflow's cause (the agent's exit, its deadline…), not its wrapper. */
export function agentFailure(error: unknown): string {
  const cause = error instanceof ChildWorkflowFailure && error.cause !== undefined ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/** The report in a task's result, when its agent is a reviewer (it wrote a ValidationReport). */
function reportIn(result: string): ValidationReport | undefined {
  try {
    const parsed = ValidationReport.safeParse(JSON.parse(result));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const refOf = (uri: string): EvidenceRef => ({ uri, checksum: uri.slice(EVIDENCE_PREFIX.length) });

type TaskOutcome =
  | { ok: true; evidence: string; ref: EvidenceRef; report?: ValidationReport }
  | { ok: false; evidence: string; reason: string };

/** Runs the beat's plan; returns its evidence (in plan order) and the verdict REVIEW will give. */
export async function runPlan(
  m: MissionEngine,
  prompt: MissionPrompt,
  plan: MissionPlan,
): Promise<{ evidence: string[]; verdict: BeatVerdict | null }> {
  const beat = m.state.execution.beat;
  const outcomes = new Map<string, Promise<TaskOutcome>>();
  const documents = (task: PlanTask): EvidenceRef[] => {
    if (task.documents === 'sources') return m.sources.map((s) => ({ uri: s.uri, checksum: s.checksum }));
    if (task.documents === 'previous-beat') return m.plan.previousBeat.map(refOf);
    return [];
  };
  const run = async (task: PlanTask): Promise<TaskOutcome> => {
    const before = await Promise.all(task.after.map((id) => outcomes.get(id)!));
    const uri = `swoosh://${m.missionId}/beat/${beat}/${task.id}`;
    const failedBefore = task.after.filter((_, i) => !before[i]!.ok);
    let content: string;
    let producedBy = `agent-${m.missionId}-${beat}-${task.id}`;
    let failure: string | undefined;
    if (failedBefore.length > 0) {
      failure = `task ${task.id} did not run: ${failedBefore.join(', ')} failed`;
      content = failure;
    } else {
      const artifacts = [...task.evidence, ...before.flatMap((o) => (o.ok ? [o.ref] : []))];
      try {
        const result = await executeChild(agentJobWorkflow, {
          workflowId: producedBy,
          ...(m.controls.agentTaskQueue === null ? {} : { taskQueue: m.controls.agentTaskQueue }),
          args: [taskSpec(m, prompt, task, { documents: documents(task), artifacts })],
          staticSummary: `task ${task.id} (${task.agent}) for beat ${beat}`,
        });
        content = agentResult(result.logTail);
        producedBy = result.jobName;
      } catch (error) {
        if (CancellationScope.current().consideredCancelled) throw error;
        failure = `task ${task.id} (${task.agent}) failed: ${agentFailure(error)}`;
        content = failure;
      }
    }
    const { checksum, breaches } = await m.shortCall(`store evidence of ${task.id}`).storeArtifact({
      mission: m.missionId,
      uri,
      content,
      producedBy,
    });
    await quarantineOnBreach(m, task.id, breaches);
    const evidence = `${EVIDENCE_PREFIX}${checksum}`;
    if (failure !== undefined) return { ok: false, evidence, reason: failure };
    const report = reportIn(content);
    return { ok: true, evidence, ref: { uri, checksum }, ...(report && { report }) };
  };
  // Started in dependency order, so every task it follows is already there to wait for (the
  // config check refused cycles); each then waits only for those.
  for (const task of (planOrder(plan.tasks) ?? []).flat()) outcomes.set(task.id, run(task));
  const done = await Promise.all(plan.tasks.map((t) => outcomes.get(t.id)!));
  return { evidence: done.map((o) => o.evidence), verdict: verdictOf(plan.tasks, done) };
}

/**
 * Reject when a task failed or a report failed; approve when every report passed; no verdict (the
 * mission's approvals decide alone) when the plan has no reviewer.
 */
function verdictOf(tasks: readonly PlanTask[], done: readonly TaskOutcome[]): BeatVerdict | null {
  const reasons: string[] = [];
  const evidence: string[] = [];
  const failures: string[] = [];
  done.forEach((o, i) => {
    if (!o.ok) {
      failures.push(o.reason);
      evidence.push(o.evidence);
    } else if (o.report) {
      evidence.push(o.evidence);
      if (o.report.result === 'fail') {
        const failed = o.report.findings.filter((f) => !f.ok).map((f) => f.id);
        reasons.push(`task ${tasks[i]!.id}: the review failed (${failed.join(', ')})`);
      }
    }
  });
  if (evidence.length === 0) return null;
  const ok = reasons.length === 0 && failures.length === 0;
  return { decision: ok ? 'approve' : 'reject', evidence, reasons: [...failures, ...reasons], failures };
}

/** The job spec of one planned task: its declared agent, its fixed inputs and its attachments. */
function taskSpec(
  m: MissionEngine,
  prompt: MissionPrompt,
  task: PlanTask,
  attachments: { documents: EvidenceRef[]; artifacts: EvidenceRef[] },
) {
  const beat = m.state.execution.beat;
  const part = {
    mission: m.missionId,
    region: 'execution',
    windowId: m.state.execution.window_id ?? 'none',
    agentId: task.id,
    inputs: { ...task.inputs, objective: prompt.objective.slice(0, 2000), task: task.id, beat },
    ...((attachments.documents.length > 0 || attachments.artifacts.length > 0) && { attachments }),
  };
  return declaredAgentSpec(m, task.agent, part, m.controls.latency.agent).spec;
}

/** The plan the mission's beats run now: the last one a signed Execution_Replan set, else the config's. */
export function currentPlan(m: MissionEngine): MissionPlan | undefined {
  return m.plan.current ?? m.config.plan;
}

/**
 * Agents a new plan names that the mission's catalogue does not declare (checked before a plan
 * change is accepted, as the config check does for the first plan).
 */
export function undeclaredAgents(m: MissionEngine, plan: MissionPlan): string[] {
  return plan.tasks
    .filter((t) => beatAgent({ ...m.config.agents, beat: t.agent }) === undefined)
    .map((t) => `task ${t.id}: agent ${t.agent} is not in the catalogue`);
}
