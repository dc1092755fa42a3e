/**
 * The I/O verdicts guards decide on (licence, tool health, policy scan), on the workflow side:
 * which ones an outside proposal needs is read from the statechart's declaration (`transitionIO`,
 * schemas/statechart.ts), never listed here, and they are fetched fresh by activities. Licence and
 * tool verdicts are held across steps; a policy verdict speaks only for the step it was scanned for.
 */
import { patched } from '@temporalio/workflow';
import type { SwooshActivities } from '../../activities';
import type { GuardIO } from '../../schemas/guard-io';
import { isTransitionName, transitionIO } from '../../schemas/statechart';
import { localIo, LOCAL_ACTIVITIES_PATCH } from './activities';
import type { MissionEngine } from './engine';

/**
 * The patch that made the policy scan on a transition's path an ordinary activity again. As a
 * local activity it ran inside the `transition` update's workflow task; when that task also
 * carried a query (the gateway reads missions by query), the SDK answered the query, completed
 * the task with the scan's result but not the handler's next commands, and delivered the result
 * in a new task. A replay applies the result in the first task, so the commands fell in different
 * tasks and the history no longer replayed (docs/chaos.md: the chaos harness found it).
 */
export const SCAN_AS_ACTIVITY_PATCH = 'swoosh-policy-scan-activity-v1';

/** The policy scan on a transition's path: local from LOCAL_ACTIVITIES_PATCH until SCAN_AS_ACTIVITY_PATCH. */
function policyScan(m: MissionEngine): ReturnType<SwooshActivities['policyScan']> {
  const calls =
    !patched(SCAN_AS_ACTIVITY_PATCH) && patched(LOCAL_ACTIVITIES_PATCH)
      ? localIo('policy scan', m.controls.latency)
      : m.ioCall('policy scan');
  return calls.policyScan({ sources: m.sources });
}

/** Whether an outside proposal of `transition` needs any verdict fetched (`fetchGuardIO`). */
export function needsGuardIO(transition: unknown): boolean {
  return (
    typeof transition === 'string' && isTransitionName(transition) && transitionIO(transition).needs.size > 0
  );
}

/**
 * The verdicts an outside proposal of `transition` needs, fetched fresh: what its guards declare,
 * one activity per verdict. Anything that is not a transition's name needs none (the protocol
 * refuses it at its schema stage).
 */
export async function fetchGuardIO(m: MissionEngine, transition: unknown): Promise<GuardIO> {
  if (typeof transition !== 'string' || !isTransitionName(transition)) return {};
  const { needs, proposalConfirmsBlock } = transitionIO(transition);
  const io: GuardIO = {};
  if (needs.has('licence')) io.licence = await m.ioCall('licence verdict').licenceVerdict();
  if (needs.has('tools')) io.tools = (await m.ioCall('probe tool servers').toolStatus()).tools;
  if (needs.has('policy')) {
    const policy = await policyScan(m);
    io.policy = proposalConfirmsBlock ? { ...policy, confirmed_block: true } : policy;
  }
  return io;
}

/**
 * The verdicts to hold after a step that used `fresh`: its licence and tool verdicts replace the
 * held ones (the validator needs them); `held` itself comes back when there is nothing to keep, so
 * an unchanged hold stays the same object.
 */
export function holdVerdicts(held: GuardIO, fresh: GuardIO | undefined): GuardIO {
  let next = held;
  if (fresh?.licence) next = { ...next, licence: fresh.licence };
  if (fresh?.tools) next = { ...next, tools: fresh.tools };
  return next;
}

/**
 * The verdicts a step is judged on: the held licence and tool verdicts, then the step's own. A
 * policy verdict is never held, so a breach cannot leak into later steps.
 */
export function verdictsFor(held: GuardIO, step?: GuardIO): GuardIO {
  return {
    ...(held.licence ? { licence: held.licence } : {}),
    ...(held.tools ? { tools: held.tools } : {}),
    ...step,
  };
}
