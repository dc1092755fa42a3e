/**
 * A mission's plan of tasks (docs/agents.md#a-plan-of-tasks): what PLAN turns into each beat's
 * tasks — which agent runs each, with which inputs, and after which other tasks. The tasks form a
 * small DAG: a task starts once every task it runs `after` succeeded, and receives their outputs.
 *
 * Imported by workflow code: sandbox-safe (zod only).
 */
import { z } from 'zod';
import { AgentId } from './agent-catalogue';
import { EvidenceRef } from './agent-job';

export const PlanTaskId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a lower-case id: a letter, then letters, digits or -');

/** Where a task's `documents` come from. */
export const PlanDocuments = z.enum([
  /** None: the agent works from its other inputs (its objective when it has nothing else). */
  'none',
  /** The mission's ingested sources, as the ingestion region fetched them. */
  'sources',
  /** The previous beat's evidence (none in the first beat). */
  'previous-beat',
]);
export type PlanDocuments = z.infer<typeof PlanDocuments>;

export const PlanTask = z.strictObject({
  id: PlanTaskId,
  /** An agent of the mission's catalogue. */
  agent: AgentId,
  /** Fixed inputs merged into the agent's SWOOSH_INPUTS (e.g. a reviewer's `rules`). */
  inputs: z.record(z.string(), z.json()).default({}),
  documents: PlanDocuments.default('none'),
  /** Evidence handed to this task (e.g. by another agent), before the outputs of the tasks it follows. */
  evidence: z.array(EvidenceRef).max(8).default([]),
  /**
   * Tasks that must succeed first. Their outputs reach this task as `artifacts` (in this order),
   * the first also as `artifact`.
   */
  after: z.array(PlanTaskId).max(8).default([]),
});
export type PlanTask = z.output<typeof PlanTask>;

interface ConfigPath {
  path: (string | number)[];
  message: string;
}

/** Ids listed once, every `after` a task of the plan, and no cycle. */
function planProblems(tasks: readonly { id: string; after: readonly string[] }[]): ConfigPath[] {
  const problems: ConfigPath[] = [];
  const ids = new Set<string>();
  tasks.forEach((task, i) => {
    if (ids.has(task.id)) problems.push({ path: [i, 'id'], message: `task ${task.id} is listed twice` });
    ids.add(task.id);
  });
  tasks.forEach((task, i) => {
    task.after.forEach((dep, j) => {
      if (!ids.has(dep))
        problems.push({ path: [i, 'after', j], message: `${dep} is not a task of this plan` });
      else if (dep === task.id)
        problems.push({ path: [i, 'after', j], message: 'a task cannot follow itself' });
    });
  });
  if (problems.length === 0 && planOrder(tasks) === null)
    problems.push({ path: [], message: 'the tasks run after each other in a cycle' });
  return problems;
}

export const MissionPlan = z.strictObject({
  tasks: z
    .array(PlanTask)
    .min(1)
    .max(8)
    .superRefine((tasks, ctx) => {
      for (const p of planProblems(tasks)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
    }),
});
export type MissionPlanInput = z.input<typeof MissionPlan>;
export type MissionPlan = z.output<typeof MissionPlan>;

/**
 * The tasks in waves: every task of a wave depends only on tasks of earlier waves, so a wave's
 * tasks may run in parallel. Null when the `after` edges form a cycle.
 */
export function planOrder<T extends { id: string; after: readonly string[] }>(
  tasks: readonly T[],
): T[][] | null {
  const waves: T[][] = [];
  const done = new Set<string>();
  let left = [...tasks];
  while (left.length > 0) {
    const wave = left.filter((t) => t.after.every((d) => done.has(d)));
    if (wave.length === 0) return null;
    for (const t of wave) done.add(t.id);
    waves.push(wave);
    left = left.filter((t) => !done.has(t.id));
  }
  return waves;
}
