/**
 * BOOT and the EXECUTION loop (docs/design.md#the-statechart, docs/design.md#guards). One beat per BACKBEAT window: PLAN → WORK →
 * REVIEW → REVERB → (next window) → PLAN. Every time-gated step first sleeps until its window
 * class opens — a durable timer, so the time-skipping test server can skip days of windows — and
 * the window guard checks again when the transition is applied.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  log,
  patched,
  sleep,
} from '@temporalio/workflow';
import type { MissionPrompt } from '../../schemas/mission';
import type { AgentJobSpecInput } from '../../schemas/agent-job';
import { agentJobWorkflow } from '../agent-job';
import { currentPlanLock, isOpen, nextOpening, samePlanLock, windowAt } from '../statechart';
import { hashCanonical } from '../../schemas/hash';
import { type WindowClass } from '../../schemas/statechart';
import type { PlanLock } from '../../schemas/state-document';
import { approvalsUntil, sleepUntilWindow } from './current-details';
import type { MissionEngine } from './engine';
import { refreshLicence } from './licence-watch';
import { declaredAgentSpec } from './agent-spec';
import { COMPENSATION_PATCH, degrade, recovered } from './compensation';
import { agentFailure, currentPlan, runPlan } from './plan';
import { quarantineOnBreach } from './output-scan';

/** BOOT: LICENSE_CHECK until a valid licence verdict licenses the mission. */
export async function runBoot(m: MissionEngine): Promise<void> {
  for (let attempt = 0; !m.terminated; attempt++) {
    const phase = m.state.boot.phase;
    if (phase === 'LICENSED' || phase === 'GRACE') return;
    if (phase === 'UNINITIALIZED' || phase === 'EXPIRED') {
      await m.take('Boot_LicenseCheck', { identities: { orchestrator: m.config.orchestratorKey } });
      continue;
    }
    const licence = await m.ioCall('check the licence (KACHING)').licenceVerdict();
    if (licence.status === 'valid') {
      const r = await m.take(
        'Boot_Licensed',
        { expires_at_ms: licence.expires_at_ms, token_digest: licence.token_digest },
        { io: { licence } },
      );
      if (r.accepted) return;
    }
    await sleep(Math.min(60_000, 1_000 * 2 ** Math.min(attempt, 6)));
  }
}

/** Sleeps (durably) until `cls` is open and, for a new beat, the window is a new one. */
async function windowOpen(m: MissionEngine, cls: WindowClass, notWindow?: string | null): Promise<void> {
  const schedule = m.machine.schedule;
  for (;;) {
    await condition(() => m.forwardAllowed() || m.terminated);
    if (m.terminated) return;
    const now = Date.now();
    const w = windowAt(schedule, now);
    if (isOpen(schedule, cls, now) && (notWindow === undefined || w.id !== notWindow)) return;
    const target = isOpen(schedule, cls, now) ? w.end : nextOpening(schedule, cls, now);
    m.describe();
    await sleepUntilWindow(cls, target);
  }
}

/** What a beat's plan is locked to: the objective, the regions' versions and the plan of tasks, if any. */
function planHash(m: MissionEngine, prompt: MissionPrompt, lock: PlanLock): string {
  const plan = currentPlan(m);
  return hashCanonical(
    plan === undefined ? { objective: prompt.objective, lock } : { objective: prompt.objective, lock, plan },
  );
}

export type ExecutionEnd = 'finished' | 'continue-as-new' | 'terminated';

/**
 * The patch that re-locks a stale plan: once a region moved to a new version mid-beat (a council
 * re-certified after RECOVERY, an index rolled back), every beat step fails `plan-current` until an
 * explicit Execution_Replan, which the orchestrator now takes itself.
 */
export const REPLAN_PATCH = 'swoosh-replan-v1';

/**
 * The execution loop. Returns when the mission should continue as new (its history has grown
 * enough), when it reached `maxBeats`, or when it was terminated.
 */
export async function runExecution(
  m: MissionEngine,
  prompt: MissionPrompt,
  beatsThisRun: { n: number },
): Promise<ExecutionEnd> {
  // On the engine, so a continue-as-new between the agents and their review carries it.
  const evidence = m.evidence;
  for (;;) {
    await condition(() => m.terminated || m.forwardAllowed());
    if (m.terminated) return 'terminated';
    const exec = m.state.execution;
    if (exec.phase === 'IDLE' || exec.phase === 'PLAN') {
      const ready =
        m.state.ingestion.phase === 'READY' &&
        m.state.council.phase === 'READY' &&
        m.state.environment.phase === 'READY';
      if (!ready) {
        await condition(
          () =>
            m.terminated ||
            (m.state.ingestion.phase === 'READY' &&
              m.state.council.phase === 'READY' &&
              m.state.environment.phase === 'READY'),
        );
        continue;
      }
    }
    const lock = currentPlanLock(m.state);
    if (
      exec.phase !== 'IDLE' &&
      exec.plan_lock !== null &&
      lock !== null &&
      m.state.ingestion.phase === 'READY' &&
      m.state.council.phase === 'READY' &&
      m.state.environment.phase === 'READY' &&
      !samePlanLock(exec.plan_lock, lock) &&
      patched(REPLAN_PATCH)
    ) {
      await m.take('Execution_Replan', {
        plan_hash: planHash(m, prompt, lock),
        plan_lock: lock,
        reason: 'the regions moved to new versions: re-lock the plan',
      });
      evidence.length = 0;
      m.plan.verdict = null;
      continue;
    }
    if (exec.phase === 'IDLE') {
      if (lock === null) {
        await sleep(1000);
        continue;
      }
      await windowOpen(m, 'plan');
      await m.take('Execution_Enter', {
        plan_hash: planHash(m, prompt, lock),
        plan_lock: lock,
      });
    } else if (exec.phase === 'PLAN') {
      await refreshLicence(m);
      await windowOpen(m, 'work');
      const tasks =
        currentPlan(m)?.tasks.map((t) => t.id) ??
        Array.from({ length: m.config.tasksPerBeat }, (_, i) => `task-${exec.beat}-${i + 1}`);
      await m.take('Execution_Work', { tasks });
      evidence.length = 0;
      m.plan.verdict = null;
    } else if (exec.phase === 'WORK') {
      if (evidence.length === 0) {
        // Counted so a history-driven continue-as-new waits for them (`MissionEngine.quiet`).
        m.agentsRunning++;
        let failures: string[];
        try {
          const plan = currentPlan(m);
          if (plan === undefined) {
            const ran = await runAgents(m, prompt);
            evidence.push(...ran.evidence);
            failures = ran.failures;
          } else {
            const planned = await runPlan(m, prompt, plan);
            evidence.push(...planned.evidence);
            m.plan.verdict = planned.verdict;
            failures = planned.verdict?.failures ?? [];
          }
        } finally {
          m.agentsRunning--;
        }
        // Compensation, not failure: the failed agents' output is evidence for review, and the
        // mission says why it is degraded until a beat's agents succeed again.
        if (failures.length > 0) {
          if (patched(COMPENSATION_PATCH)) await degrade(m, failures.join('; '));
        } else await recovered(m, 'execution', `beat ${m.state.execution.beat}'s agents succeeded`);
      }
      await windowOpen(m, 'review');
      const r = await m.take('Execution_Review', {}, { evidence: [...evidence] });
      if (!r.accepted) await sleep(1000);
    } else if (exec.phase === 'REVIEW') {
      await windowOpen(m, 'review');
      const decided = exec.approvals.some((a) => a.approver === m.config.orchestratorKey);
      const verdict = m.plan.verdict;
      if (verdict !== null && !decided) {
        // A planned beat's reviewers and failures decide the orchestrator's approval (docs/agents.md#review).
        await m.take('Execution_Approve', { decision: verdict.decision }, { evidence: verdict.evidence });
      } else if (m.config.autoApprove && !decided) {
        await m.take('Execution_Approve', { decision: 'approve' });
      }
      const enough = () =>
        m.state.execution.approvals.filter((a) => a.decision === 'approve').length >=
        m.machine.approvalsRequired;
      // Approvals are collected only while the review window is open; a beat without enough
      // approvals waits for the next review window.
      const w = windowAt(m.machine.schedule, Date.now());
      m.describe();
      await approvalsUntil(
        () => enough() || m.state.execution.phase !== 'REVIEW' || m.terminated,
        w.id,
        w.phaseEnd,
      );
      if (!enough() || m.state.execution.phase !== 'REVIEW') continue;
      await windowOpen(m, 'reverb');
      if ((await m.take('Execution_Reverb', {})).accepted) {
        m.beatsCompleted++;
        beatsThisRun.n++;
      }
    } else if (exec.phase === 'REVERB') {
      if (!m.state.execution.tasks.length) log.warn('reverb without tasks');
      if (m.config.maxBeats > 0 && m.beatsCompleted >= m.config.maxBeats) {
        m.stopping = true;
        return 'finished';
      }
      if (beatsThisRun.n >= m.config.continueAsNewEveryBeats) return 'continue-as-new';
      await windowOpen(m, 'plan', m.state.execution.window_id);
      const reverbed = [...m.state.execution.evidence];
      if ((await m.take('Execution_NextWindow', {})).accepted && currentPlan(m) !== undefined)
        m.plan = { ...m.plan, verdict: null, previousBeat: reverbed };
    }
  }
}

/**
 * The patch that runs the agent the mission's config declares (docs/agents.md) instead of the
 * hard-coded echo agent; histories from before it replay the hard-coded spec.
 */
export const DECLARED_AGENTS_PATCH = 'swoosh-declared-agents-v1';

/**
 * The job spec of one task: the declared beat agent, or before DECLARED_AGENTS_PATCH the echo
 * agent as it was hard-coded. `agentDeadline` is the owner's `agent` latency budget in force now.
 */
function taskSpec(
  m: MissionEngine,
  prompt: MissionPrompt,
  task: string,
  agentDeadline: number,
): { spec: AgentJobSpecInput; summary: string } {
  const beat = m.state.execution.beat;
  const base = {
    mission: m.missionId,
    region: 'execution',
    windowId: m.state.execution.window_id ?? 'none',
    agentId: task,
    inputs: { objective: prompt.objective.slice(0, 2000), task, beat },
  };
  if (!patched(DECLARED_AGENTS_PATCH)) {
    const script = `console.log(JSON.stringify({task: process.env.SWOOSH_AGENT_ID, inputs: JSON.parse(process.env.SWOOSH_INPUTS || '{}')}))`;
    return {
      spec: {
        ...base,
        capabilityProfile: { role: 'worker', capabilities: ['summarise'] },
        image: 'node:20-alpine',
        command: ['node'],
        args: ['-e', script],
        timeouts: { activeDeadlineSeconds: agentDeadline, heartbeatSeconds: 30 },
      },
      summary: `agent ${task} for beat ${beat}`,
    };
  }
  const { spec, agent } = declaredAgentSpec(m, undefined, base, agentDeadline);
  return { spec, summary: `agent ${task} (${agent}) for beat ${beat}` };
}

/** WORK: one agentJobWorkflow child per task (ids `agent-<mission>-<beat>-<task>`), results as evidence. */
async function runAgents(
  m: MissionEngine,
  prompt: MissionPrompt,
): Promise<{ evidence: string[]; failures: string[] }> {
  const beat = m.state.execution.beat;
  const failures: string[] = [];
  const evidence = await Promise.all(
    m.state.execution.tasks.map(async (task, i) => {
      let content: string;
      let producedBy = `agent-${m.missionId}-${beat}-${i + 1}`;
      // Owner controls apply to jobs not yet started: the task queue and deadline in force now.
      const { agentTaskQueue, latency } = m.controls;
      try {
        const { spec, summary } = taskSpec(m, prompt, task, latency.agent);
        const result = await executeChild(agentJobWorkflow, {
          workflowId: `agent-${m.missionId}-${beat}-${i + 1}`,
          ...(agentTaskQueue === null ? {} : { taskQueue: agentTaskQueue }),
          args: [spec],
          staticSummary: summary,
        });
        content = result.logTail;
        producedBy = result.jobName;
      } catch (error) {
        if (CancellationScope.current().consideredCancelled) throw error;
        // A failed agent is evidence too: review decides what its failure means.
        content = `agent ${task} failed: ${error instanceof ApplicationFailure ? error.message : String(error)}`;
        failures.push(`agent ${task} failed: ${agentFailure(error)}`);
      }
      const { checksum, breaches } = await m.shortCall(`store evidence of ${task}`).storeArtifact({
        mission: m.missionId,
        uri: `swoosh://${m.missionId}/beat/${beat}/${task}`,
        content,
        producedBy,
      });
      await quarantineOnBreach(m, task, breaches);
      return `bubble://evidence/${checksum}`;
    }),
  );
  return { evidence, failures };
}
