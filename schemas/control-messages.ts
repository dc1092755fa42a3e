/**
 * The deployment's control workflow (workflows/control.ts): one per task queue, it keeps the halt
 * that pause-all sets and resume-all lifts, so the halt outlives any gateway and holds for
 * missions started after it. Names and argument types live here, like schemas/mission-messages.ts.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { HaltState, SignedOwnerCommand } from './owner-controls';

/** The control workflow of the deployment that serves `taskQueue`. */
export function controlWorkflowId(taskQueue: string): string {
  return `swoosh-control-${taskQueue}`;
}

export const CONTROL_WORKFLOW_TYPE = 'controlWorkflow';

/** The memo key under which the control workflow keeps its `HaltState`. */
export const HALT_MEMO = 'halt';

export const haltQuery = defineQuery<HaltState>('halt');

/** Sets the halt to a signed broadcast pause (a later pause-all replaces it). */
export const setHaltUpdate = defineUpdate<HaltState, [pause: SignedOwnerCommand]>('setHalt');

/** Lifts the halt with a signed broadcast resume, kept as `lifted`. */
export const liftHaltUpdate = defineUpdate<HaltState, [resume: SignedOwnerCommand]>('liftHalt');
