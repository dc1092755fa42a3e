/**
 * What a run exports to the decision ledger (docs/design.md#the-decision-ledger, docs/design.md#interfaces): AgentLifecycleEvents and one
 * agent-deployment entry with its execution time and outcome. The records are built here from a
 * run's status alone, so the activity that followed the run and the reaper that found it later
 * export identical records, and every timestamp comes from the run (not from "now"), which keeps
 * a re-export byte-identical for the ledger's idempotent append.
 */
import type { JobBackend } from '../../schemas/agent-job';
import type { AgentDeploymentEntry } from '../../schemas/decision-record';
import type { AgentLifecycleEvent } from '../../schemas/evidence';
import type { JobFinish, JobStatus } from './runner';

export type JobTelemetry =
  { kind: 'lifecycle'; event: AgentLifecycleEvent } | { kind: 'deployment'; entry: AgentDeploymentEntry };

/**
 * Where telemetry goes; the worker wires it to the decision ledger. Delivery is at least once
 * (an activity retried after a crash exports again), so a sink must treat a record with the key
 * of one it already holds (`telemetryKey`) as a repeat of it.
 */
export interface JobTelemetrySink {
  record(item: JobTelemetry): Promise<void>;
}

/** Identity of a telemetry record: lifecycle events per run and event, deployments per owner. */
export function telemetryKey(item: JobTelemetry): string {
  return item.kind === 'lifecycle'
    ? `lifecycle:${item.event.jobId}:${item.event.lifecycle}`
    : `deployment:${item.entry.workflow_id}:${item.entry.seq}`;
}

function lifecycle(
  status: JobStatus,
  event: AgentLifecycleEvent['lifecycle'],
  at: string,
  reason?: string,
): JobTelemetry {
  const { meta } = status;
  return {
    kind: 'lifecycle',
    event: {
      agentId: meta.agentId,
      missionId: meta.mission,
      lifecycle: event,
      capabilityProfile: meta.capabilityProfile,
      energyBudget: meta.energyBudget,
      timestamp: at,
      jobId: status.name,
      ...(reason === undefined ? {} : { reason }),
    },
  };
}

export function spawnedTelemetry(status: JobStatus): JobTelemetry {
  return lifecycle(status, 'spawned', status.createdAt);
}

function describe(finish: JobFinish): string {
  const parts: string[] = [finish.outcome];
  if (finish.exitCode !== undefined) parts.push(`exit code ${finish.exitCode}`);
  if (finish.reason) parts.push(finish.reason);
  return parts.join(', ');
}

/**
 * The records of a finished run, in order: `escalated` when the agent failed or ran out of time
 * (its work goes back to the orchestrator to decide on), then `retired`, then the deployment.
 */
export function finishedTelemetry(status: JobStatus, finish: JobFinish, backend: JobBackend): JobTelemetry[] {
  const { meta } = status;
  const startedAt = status.startedAt ?? status.createdAt;
  // A clock step between start and finish must not produce a record the ledger refuses.
  const finishedAt = Date.parse(finish.finishedAt) >= Date.parse(startedAt) ? finish.finishedAt : startedAt;
  const reason = describe(finish);
  const records: JobTelemetry[] = [];
  if (finish.outcome === 'failed' || finish.outcome === 'timed-out') {
    records.push(lifecycle(status, 'escalated', finishedAt, reason));
  }
  records.push(lifecycle(status, 'retired', finishedAt, reason));
  records.push({
    kind: 'deployment',
    entry: {
      mission: meta.mission,
      workflow_id: meta.owner.workflowId,
      seq: meta.owner.seq,
      job_id: status.name,
      runner: backend === 'kubernetes' ? 'kubernetes' : 'local',
      region: meta.region,
      window_id: meta.windowId,
      role: meta.capabilityProfile.role,
      started_at: startedAt,
      finished_at: finishedAt,
      outcome: finish.outcome,
      ...(finish.exitCode === undefined ? {} : { exit_code: finish.exitCode }),
    },
  });
  return records;
}
