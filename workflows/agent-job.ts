import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { SwooshActivities } from '../activities';
import {
  AgentJobFailureType,
  type AgentJobResult,
  AgentJobSpec,
  type AgentJobSpecInput,
  agentJobName,
  type JobOwner,
} from '../schemas/agent-job';

/**
 * Runs one agent (docs/design.md#agents) as a Kubernetes Job or a local process, whichever backend the worker
 * was given, and returns its result. The run is named after this workflow, so the activity
 * retried after a worker crash follows the same run; when the workflow is cancelled it waits
 * until the activity has stopped and deleted the run (WAIT_CANCELLATION_COMPLETED), so a
 * cancelled workflow never leaves an agent behind. Whatever happens, the run is deleted last.
 *
 * Fails with ApplicationFailure `AgentJobFailed` or `AgentJobTimedOut` (details: the result)
 * when the agent did not succeed, and `InvalidAgentJobSpec` for a spec that does not validate.
 */
export async function agentJobWorkflow(input: AgentJobSpecInput): Promise<AgentJobResult> {
  const parsed = AgentJobSpec.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: AgentJobFailureType.invalidSpec,
      message: `invalid agent job spec: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      nonRetryable: true,
    });
  }
  const { timeouts } = parsed.data;
  const owner: JobOwner = { workflowId: workflowInfo().workflowId, seq: 0 };
  const jobName = agentJobName(owner);

  const { runAgentJob } = proxyActivities<SwooshActivities>({
    // The run's own deadline and grace period, plus room to be scheduled, pull an image and report.
    startToCloseTimeout: `${timeouts.activeDeadlineSeconds + timeouts.terminationGraceSeconds + 300}s`,
    heartbeatTimeout: `${timeouts.heartbeatSeconds}s`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1s',
      maximumInterval: '30s',
      nonRetryableErrorTypes: [
        AgentJobFailureType.invalidSpec,
        AgentJobFailureType.nameConflict,
        AgentJobFailureType.lost,
      ],
    },
  });
  const { deleteAgentJob } = proxyActivities<SwooshActivities>({
    startToCloseTimeout: `${timeouts.terminationGraceSeconds + 60}s`,
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
  });

  let ours = true;
  try {
    const result = await runAgentJob({ jobName, owner, spec: input });
    if (result.outcome === 'failed' || result.outcome === 'timed-out') {
      throw ApplicationFailure.create({
        type: result.outcome === 'failed' ? AgentJobFailureType.failed : AgentJobFailureType.timedOut,
        message: `agent ${parsed.data.agentId} ${result.outcome}${result.exitCode === undefined ? '' : ` with exit code ${result.exitCode}`}`,
        nonRetryable: true,
        details: [result],
      });
    }
    return result;
  } catch (error) {
    // A run by this name that belongs to another workflow is not ours to delete.
    if (
      error instanceof ActivityFailure &&
      error.cause instanceof ApplicationFailure &&
      error.cause.type === AgentJobFailureType.nameConflict
    ) {
      ours = false;
    }
    throw error;
  } finally {
    if (ours) await CancellationScope.nonCancellable(() => deleteAgentJob(jobName));
  }
}
