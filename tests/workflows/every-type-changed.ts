import { sleep } from '@temporalio/workflow';
import * as current from '../../workflows/index';

/**
 * Every registered workflow type with the same unversioned change: a timer before anything else.
 * Each recorded history, whatever its type, must fail replay against this bundle; that proves the
 * fixture of every type bites, not only the mission's.
 */
function changed<A extends unknown[], R>(workflow: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    await sleep('1 second');
    return workflow(...args);
  };
}

export const missionWorkflow = changed(current.missionWorkflow);
export const agentJobWorkflow = changed(current.agentJobWorkflow);
export const jobReaperWorkflow = changed(current.jobReaperWorkflow);
export const timerShardWorkflow = changed(current.timerShardWorkflow);
export const agentReportWorkflow = changed(current.agentReportWorkflow);
export const controlWorkflow = changed(current.controlWorkflow);
